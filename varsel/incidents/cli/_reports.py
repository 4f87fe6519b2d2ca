"""Commands on one incident's reports: the obligations, a stage's report, its submission."""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from varsel.errors import InvalidInput
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


def obligations(
    incident_id: int,
    as_user: AsOpt,
    now: NowOpt = None,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Show significance and every report owed, by country, with deadlines and status."""
    from varsel.console import unit_of_work
    from varsel.incidents import flows

    with unit_of_work(database_url) as session:
        _, results = flows.obligations_of(
            session=session,
            principal=principal_named(session, as_user),
            incident_id=incident_id,
            now=parse_now(now),
        )
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False))
        return
    several = len({r.entity for r in results}) > 1
    for r in results:
        sig = r.significance
        owed = {True: "reports owed", False: "no reports owed", None: "owed if significant"}
        whose = f"{r.entity_name} ({r.entity or 'first entity'}) · " if several else ""
        out.print(f"{whose}[bold]{r.country}[/] {r.title or ''} — {owed[r.owed]}: {r.reason}")
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
                "nominal (UTC)",
                "relief",
                "status",
                "rule",
                "sources",
                "verified",
            )
            for o in r.obligations:
                d = o.as_dict()
                table.add_row(
                    o.stage,
                    o.recipient,
                    _mark(d, d["deadline_utc"]),
                    _mark(d, d["deadline_local"]),
                    d["nominal_deadline_utc"] or "—",
                    d["relief"] or "—",
                    o.status
                    + (f" LATE by {d['late_by']}" if d["late"] else "")
                    + (" (if significant)" if o.conditional else ""),
                    "\n".join([o.rule, *o.notes]),
                    "\n".join(
                        f"{s['what']}: {s['source']}" + ("" if s["verified"] else " [unverified]")
                        for s in o.sources
                    ),
                    "yes" if o.verified else "NO",
                )
            out.print(table)
            for o in r.obligations:
                for prompt in o.prompts:
                    flag = "" if prompt["verified"] else " [unverified]"
                    out.print(f"  {o.stage}: {prompt['text']} ({prompt['source']}){flag}")
        for note in r.notes:
            flag = "" if note["verified"] else " [unverified]"
            out.print(f"  {note['what']}: {note['text']} ({note['source']}){flag}")


def _mark(row: dict[str, Any], when: str | None) -> str:
    """Return a deadline, marked ≤ when missing facts make it the latest permissible one."""
    if not when:
        return "—"
    return ("≤ " if row["deadline_kind"] == "latest" else "") + when


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
    entity: Annotated[
        str, typer.Option(help="A further affected entity's key (default: the first).")
    ] = "",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of stdout.")
    ] = None,
    now: NowOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Generate a stage's report for one country, pre-filled from the incident."""
    from varsel.console import unit_of_work
    from varsel.incidents import flows
    from varsel.reporting import reports

    if format not in {"json", "html"}:
        raise InvalidInput("--format must be json or html")
    with unit_of_work(database_url) as session:
        built = flows.report(
            session=session,
            principal=principal_named(session, as_user),
            incident_id=incident_id,
            country=country,
            stage=stage,
            now=parse_now(now),
            entity=entity,
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


def submit(
    incident_id: int,
    as_user: AsOpt,
    stage: Annotated[str, typer.Option(help="The stage submitted.")],
    country: Annotated[str, typer.Option(help="ISO country code of the jurisdiction.")],
    channel: Annotated[str, typer.Option(help="How: web form, e-mail, virk.dk, phone, ...")],
    reference: Annotated[str, typer.Option(help="The authority's case reference.")] = "",
    at: Annotated[str | None, typer.Option(help="When (ISO 8601); default now.")] = None,
    entity: Annotated[
        str, typer.Option(help="A further affected entity's key (default: the first).")
    ] = "",
    database_url: DatabaseOpt = None,
) -> None:
    """Record that a stage's report was submitted (kept with a snapshot and audited)."""
    from varsel.console import unit_of_work
    from varsel.incidents import flows

    with unit_of_work(database_url) as session:
        done = flows.submit(
            session=session,
            principal=principal_named(session, as_user),
            incident_id=incident_id,
            country=country,
            stage=stage,
            channel=channel,
            reference=reference,
            submitted_at=parse_now(at) if at else None,
            entity=entity,
        )
    out.print(
        f"{done['stage']} for {done['country']} recorded as submitted at "
        f"{done['submitted_at']} via {done['channel']}"
    )
