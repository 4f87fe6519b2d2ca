"""``varsel incident``: open incidents, set facts, see obligations, generate and submit reports.

Commands act as a local user (``--as``) through the same access policy as the REST API;
``notify`` is the system job that sends deadline reminders (run it from cron every few minutes).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from varsel.errors import InvalidInput

incident_app = typer.Typer(
    help="Incidents and the reports each country requires.", no_args_is_help=True
)
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


def register(app: typer.Typer) -> None:
    """Add the ``incident`` command group to the main application."""
    app.add_typer(incident_app, name="incident")


def _now(value: str | None) -> datetime:
    from varsel.reporting.facts import parse_time

    return parse_time(value, "--now") if value else datetime.now(UTC)


def _principal(session: Any, username: str) -> Any:
    from varsel.orgs import service as orgs

    return orgs.principal_of(orgs.get_user(session=session, username=username))


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@incident_app.command("new")
def new(
    title: Annotated[str, typer.Option(help="Short title.")],
    as_user: AsOpt,
    summary: Annotated[str, typer.Option(help="What happened.")] = "",
    severity: Annotated[str, typer.Option(help="low, medium, high or critical.")] = "medium",
    tlp: Annotated[str, typer.Option(help="clear, green, amber, amber+strict or red.")] = "amber",
    classification: Annotated[
        str | None, typer.Option(help='RSIT machine tag, e.g. rsit:availability="ddos".')
    ] = None,
    notify: Annotated[
        list[str] | None, typer.Option(help="E-mail address told before deadlines (repeat).")
    ] = None,
    webhook: Annotated[str | None, typer.Option(help="Webhook URL told before deadlines.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Open an incident led by your organisation; prints its id on stdout."""
    from varsel.cli.main import unit_of_work
    from varsel.incidents import service

    with unit_of_work(database_url) as session:
        incident = service.create(
            session=session,
            principal=_principal(session, as_user),
            title=title,
            summary=summary,
            severity=severity,
            tlp=tlp,
            classification=classification,
            notify_emails=_split(notify),
            webhook_url=webhook,
        )
    typer.echo(incident.id)


@incident_app.command("list")
def list_(as_user: AsOpt, database_url: DatabaseOpt = None) -> None:
    """List the incidents you may read."""
    from varsel.cli.main import unit_of_work
    from varsel.incidents import service

    with unit_of_work(database_url) as session:
        table = Table("id", "title", "status", "severity", "TLP")
        for i in service.list_incidents(session=session, principal=_principal(session, as_user)):
            table.add_row(str(i.id), i.title, i.status, i.severity, i.tlp)
    out.print(table)


