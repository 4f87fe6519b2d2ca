"""What the incident commands share: the consoles, the common options and argument helpers.

The commands import the services and ``varsel.console.unit_of_work`` when they run, not at
import time: ``varsel.cli`` imports this package while it is itself still being set up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

out = Console()
err = Console(stderr=True)

AsOpt = Annotated[str, typer.Option("--as", help="Act as this local user.")]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url", envvar="VARSEL_DATABASE_URL", help="SQLAlchemy URL of the hub's database."
    ),
]
NowOpt = Annotated[
    str | None, typer.Option(help="Evaluate at this time (ISO 8601 with offset) instead of now.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def parse_now(value: str | None) -> datetime:
    """Return ``--now`` parsed (ISO 8601 with offset), or the current UTC time."""
    from varsel.reporting.facts import parse_time

    return parse_time(value, "--now") if value else datetime.now(UTC)


def principal_named(session: Any, username: str) -> Any:
    """Return the principal of the user called ``username``."""
    from varsel.orgs import service as orgs
    from varsel.policy.principal import principal_of

    return principal_of(orgs.get_user(session=session, username=username))


def split_list(values: list[str] | None) -> list[str]:
    """Return the comma-separated items of repeated options, stripped, empty ones dropped."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
