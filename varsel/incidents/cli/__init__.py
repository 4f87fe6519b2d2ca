"""``varsel incident``: open incidents, set facts, see obligations, generate and submit reports.

Commands act as a local user (``--as``) through the same access policy as the REST API;
``notify`` is the system job that sends deadline reminders (run it from cron every few minutes).

The private modules, by what they hold: ``_common`` (consoles, options, argument helpers),
``_incident`` (the incident itself), ``_reports`` (obligations, reports, submissions) and
``_deadlines`` (the clock and the reminder job). The commands are registered here, explicitly,
in the order ``varsel incident --help`` lists them.
"""

from __future__ import annotations

import typer

from varsel.incidents.cli._deadlines import clock, notify
from varsel.incidents.cli._incident import entity, facts, invite, list_, new
from varsel.incidents.cli._reports import obligations, report, submit

incident_app = typer.Typer(
    help="Incidents and the reports each country requires.", no_args_is_help=True
)
incident_app.command("new")(new)
incident_app.command("list")(list_)
incident_app.command("invite")(invite)
incident_app.command("entity")(entity)
incident_app.command("facts")(facts)
incident_app.command("obligations")(obligations)
incident_app.command("report")(report)
incident_app.command("submit")(submit)
incident_app.command("clock")(clock)
incident_app.command("notify")(notify)


def register(app: typer.Typer) -> None:
    """Add the ``incident`` command group to the main application."""
    app.add_typer(incident_app, name="incident")


__all__ = [
    "clock",
    "entity",
    "facts",
    "incident_app",
    "invite",
    "list_",
    "new",
    "notify",
    "obligations",
    "register",
    "report",
    "submit",
]
