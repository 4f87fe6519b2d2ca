"""``varsel share`` and ``varsel fetch``: move STIX bundles into and out of a hub.

Both work on the local database (acting as a named user, through the same policy as the
server) or on a remote hub over TAXII 2.1 (``--url`` of the API root, with a token).
"""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import json
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from varsel.errors import InvalidInput, VarselError

if TYPE_CHECKING:
    import httpx
    from rich.progress import Progress, TaskID

err = Console(stderr=True)
TAXII = "application/taxii+json;version=2.1"

UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="API root of a remote hub, e.g. https://hub.example/taxii2/hub/."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="VARSEL_TOKEN", help="Bearer token for --url (or set VARSEL_TOKEN)."
    ),
]
AsOpt = Annotated[
    str | None, typer.Option("--as", help="Act as this local user (required without --url).")
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url", envvar="VARSEL_DATABASE_URL", help="SQLAlchemy URL of the hub's database."
    ),
]


def _progress() -> "Progress":
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _batches(items: list[tuple[str, Any]], size: int) -> Iterator[list[tuple[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _local_principal(session: Any, username: str | None) -> Any:
    from varsel.orgs import service as orgs

    if not username:
        raise InvalidInput("say which local user acts with --as USERNAME (or use --url)")
    from varsel.policy.principal import principal_of

    return principal_of(orgs.get_user(session=session, username=username))


def _remote_client(url: str, token: str | None) -> "httpx.Client":
    import httpx

    if not token:
        raise InvalidInput("a remote hub needs --token (or VARSEL_TOKEN)")
    return httpx.Client(
        base_url=url.rstrip("/") + "/",
        timeout=120.0,
        headers={"Authorization": f"Bearer {token}", "Accept": TAXII},
    )


def _remote_error(response: "httpx.Response") -> InvalidInput:
    try:
        body = response.json()
        detail = body.get("description") or body.get("detail") or response.text
    except ValueError:
        detail = response.text
    return InvalidInput(f"the hub answered {response.status_code}: {detail}")


def share(
    file: Annotated[
        Path, typer.Argument(help="A STIX 2.1 bundle (JSON); '-' reads stdin.", allow_dash=True)
    ],
    collection: Annotated[str, typer.Option(help="Collection id, alias or title.")],
    as_user: AsOpt = None,
    recipient: Annotated[
        list[str] | None,
        typer.Option(
            help="A recipient of TLP:RED (and TLP:AMBER+STRICT) objects: an organisation name "
            "or user:USERNAME, NAME@HUB at a peer hub; repeat."
        ),
    ] = None,
    batch: Annotated[int, typer.Option(help="Objects per envelope.", min=1, max=10000)] = 500,
    url: UrlOpt = None,
    token: TokenOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Share a STIX bundle into a collection, with a progress bar and a summary of rejections."""
    from varsel.sharing.envelope import Envelope, split

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]error:[/] cannot read {file}: {exc}")
        raise typer.Exit(1) from None
    try:
        bundle = split(text)
    except VarselError as exc:
        err.print(f"[red]error:[/] {file}: {exc.message}")
        raise typer.Exit(1) from None
    items = bundle.objects
    accepted = 0
    rejected: list[tuple[str, str]] = []

    def tally(successes: list[dict[str, Any]], failures: list[dict[str, Any]]) -> None:
        nonlocal accepted
        accepted += len(successes)
        rejected.extend((f.get("id") or "(no id)", f.get("message", "")) for f in failures)

    with _progress() as progress:
        task = progress.add_task(f"sharing {file.name}", total=len(items))
        if url:
            with _remote_client(url, token) as client:
                coll = collection
                for chunk in _batches(items, batch):
                    head = {"x_varsel_recipients": recipient} if recipient else {}
                    body = (
                        json.dumps(head)[:-1]
                        + (", " if head else "")
                        + '"objects": ['
                        + ", ".join(raw for raw, _ in chunk)
                        + "]}"
                    )
                    response = client.post(
                        f"collections/{coll}/objects/",
                        content=body,
                        headers={"Content-Type": TAXII},
                    )
                    if response.status_code != 202:
                        err.print(f"[red]error:[/] {_remote_error(response).message}")
                        raise typer.Exit(1)
                    status = response.json()
                    tally(status.get("successes", []), status.get("failures", []))
                    progress.advance(task, len(chunk))
        else:
            from varsel.console import unit_of_work
            from varsel.sharing import ingest as ingesting
            from varsel.sharing import service as sharing

            with unit_of_work(database_url) as session:
                principal = _local_principal(session, as_user)
                coll_row = sharing.find_collection(
                    session=session, principal=principal, ref=collection
                )
                for chunk in _batches(items, batch):
                    result = ingesting.ingest(
                        session=session,
                        collection=coll_row,
                        principal=principal,
                        body=Envelope(properties=dict(bundle.properties), objects=chunk),
                        recipients=recipient,
                    )
                    # One envelope, one transaction, as over TAXII.
                    session.commit()
                    tally(
                        [o.as_taxii() for o in result.successes],
                        [o.as_taxii() for o in result.failures],
                    )
                    progress.advance(task, len(chunk))
    err.print(f"accepted {accepted} of {len(items)} objects")
    if rejected:
        from rich.table import Table

        table = Table("id", "reason", title=f"{len(rejected)} rejected")
        for oid, reason in rejected[:50]:
            table.add_row(oid, reason)
        err.print(table)
        if len(rejected) > 50:
            err.print(f"… and {len(rejected) - 50} more")
        raise typer.Exit(3)


def fetch(
    collection: Annotated[str, typer.Argument(help="Collection id, alias or title.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Bundle file to write (default: stdout).")
    ] = None,
    added_after: Annotated[
        str | None, typer.Option(help="Only objects added after this RFC 3339 time.")
    ] = None,
    type_: Annotated[list[str] | None, typer.Option("--type", help="Only this STIX type.")] = None,
    all_versions: Annotated[bool, typer.Option(help="Every version, not just the last.")] = False,
    as_user: AsOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Fetch a collection (or what was added since a time) into a STIX bundle."""
    raws: list[str] = []
    with _progress() as progress:
        task = progress.add_task(f"fetching {collection}", total=None)
        if url:
            params: dict[str, Any] = {"limit": 1000}
            if added_after:
                params["added_after"] = added_after
            if type_:
                params["match[type]"] = ",".join(type_)
            if all_versions:
                params["match[version]"] = "all"
            with _remote_client(url, token) as client:
                for page in _remote_pages(client, collection, params):
                    raws.extend(json.dumps(o, ensure_ascii=False) for o in page)
                    progress.update(task, completed=len(raws))
        else:
            _local_fetch(
                database_url,
                as_user,
                collection,
                added_after,
                type_,
                all_versions,
                lambda rows: _collect(raws, rows, progress, task),
            )
    bundle = (
        '{"type": "bundle", "id": "bundle--'
        + str(uuid.uuid4())
        + '", "objects": ['
        + ", ".join(raws)
        + "]}\n"
    )
    if output is None:
        sys.stdout.write(bundle)
    else:
        output.write_text(bundle, encoding="utf-8")
        err.print(f"wrote {len(raws)} objects to {output}")


def _collect(raws: list[str], rows: list[str], progress: "Progress", task: "TaskID") -> None:
    raws.extend(rows)
    progress.update(task, completed=len(raws))


def _remote_pages(
    client: "httpx.Client", collection: str, params: dict[str, Any]
) -> Iterator[list[dict[str, Any]]]:
    while True:
        response = client.get(f"collections/{collection}/objects/", params=params)
        if response.status_code != 200:
            raise _remote_error(response)
        body = response.json()
        yield body.get("objects", [])
        if not body.get("more") or not body.get("next"):
            return
        params = {**params, "next": body["next"]}


def _local_fetch(
    database_url: str | None,
    as_user: str | None,
    collection: str,
    added_after: str | None,
    types: list[str] | None,
    all_versions: bool,
    sink: Callable[[list[str]], object],
) -> None:
    from varsel.clock import datetime_to_us
    from varsel.console import settings_for, unit_of_work
    from varsel.sharing import query as querying
    from varsel.sharing import service as sharing
    from varsel.sharing.validation import InvalidStixObject, parse_timestamp

    after_us = None
    if added_after:
        try:
            after_us = datetime_to_us(parse_timestamp(added_after))
        except InvalidStixObject:
            raise InvalidInput(
                f"--added-after must be an RFC 3339 timestamp, got {added_after!r}"
            ) from None
    key = settings_for(database_url).secret_key
    with unit_of_work(database_url) as session:
        principal = _local_principal(session, as_user)
        coll = sharing.find_collection(session=session, principal=principal, ref=collection)
        filters = querying.Filters(
            types=tuple(types or ()),
            versions=("all",) if all_versions else ("last",),
            added_after_us=after_us,
        )
        cursor = None
        while True:
            page = querying.page(
                session=session,
                collection_id=coll.id,
                principal=principal,
                filters=filters,
                limit=1000,
                next_cursor=cursor,
                secret_key=key,
            )
            sink([r.raw for r in page.rows])
            if not page.more:
                return
            cursor = page.next


def register(app: typer.Typer) -> None:
    """Add ``share`` and ``fetch`` to the command line."""
    app.command("share")(share)
    app.command("fetch")(fetch)
