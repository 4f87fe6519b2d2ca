"""Commands across incidents: the clock of due reports and the reminder job for cron."""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import json
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from varsel.incidents.cli._common import (
    AsOpt,
    DatabaseOpt,
    JsonOpt,
    NowOpt,
    err,
    out,
    parse_now,
    principal_named,
)


def clock(
    as_user: AsOpt, now: NowOpt = None, as_json: JsonOpt = False, database_url: DatabaseOpt = None
) -> None:
    """List due and overdue reports across the incidents you may read."""
    from varsel.console import unit_of_work
    from varsel.incidents import flows

    with unit_of_work(database_url) as session:
        rows = flows.clock(
            session=session, principal=principal_named(session, as_user), now=parse_now(now)
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(
        "incident", "entity", "country", "stage", "recipient", "deadline (local)", "status", "note"
    )
    for r in rows:
        missing = ", ".join(r["missing_facts"])
        table.add_row(
            str(r["incident"]),
            r["entity_name"] or "",
            r["country"],
            r["stage"],
            r["recipient"],
            _when(r),
            r["status"],
            (f"missing: {missing}" if missing else "")
            or ("no entity profile" if r["stage"] == "entity-profile" else ""),
        )
    out.print(table)


def _when(row: dict[str, Any]) -> str:
    """Return the local deadline, marked ≤ when it is only the latest permissible one."""
    if not row["deadline_local"]:
        return "—"
    return ("≤ " if row["deadline_kind"] == "latest" else "") + str(row["deadline_local"])


def notify(
    now: NowOpt = None,
    lead_hours: Annotated[
        float, typer.Option(help="Remind this many hours before a deadline.", min=0)
    ] = 4.0,
    smtp_host: Annotated[
        str | None, typer.Option(help="SMTP relay for this run (default: VARSEL_SMTP_HOST).")
    ] = None,
    smtp_port: Annotated[
        int | None, typer.Option(help="Its port (default: VARSEL_SMTP_PORT).")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Send the reminders and overdue notices that are due, each exactly once."""
    from dataclasses import replace

    from varsel.console import unit_of_work
    from varsel.incidents import flows
    from varsel.reporting.notify import NotifySettings

    with unit_of_work(database_url) as session:
        settings = NotifySettings.from_config()
        relay = replace(
            settings.smtp,
            host=smtp_host or settings.smtp.host,
            port=smtp_port or settings.smtp.port,
        )
        settings = replace(settings, smtp=relay)
        result = flows.notify_due(
            session=session, settings=settings, now=parse_now(now), lead=timedelta(hours=lead_hours)
        )
    for line in result.errors:
        err.print(f"[yellow]failed:[/] {line}")
    out.print(f"sent {result.sent}, failed {result.failed}, already sent {result.skipped}")
    if result.failed:
        raise typer.Exit(1)
