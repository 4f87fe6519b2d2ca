"""``varsel misp import``: MISP event files, feed directories and archives into a collection."""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from rich.progress import Progress

    from varsel.misp.flows.importing import Item
    from varsel.misp.flows.writing import EventOutcome

err = Console(stderr=True)

_EPILOG = """\
Examples:

  varsel misp import event.json --collection misp --as alice

  varsel misp import feed/ circl-osint.zip --collection misp --as alice

  varsel misp import export.json.gz --collection misp --url https://hub.example --token $TOKEN

Each event is shared as a whole or not at all; attributes the hub refuses (a warning list, a
recipient it does not know) are left out of the event and named. At the end every event and
attribute not converted or refused is listed with its reason; the exit status is 1 when
anything was refused (an item that is no event, an event, or an attribute).
"""


def _progress() -> "Progress":
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} events · {task.fields[attributes]:,} attributes"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def import_(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help='MISP event JSON files ({"Event": …}, a list of them or {"response": […]}), '
            "feed directories (manifest.json, hashes.csv, <uuid>.json), or .gz, .tar.gz or "
            ".zip archives of either.",
            show_default=False,
        ),
    ],
    collection: Annotated[
        str, typer.Option(help="Collection id, alias or title to share into.", show_default=False)
    ],
    as_user: Annotated[
        str | None, typer.Option("--as", help="Share locally as this user (or use --url).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Base URL of a remote hub (its /misp/events/add is used)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="VARSEL_TOKEN", help="API token for --url (or set VARSEL_TOKEN)."),
    ] = None,
    max_file_size: Annotated[
        int,
        typer.Option(
            help="Largest event file or archive member read, in bytes (decompressed).", min=1
        ),
    ] = 256 * 1024 * 1024,
    workers: Annotated[
        int,
        typer.Option(
            help="Processes that convert events ahead of storing them (with --as).",
            min=1,
            max=64,
        ),
    ] = 1,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", envvar="VARSEL_DATABASE_URL", help="SQLAlchemy URL of the database."
        ),
    ] = None,
) -> None:
    """Import MISP events into a collection, with a progress bar and a report of every loss."""
    from varsel.misp.flows import importing

    if bool(as_user) == bool(url):
        err.print("[red]error:[/] say either --as USER (share locally) or --url URL --token TOKEN")
        raise typer.Exit(2)
    if url and not token:
        err.print("[red]error:[/] --url needs --token (or VARSEL_TOKEN)")
        raise typer.Exit(2)
    items = importing.read_events(paths, max_bytes=max_file_size)
    outcomes: list[tuple[Item, EventOutcome]] = []
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("importing", total=None, attributes=0)
        attributes = 0

        def seen(item: "Item", outcome: "EventOutcome") -> None:
            nonlocal attributes
            attributes += outcome.attributes
            outcomes.append((item, outcome))
            progress.update(task, advance=1, attributes=attributes)

        if url:
            _post_all(items, url=url, token=token or "", collection=collection, seen=seen)
        else:
            _share_all(
                items,
                as_user or "",
                collection,
                database_url,
                seen,
                workers,
            )
        progress.update(task, total=len(outcomes), completed=len(outcomes))
    elapsed = time.perf_counter() - started
    if not _report(outcomes, elapsed):
        raise typer.Exit(1)


def _share_all(
    items: "Iterable[Item]",
    as_user: str,
    collection: str,
    database_url: str | None,
    seen: "Callable[[Item, EventOutcome], None]",
    workers: int,
) -> None:
    from varsel.console import unit_of_work
    from varsel.misp.flows import importing
    from varsel.orgs import service as orgs
    from varsel.policy.principal import principal_of
    from varsel.sharing import service as sharing

    with unit_of_work(database_url) as session:
        principal = principal_of(orgs.get_user(session=session, username=as_user))
        row = sharing.find_collection(session=session, principal=principal, ref=collection)
        importing.share_items(
            session=session,
            principal=principal,
            collection=row,
            items=items,
            on_outcome=seen,
            workers=workers,
        )


def _post_all(
    items: "Iterable[Item]",
    *,
    url: str,
    token: str,
    collection: str,
    seen: "Callable[[Item, EventOutcome], None]",
) -> None:
    import httpx

    from varsel.misp.flows import importing

    # MISP's clients send their key as the bare Authorization header; the hub takes it there.
    with httpx.Client(timeout=300.0, headers={"Authorization": token}) as client:
        for item in items:
            outcome = (
                importing.post_event(client, base_url=url, collection=collection, item=item)
                if item.event is not None
                else importing.unreadable(item)
            )
            seen(item, outcome)


def _report(outcomes: "list[tuple[Item, EventOutcome]]", elapsed: float) -> bool:
    """Print the summary and every item not stored as sent; return whether nothing was refused."""
    from varsel.misp.flows.writing import NoteKind, Status

    counts = dict.fromkeys(Status, 0)
    attributes = 0
    for _, outcome in outcomes:
        counts[outcome.status] += 1
        attributes += outcome.attributes
    rate = attributes / elapsed if elapsed > 0 else 0.0
    err.print(
        f"{len(outcomes):,} events: {counts[Status.NEW]:,} new, {counts[Status.VERSION]:,} new "
        f"versions, {counts[Status.UNCHANGED]:,} unchanged, {counts[Status.REFUSED]:,} refused; "
        f"{attributes:,} attributes in {elapsed:.1f} s ({rate:,.0f} attributes/s)"
    )
    refused = False
    for item, outcome in outcomes:
        event = f"event {outcome.uuid}" + (f" ({outcome.info})" if outcome.info else "")
        if outcome.status is Status.REFUSED:
            refused = True
        if outcome.status in (Status.REFUSED, Status.UNCHANGED):
            _line(f"{outcome.status.value}: {item.source}: {event}: {outcome.reason or ''}")
        for note in outcome.notes:
            refused = refused or note.kind is NoteKind.REFUSED
            what = f"item {note.item} ({note.what})" if note.item else note.what
            _line(f"{note.kind.value}: {item.source}: {event}: {what}: {note.reason}")
    return not refused


def _line(text: str) -> None:
    # One line per item, never wrapped or styled (names and reasons come from the files), so
    # that the report can be searched and counted line by line.
    err.print(text, markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``varsel misp``."""
    app.command("import", epilog=_EPILOG)(import_)
