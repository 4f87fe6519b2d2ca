"""Typer application and the set-up and administration commands."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from varsel.config import Settings, default_data_dir
from varsel.db import make_engine, make_sessionmaker
from varsel.errors import VarselError

app = typer.Typer(
    help="Varsel: a Nordic cyber-resilience hub (STIX 2.1, TAXII 2.1, TLP 2.0).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
org_app = typer.Typer(help="Organisations and their client relations.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
community_app = typer.Typer(help="Communities (sharing groups).", no_args_is_help=True)
collection_app = typer.Typer(help="TAXII collections.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(community_app, name="community")
app.add_typer(collection_app, name="collection")
app.add_typer(audit_app, name="audit")

out = Console()
err = Console(stderr=True)
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="VARSEL_DATABASE_URL",
        help="SQLAlchemy URL of the hub's database (default: SQLite under ./data).",
    ),
]


def settings_for(database_url: str | None) -> Settings:
    """Return settings with the CLI's database URL applied."""
    return Settings().with_(database_url=database_url)


@contextmanager
def unit_of_work(database_url: str | None) -> Iterator[Session]:
    """Yield a session for one command; commit on success, print domain errors and exit 1."""
    settings = settings_for(database_url)
    engine = make_engine(settings.database_url)
    if not inspect(engine).has_table("organisations"):
        err.print("[red]error:[/] the database has no hub yet; run [bold]varsel init[/] first")
        raise typer.Exit(1)
    session = make_sessionmaker(engine)()
    try:
        yield session
        session.commit()
    except VarselError as exc:
        session.rollback()
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        session.close()
        engine.dispose()


