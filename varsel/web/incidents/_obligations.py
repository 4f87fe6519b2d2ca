"""The obligations table, each stage's report, and recording a submission."""

from __future__ import annotations

import hashlib
import re
from base64 import b64encode
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, JSONResponse, Response

from varsel.error_map import status_of
from varsel.errors import InvalidInput, VarselError
from varsel.http.deps import DbSession
from varsel.incidents import flows, service
from varsel.policy.principal import Principal
from varsel.reporting import reports
from varsel.reporting.obligations import JurisdictionResult, Obligation
from varsel.web.incidents._common import (
    Id,
    done,
    field,
    local_text,
    may_change,
    notice,
    parse_when,
    utc_text,
)
from varsel.web.render import SECURITY_HEADERS, render
from varsel.web.sessions import CheckedForm, SignedIn

router = APIRouter()


@dataclass(frozen=True)
class Line:
    """One obligation as the table shows it."""

    obligation: Obligation
    utc: str
    local: str


def _lines(result: JurisdictionResult) -> list[Line]:
    return [
        Line(o, utc_text(o.deadline), local_text(o.deadline, o.timezone))
        for o in result.obligations
    ]


def _obligations_page(
    request: Request,
    db: Session,
    principal: Principal,
    incident_id: int,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    incident = service.get(session=db, principal=principal, incident_id=incident_id)
    results: list[JurisdictionResult] = []
    problem = None
    try:
        _, results = flows.obligations_of(session=db, principal=principal, incident_id=incident.id)
    except InvalidInput as exc:  # no entity profile yet: say so, with a way to set it
        problem = exc.message
    subs = service.submissions(session=db, incident_id=incident.id)
    return render(
        request,
        "incident_obligations.html",
        status_code=status_code,
        incident=incident,
        results=[(r, _lines(r)) for r in results],
        problem=problem,
        may_change=may_change(db, principal, incident.id),
        submissions={(s.entity, s.country, s.stage): s for s in subs},
        several=len({r.entity for r in results}) > 1,
        now=datetime.now(UTC),
        utc_text=utc_text,
        error=error,
        notice=notice(request),
    )


@router.get("/incidents/{incident_id}/obligations")
def obligations(request: Request, db: DbSession, principal: SignedIn, incident_id: Id) -> Response:
    """Show, country by country, significance and every report owed, with deadlines."""
    return _obligations_page(request, db, principal, incident_id)


_NONE = "'none'"


def _report_headers(page: str) -> dict[str, str]:
    # The printable report carries its own <style>; allow exactly that style, nothing else.
    hashes = " ".join(
        "'sha256-" + b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode() + "'"
        for css in re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL)
    )
    return {
        **SECURITY_HEADERS,
        "Content-Security-Policy": (
            f"default-src 'none'; style-src {hashes or _NONE}; img-src 'self' data:; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
        ),
    }


@router.get("/incidents/{incident_id}/reports/{country}/{stage}")
def report(
    db: DbSession,
    principal: SignedIn,
    incident_id: Id,
    country: Annotated[str, Path(max_length=2)],
    stage: Annotated[str, Path(max_length=64)],
    format: str = "html",
    entity: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """Return a stage's report pre-filled from the incident, printable HTML or JSON."""
    if format not in {"json", "html"}:
        raise InvalidInput("format must be json or html")
    built = flows.report(
        session=db,
        principal=principal,
        incident_id=incident_id,
        country=country,
        stage=stage,
        entity=entity,
    )
    if format == "json":
        return JSONResponse(built, headers={"Cache-Control": "no-store"})
    page = reports.render_html(built)
    return HTMLResponse(page, headers=_report_headers(page))


@router.post("/incidents/{incident_id}/reports/{country}/{stage}/submissions")
def submit(
    request: Request,
    db: DbSession,
    principal: SignedIn,
    form: CheckedForm,
    incident_id: Id,
    country: Annotated[str, Path(max_length=2)],
    stage: Annotated[str, Path(max_length=64)],
) -> Response:
    """Record when and how a stage's report was submitted (audited)."""
    try:
        flows.submit(
            session=db,
            principal=principal,
            incident_id=incident_id,
            country=country,
            stage=stage,
            channel=field(form, "channel")[:100],
            reference=field(form, "reference")[:300],
            submitted_at=parse_when(field(form, "submitted_at"), "time of submission"),
            entity=field(form, "entity")[:32],
        )
    except VarselError as exc:
        db.rollback()
        return _obligations_page(
            request, db, principal, incident_id, status_code=status_of(exc), error=exc.message
        )
    db.commit()
    entity = field(form, "entity")[:32]
    anchor = f"#{entity}-{country}" if entity else f"#{country}"
    return done(f"/incidents/{incident_id}/obligations", "submission_recorded", anchor)