@incident_app.command("invite")
def invite(
    incident_id: int,
    as_user: AsOpt,
    role: Annotated[str, typer.Option(help="lead, affected, responder, authority, observer.")],
    org: Annotated[str | None, typer.Option(help="An organisation, e.g. a national CSIRT.")] = None,
    user: Annotated[str | None, typer.Option(help="A single user.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Invite an organisation or a user to an incident."""
    from varsel.cli.main import unit_of_work
    from varsel.incidents import service

    with unit_of_work(database_url) as session:
        service.add_participant(
            session=session,
            principal=_principal(session, as_user),
            incident_id=incident_id,
            role=role,
            org=org,
            username=user,
        )
    out.print(f"{org or user} joined incident {incident_id} as {role}")


@incident_app.command("entity")
def entity(
    incident_id: int,
    as_user: AsOpt,
    name: Annotated[str, typer.Option(help="The affected entity's name.")],
    established_in: Annotated[list[str], typer.Option(help="Country of establishment (repeat).")],
    serves: Annotated[
        list[str] | None,
        typer.Option(help="Country where the affected services are provided (repeat)."),
    ] = None,
    main_establishment: Annotated[str | None, typer.Option(help="Main establishment.")] = None,
    nis2_class: Annotated[str | None, typer.Option(help="essential or important.")] = None,
    sector: Annotated[str | None, typer.Option(help="NIS2 sector, e.g. energy.")] = None,
    entity_type: Annotated[
        str | None,
        typer.Option(
            help="2024/2690 type (dns, tld, cloud, data-centre, cdn, msp, mssp, marketplace, "
            "search-engine, social-network, trust-service) or electronic-communications."
        ),
    ] = None,
    nis1_scope: Annotated[
        bool, typer.Option(help="In scope of Norway's or Iceland's NIS1-based law.")
    ] = False,
    dora: Annotated[bool, typer.Option(help="A DORA financial entity.")] = False,
    dora_kind: Annotated[
        str | None,
        typer.Option(help="credit-institution, central-counterparty, trading-venue, ..."),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Set the affected entity's profile (decides which countries' rules apply)."""
    from varsel.cli.main import unit_of_work
    from varsel.incidents import service

    with unit_of_work(database_url) as session:
        service.set_profile(
            session=session,
            principal=_principal(session, as_user),
            incident_id=incident_id,
            name=name,
            established_in=_split(established_in),
            services_in=_split(serves),
            main_establishment=main_establishment,
            nis2_class=nis2_class,
            sector=sector,
            entity_type=entity_type,
            nis1_scope=nis1_scope,
            dora_financial=dora,
            dora_entity_kind=dora_kind,
        )
    out.print(f"entity profile of incident {incident_id} set")


@incident_app.command("facts")
def facts(
    incident_id: int,
    as_user: AsOpt,
    set_: Annotated[
        list[str],
        typer.Option("--set", help="NAME=VALUE (repeat); VALUE 'null' clears; times in ISO 8601."),
    ],
    database_url: DatabaseOpt = None,
) -> None:
    """Record impact facts, e.g. --set detected_at=2026-03-27T16:00+02:00."""
    from varsel.cli.main import unit_of_work
    from varsel.incidents import service

    values: dict[str, Any] = {}
    for item in set_:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--set wants NAME=VALUE, got {item!r}")
        values[name.strip()] = None if value.strip() == "null" else value.strip()
    with unit_of_work(database_url) as session:
        current = service.set_facts(
            session=session,
            principal=_principal(session, as_user),
            incident_id=incident_id,
            values=values,
        )
    out.print(f"{len(values)} fact(s) recorded; {len(current)} known")


@incident_app.command("obligations")
def obligations(
    incident_id: int,
    as_user: AsOpt,
    now: NowOpt = None,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Show significance and every report owed, by country, with deadlines and status."""
    from varsel.cli.main import unit_of_work
    from varsel.incidents import flows

    with unit_of_work(database_url) as session:
        _, results = flows.assess(
            session=session,
            principal=_principal(session, as_user),
            incident_id=incident_id,
            now=_now(now),
        )
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False))
        return
    for r in results:
        sig = r.significance
        owed = {True: "reports owed", False: "no reports owed", None: "owed if significant"}
        out.print(f"[bold]{r.country}[/] {r.title or ''} — {owed[r.owed]}: {r.reason}")
        if sig is not None:
            out.print(f"  significance ({sig.instrument}): [bold]{sig.outcome.value}[/]")
            for line in sig.explanation:
                out.print(f"    {line}")
            for m in sig.as_dict()["missing"]:
                out.print(f"    missing: {m}")
        if r.obligations:
            table = Table(
                "stage",
                "recipient",
                "deadline (UTC)",
                "deadline (local)",
                "status",
                "rule",
                "verified",
            )
            for o in r.obligations:
                d = o.as_dict()
                table.add_row(
                    o.stage,
                    o.recipient,
                    d["deadline_utc"] or "—",
                    d["deadline_local"] or "—",
                    o.status + (" (if significant)" if o.conditional else ""),
                    o.rule,
                    "yes" if o.verified else "NO",
                )
            out.print(table)


@incident_app.command("report")
def report(
    incident_id: int,
    as_user: AsOpt,
    stage: Annotated[
        str,
        typer.Option(
            help="e.g. early-warning, incident-notification, final-report, initial-notification."
        ),
    ],
    country: Annotated[str, typer.Option(help="ISO country code of the jurisdiction.")],
    format: Annotated[str, typer.Option(help="json or html.")] = "json",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of stdout.")
    ] = None,
    now: NowOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Generate a stage's report for one country, pre-filled from the incident."""
    from varsel.cli.main import unit_of_work
    from varsel.incidents import flows
    from varsel.reporting import reports

    if format not in {"json", "html"}:
        raise InvalidInput("--format must be json or html")
    with unit_of_work(database_url) as session:
        built = flows.report(
            session=session,
            principal=_principal(session, as_user),
            incident_id=incident_id,
            country=country,
            stage=stage,
            now=_now(now),
        )
    text = (
        reports.render_html(built)
        if format == "html"
        else json.dumps(built, indent=2, ensure_ascii=False)
    )
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"written to {output}")


@incident_app.command("submit")
def submit(
    incident_id: int,
    as_user: AsOpt,
    stage: Annotated[str, typer.Option(help="The stage submitted.")],
    country: Annotated[str, typer.Option(help="ISO country code of the jurisdiction.")],
    channel: Annotated[str, typer.Option(help="How: web form, e-mail, virk.dk, phone, ...")],
    reference: Annotated[str, typer.Option(help="The authority's case reference.")] = "",
    at: Annotated[str | None, typer.Option(help="When (ISO 8601); default now.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Record that a stage's report was submitted (kept with a snapshot and audited)."""
    from varsel.cli.main import unit_of_work
    from varsel.incidents import flows

    with unit_of_work(database_url) as session:
        done = flows.submit(
            session=session,
            principal=_principal(session, as_user),
            incident_id=incident_id,
            country=country,
            stage=stage,
            channel=channel,
            reference=reference,
            submitted_at=_now(at) if at else None,
        )
    out.print(
        f"{done['stage']} for {done['country']} recorded as submitted at "
        f"{done['submitted_at']} via {done['channel']}"
    )


@incident_app.command("clock")
def clock(
    as_user: AsOpt, now: NowOpt = None, as_json: JsonOpt = False, database_url: DatabaseOpt = None
) -> None:
    """List due and overdue reports across the incidents you may read."""
    from varsel.cli.main import unit_of_work
    from varsel.incidents import flows

    with unit_of_work(database_url) as session:
        rows = flows.clock(session=session, principal=_principal(session, as_user), now=_now(now))
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("incident", "country", "stage", "recipient", "deadline (local)", "status")
    for r in rows:
        table.add_row(
            str(r["incident"]),
            r["country"],
            r["stage"],
            r["recipient"],
            r["deadline_local"] or "—",
            r["status"],
        )
    out.print(table)


@incident_app.command("notify")
def notify(
    now: NowOpt = None,
    lead_hours: Annotated[
        float, typer.Option(help="Remind this many hours before a deadline.", min=0)
    ] = 4.0,
    smtp_host: Annotated[str | None, typer.Option(envvar="VARSEL_SMTP_HOST")] = None,
    smtp_port: Annotated[int | None, typer.Option(envvar="VARSEL_SMTP_PORT")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Send the reminders and overdue notices that are due, each exactly once."""
    from dataclasses import replace

    from varsel.cli.main import unit_of_work
    from varsel.incidents import flows
    from varsel.reporting.notify import NotifySettings

    settings = NotifySettings.from_env()
    settings = replace(
        settings,
        smtp_host=smtp_host or settings.smtp_host,
        smtp_port=smtp_port or settings.smtp_port,
    )
    with unit_of_work(database_url) as session:
        result = flows.notify_due(
            session=session, settings=settings, now=_now(now), lead=timedelta(hours=lead_hours)
        )
    for line in result.errors:
        err.print(f"[yellow]failed:[/] {line}")
    out.print(f"sent {result.sent}, failed {result.failed}, already sent {result.skipped}")
    if result.failed:
        raise typer.Exit(1)