@app.command()
def init(database_url: DatabaseOpt = None) -> None:
    """Create or upgrade the hub's database schema."""
    from varsel import migrate

    settings = settings_for(database_url)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    engine.dispose()
    out.print(f"hub database ready at {engine.url.render_as_string(hide_password=True)}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    database_url: DatabaseOpt = None,
) -> None:
    """Serve the TAXII 2.1 server, REST API and web pages."""
    import uvicorn

    settings = settings_for(database_url).with_(host=host, port=port)
    # Workers are separate processes: hand them the settings through the environment.
    os.environ["VARSEL_DATABASE_URL"] = settings.database_url
    os.environ["VARSEL_SECRET_KEY"] = settings.secret_key
    out.print(
        f"Varsel hub on http://{settings.host}:{settings.port}/  "
        f"(TAXII discovery: /taxii2/, API docs: /api/docs)"
    )
    uvicorn.run(
        "varsel.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


@app.command()
def demo(
    database_url: DatabaseOpt = None,
    password: Annotated[
        str | None,
        typer.Option(
            envvar="VARSEL_DEMO_PASSWORD",
            help="Password for every demo user (default: a new random one, printed once).",
        ),
    ] = None,
) -> None:
    """Seed a realistic demonstration hub (NO, SE, DK, FI and a US partner)."""
    from rich.progress import Progress

    from varsel import demo as demo_data
    from varsel.orgs.models import Organisation

    password = password or secrets.token_urlsafe(12)
    with unit_of_work(database_url) as session:
        if session.query(Organisation).first() is not None:
            err.print(
                "[red]error:[/] the hub already has organisations; demo data goes into an empty hub"
            )
            raise typer.Exit(1)
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("sharing demo objects", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            summary = demo_data.seed(session=session, password=password, progress=step)
    creds = default_data_dir() / "demo-credentials.txt"
    creds.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"password={password}\n")
        for username, org, role in demo_data.USERS:
            handle.write(f"{username}\t{org}\t{role}\n")
    table = Table(title="Demo users (password below, also in " + str(creds) + ")")
    for column in ("username", "organisation", "role"):
        table.add_column(column)
    for username, org, role in demo_data.USERS:
        table.add_row(username, org, role)
    out.print(table)
    out.print(f"password for every demo user: [bold]{password}[/]")
    out.print(
        f"{summary.organisations} organisations, {summary.communities} communities, "
        f"{summary.collections} collections, {summary.objects} objects"
    )


# Organisations --------------------------------------------------------------------------


@org_app.command("add")
def org_add(
    name: str,
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code, e.g. NO.")],
    kind: Annotated[
        str, typer.Option(help="company, authority, csirt, defence or international-partner.")
    ],
    sector: Annotated[str | None, typer.Option(help="NIS2 sector.")] = None,
    subsector: Annotated[str | None, typer.Option(help="NIS2 subsector.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Add an organisation."""
    from varsel.orgs import service

    with unit_of_work(database_url) as session:
        org = service.add_org(
            session=session,
            name=name,
            country=country,
            kind=kind,
            sector=sector,
            subsector=subsector,
        )
    out.print(f"organisation {org.name!r} ({org.country}, {org.kind}) added")


@org_app.command("list")
def org_list(database_url: DatabaseOpt = None) -> None:
    """List organisations."""
    from varsel.orgs import service

    with unit_of_work(database_url) as session:
        table = Table("name", "country", "kind", "sector")
        for org in service.list_orgs(session=session):
            table.add_row(org.name, org.country, org.kind, org.sector or "")
    out.print(table)


@org_app.command("client")
def org_client(
    provider: str,
    client: str,
    remove: Annotated[bool, typer.Option(help="Remove the relation instead.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Register CLIENT as a client of PROVIDER (who may then re-share TLP:AMBER to it)."""
    from varsel.orgs import service

    with unit_of_work(database_url) as session:
        if remove:
            service.remove_client(session=session, provider=provider, client=client)
        else:
            service.add_client(session=session, provider=provider, client=client)
    out.print(f"{client!r} is {'no longer' if remove else 'now'} a client of {provider!r}")


# Users and tokens -----------------------------------------------------------------------


def _read_password() -> str:
    if sys.stdin.isatty():
        first = typer.prompt("Password", hide_input=True)
        second = typer.prompt("Repeat password", hide_input=True)
        if first != second:
            err.print("[red]error:[/] the passwords differ")
            raise typer.Exit(1)
        return str(first)
    return sys.stdin.readline().rstrip("\r\n")


@user_app.command("add")
def user_add(
    username: str,
    org: Annotated[str, typer.Option(help="The user's organisation.")],
    role: Annotated[str, typer.Option(help="analyst, org-admin or hub-admin.")] = "analyst",
    database_url: DatabaseOpt = None,
) -> None:
    """Add a user; the password is read from stdin (or prompted for on a terminal)."""
    from varsel.orgs import service

    password = _read_password()
    with unit_of_work(database_url) as session:
        service.add_user(session=session, username=username, org=org, role=role, password=password)
    err.print(f"user {username!r} added to {org!r} as {role}")


@token_app.command("create")
def token_create(
    username: str,
    name: Annotated[str, typer.Option(help="A label for the token.")] = "cli",
    expires_days: Annotated[
        int | None, typer.Option(help="Days until the token expires (default: never).", min=1)
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create an API token for USERNAME and print only the token on stdout."""
    from varsel.orgs import service

    expires = (
        datetime.now(UTC).replace(tzinfo=None) + timedelta(days=expires_days)
        if expires_days
        else None
    )
    with unit_of_work(database_url) as session:
        _, token = service.create_token(
            session=session, username=username, name=name, expires_at=expires
        )
    typer.echo(token)


@token_app.command("list")
def token_list(username: str, database_url: DatabaseOpt = None) -> None:
    """List a user's tokens (never the tokens themselves)."""
    from varsel.orgs import service

    with unit_of_work(database_url) as session:
        table = Table("id", "name", "prefix", "created", "expires", "revoked", "last used")
        for row in service.list_tokens(session=session, username=username):
            table.add_row(
                str(row.id),
                row.name,
                f"vs_{row.prefix}…",
                str(row.created_at)[:19],
                str(row.expires_at or "")[:19],
                str(row.revoked_at or "")[:19],
                str(row.last_used_at or "")[:19],
            )
    out.print(table)


@token_app.command("revoke")
def token_revoke(token_id: int, database_url: DatabaseOpt = None) -> None:
    """Revoke a token by its id."""
    from varsel.orgs import service

    with unit_of_work(database_url) as session:
        service.revoke_token(session=session, token_id=token_id)
    out.print(f"token {token_id} revoked")


# Communities and collections ------------------------------------------------------------


@community_app.command("add")
def community_add(
    name: str,
    member: Annotated[
        list[str] | None, typer.Option(help="A member organisation (repeat).")
    ] = None,
    description: str = "",
    database_url: DatabaseOpt = None,
) -> None:
    """Create a community with its member organisations."""
    from varsel.orgs import service

    with unit_of_work(database_url) as session:
        service.add_community(
            session=session, name=name, members=member or [], description=description
        )
    out.print(f"community {name!r} added with {len(member or [])} members")


@community_app.command("member")
def community_member(
    name: str,
    org: str,
    remove: Annotated[bool, typer.Option(help="Remove the member instead.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Add ORG to community NAME (or remove it); takes effect at once."""
    from varsel.orgs import service

    with unit_of_work(database_url) as session:
        if remove:
            service.remove_member(session=session, community=name, org=org)
        else:
            service.add_member(session=session, community=name, org=org)
    out.print(f"{org!r} {'removed from' if remove else 'added to'} {name!r}")


@collection_app.command("add")
def collection_add(
    title: str,
    community: Annotated[str, typer.Option(help="The owning community.")],
    default_tlp: Annotated[
        str, typer.Option(help="TLP for unmarked objects: clear, green, amber, amber+strict, red.")
    ],
    description: str = "",
    alias: Annotated[str | None, typer.Option(help="A short name usable in URLs.")] = None,
    read_roles: Annotated[
        str | None, typer.Option(help="Space-separated roles that may read (default: all).")
    ] = None,
    write_roles: Annotated[
        str | None, typer.Option(help="Space-separated roles that may write (default: all).")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a TAXII collection owned by a community; prints its id on stdout."""
    from varsel.sharing import service

    with unit_of_work(database_url) as session:
        row = service.add_collection(
            session=session,
            title=title,
            community=community,
            default_tlp=default_tlp,
            description=description,
            alias=alias,
            read_roles=read_roles,
            write_roles=write_roles,
        )
    typer.echo(row.id)


@collection_app.command("list")
def collection_list(database_url: DatabaseOpt = None) -> None:
    """List collections."""
    from sqlalchemy import select

    from varsel.orgs.models import Community
    from varsel.sharing.models import Collection

    with unit_of_work(database_url) as session:
        table = Table("id", "title", "community", "default TLP")
        rows = session.execute(
            select(Collection, Community.name)
            .join(Community, Community.id == Collection.community_id)
            .order_by(Collection.title)
        )
        for coll, community in rows:
            table.add_row(coll.id, coll.title, community, coll.default_tlp)
    out.print(table)


@audit_app.command("verify")
def audit_verify(database_url: DatabaseOpt = None) -> None:
    """Verify the audit log's hash chain; exit 1 if it was tampered with."""
    from varsel.audit import service

    with unit_of_work(database_url) as session:
        report = service.verify(session=session)
    if report.ok:
        out.print(f"audit chain intact: {report.events} events")
        return
    err.print(f"[red]audit chain broken[/] at event {report.first_bad}: {report.problem}")
    raise typer.Exit(1)


def main() -> None:
    """Run the command line; domain and network errors end with a message and exit code 1."""
    import httpx

    try:
        app()
    except VarselError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        sys.exit(1)
    except httpx.HTTPError as exc:
        err.print(f"[red]error:[/] cannot reach the hub: {exc}")
        sys.exit(1)
