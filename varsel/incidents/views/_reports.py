"""Reporting over REST: the clock, the vocabularies, obligations, reports and submissions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from varsel.errors import InvalidInput
from varsel.http.deps import CurrentPrincipal, DbSession
from varsel.incidents import flows, taxonomy
from varsel.incidents.schemas import SubmissionIn
from varsel.incidents.views._common import PREFIX, Id, require_offset, seen
from varsel.reporting import facts as factreg
from varsel.reporting import reports
from varsel.reporting.obligations import iso

router = APIRouter(prefix=PREFIX, tags=["incidents"])


@router.get("/clock")
def clock(
    session: DbSession, principal: CurrentPrincipal, within_hours: float | None = None
) -> dict[str, Any]:
    """List due and overdue reports across the incidents the caller may read, by deadline."""
    rows = flows.clock(session=session, principal=principal, within_hours=within_hours)
    return {"now": iso(datetime.now(UTC)), "reports": rows}


@router.get("/taxonomy")
def rsit(principal: CurrentPrincipal) -> dict[str, Any]:
    """List the RSIT classes and types an incident can be classified with."""
    return {"taxonomy": "rsit", "version": taxonomy.rsit().version, "choices": taxonomy.choices()}


@router.get("/facts")
def fact_catalogue(principal: CurrentPrincipal) -> dict[str, Any]:
    """List the impact facts the engine knows, with their kinds and labels."""
    return {
        "facts": [{"name": n, "kind": k, "label": lbl} for n, (k, lbl) in factreg.FACTS.items()]
    }


@router.get("/{incident_id}/obligations")
def obligations(incident_id: Id, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Return significance and every report owed, country by country, with status."""
    _, results = flows.obligations_of(session=session, principal=principal, incident_id=incident_id)
    return {
        "incident": incident_id,
        "now": iso(datetime.now(UTC)),
        "jurisdictions": [r.as_dict() for r in results],
    }


@router.get("/{incident_id}/reports/{country}/{stage}", response_model=None)
def get_report(
    incident_id: Id,
    country: str,
    stage: str,
    session: DbSession,
    principal: CurrentPrincipal,
    format: str = "json",
    entity: Annotated[str, Query(max_length=32)] = "",
) -> dict[str, Any] | Response:
    """Return a stage's report pre-filled from the incident, as JSON or printable HTML."""
    if format not in {"json", "html"}:
        raise InvalidInput("format must be json or html")
    built = flows.report(
        session=session,
        principal=principal,
        incident_id=incident_id,
        country=country,
        stage=stage,
        entity=entity,
    )
    if format == "html":
        return HTMLResponse(reports.render_html(built))
    return built


@router.post(
    "/{incident_id}/reports/{country}/{stage}/submissions", status_code=201, response_model=None
)
def submit(
    incident_id: Id,
    country: str,
    stage: str,
    body: SubmissionIn,
    session: DbSession,
    principal: CurrentPrincipal,
) -> dict[str, Any] | Response:
    """Record when, how and by whom a stage's report was submitted."""
    out = flows.submit(
        session=session,
        principal=principal,
        incident_id=incident_id,
        country=country,
        stage=stage,
        channel=body.channel,
        reference=body.reference,
        submitted_at=require_offset(body.submitted_at),
        entity=body.entity,
    )
    session.commit()
    return seen(session, principal, incident_id, out)
