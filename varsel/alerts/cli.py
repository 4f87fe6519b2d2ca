"""``varsel alerts run-once``: evaluate the alerts and deliver their copies once, then exit.

For a hub run without ``VARSEL_ALERTS`` (a cron job) or to see what is due; the evaluation is
idempotent, so running it beside ``varsel serve`` alerts nothing twice.
"""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import typer

from varsel.console import DatabaseOpt, out, unit_of_work

alerts_app = typer.Typer(
    help="Alerts: notifications, watchlists, deliveries.", no_args_is_help=True
)


def run_once(database_url: DatabaseOpt = None) -> None:
    """Evaluate every alert source once and send the pending e-mail and webhook copies."""
    from varsel.alerts import flows
    from varsel.db import make_sessionmaker

    with unit_of_work(database_url) as session:
        engine = session.get_bind()
        result = flows.run_once(
            make_sessionmaker(engine),  # type: ignore[arg-type]
            readers=make_sessionmaker(engine, read_only=True),  # type: ignore[arg-type]
        )
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(result.by_kind.items())) or "none"
    delivery = result.delivery
    out.print(
        f"{result.created} new notifications ({kinds}); {result.found - result.created} known"
    )
    if delivery is not None:
        out.print(
            f"copies: {delivery.sent} sent, {delivery.failed} failed, {delivery.withheld} withheld"
        )
        for line in delivery.errors:
            out.print(f"  {line}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``alerts`` group to the command line."""
    alerts_app.command("run-once")(run_once)
    app.add_typer(alerts_app, name="alerts")
