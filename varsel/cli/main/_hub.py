"""Set up, run and check the hub: ``init``, ``serve``, ``demo``, ``audit verify`` and ``hub id``."""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import os
import secrets
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

from varsel.console import (
    DatabaseOpt,
    err,
    local_operator,
    out,
    refuse,
    settings_for,
    unit_of_work,
)


def init(database_url: DatabaseOpt = None) -> None:
    """Create or upgrade the hub's database schema, create its key and seal stored versions."""
    from varsel import migrate
    from varsel.audit import service as audit
    from varsel.db import make_engine, make_sessionmaker
    from varsel.provenance import keys
    from varsel.sharing.provenance import seal_unsealed

    settings = settings_for(database_url)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    created = keys.create(settings.data_dir)
    key = keys.load(settings.data_dir, settings.hub_name)
    try:
        with make_sessionmaker(engine)() as session:
            operator = local_operator().label
            if created:
                audit.record(
                    session=session,
                    actor=operator,
                    action="hub.key.create",
                    target=settings.hub_name,
                    details={"public_key": key.public},
                )
            # Versions stored before federation: sealed now, as if shared now (varsel.provenance).
            sealed = seal_unsealed(session=session, key=key)
            if sealed:
                audit.record(
                    session=session,
                    actor=operator,
                    action="provenance.seal",
                    target=settings.hub_name,
                    details={"versions": sealed},
                )
            session.commit()
    finally:
        engine.dispose()
    out.print(f"hub database ready at {engine.url.render_as_string(hide_password=True)}")
    state = "created" if created else "kept"
    out.print(f"hub key {state} at {keys.key_path(settings.data_dir)}")
    if sealed:
        out.print(f"sealed {sealed} stored versions with the hub key")


def hub_id() -> None:
    """Print this hub's name and public key on one line: NAME PUBLIC-KEY (base64)."""
    from varsel.provenance import keys

    settings = settings_for(None)
    key = keys.load(settings.data_dir, settings.hub_name)
    # Plain text, never wrapped or styled: scripts read this line.
    typer.echo(f"{key.name} {key.public}")


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    database_url: DatabaseOpt = None,
) -> None:
    """Serve the TAXII 2.1 server, REST API and web pages."""
    import uvicorn

    from varsel.clearances import rules as clearance_rules
    from varsel.config import ConfigError

    settings = settings_for(database_url)
    try:
        settings = settings.with_(host=host, port=port)
        # One line and exit 1, before uvicorn's traceback or any request.
        clearance_rules.check_configuration(settings)
    except (ConfigError, clearance_rules.AgreementsFileError) as exc:
        refuse(exc)
    # Workers are separate processes: hand them the settings through the environment (the
    # one place the package writes it; tests/test_config.py allows exactly this).
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
        # Streams (/api/v1/stream) never end by themselves: without this, stopping the server
        # would wait for every subscriber to leave. They resume with Last-Event-ID.
        timeout_graceful_shutdown=5,
    )


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
    from varsel.config import default_data_dir
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
        landed = _demo_misp_collections(session)
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
    out.print(f"MISP: {landed} organisations' pushed events land in a collection (docs/misp.md)")


def _demo_misp_collections(session: "Session") -> int:
    """Give each demo organisation a MISP landing collection: the first demo one it may write.

    So that PyMISP and a MISP server can push to the demo hub at once (varsel.misp.service).
    """
    from varsel import demo as demo_data
    from varsel.errors import Forbidden
    from varsel.misp import service as misp
    from varsel.policy.principal import local_operator

    operator, landed = local_operator(), 0
    for name, *_ in demo_data.ORGS:
        for title, *_ in demo_data.COLLECTIONS:
            try:
                misp.set_collection(session=session, principal=operator, org=name, collection=title)
            except Forbidden:
                continue
            landed += 1
            break
    return landed


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
