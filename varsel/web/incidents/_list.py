"""The incident list with each incident's next deadline, and the form to open one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from varsel.error_map import status_of
from varsel.errors import VarselError
from varsel.http.deps import DbSession
from varsel.incidents import flows, service
from varsel.incidents.models import Incident
from varsel.policy.principal import Principal
from varsel.web import pages
from varsel.web.incidents._common import (
    choices,
    done,
    field,
    from_iso,
    notice,
    utc_text,
)
from varsel.web.render import render
from varsel.web.sessions import CheckedForm, SignedIn

router = APIRouter()


@dataclass(frozen=True)
class Row:
    """One incident as the list shows it."""

    incident: Incident
    lead: str
    countries: str
    next_deadline: datetime | None
    overdue: int


def _rows(db: Session, principal: Principal) -> list[Row]:
    # The clock is computed over the same readable incidents, so one pass gives every deadline.
    pending: dict[int, list[dict[str, Any]]] = {}
    for item in flows.clock(session=db, principal=principal):
        pending.setdefault(item["incident"], []).append(item)
    out = []
    for incident in service.list_incidents(session=db, principal=principal):
        people = service.participants(session=db, incident_id=incident.id)
        leads = [p["organisation"] or p["user"] for p in people if p["role"] == "lead"]
        countries = dict.fromkeys(
            cc
            for _, prof in service.entities(session=db, incident_id=incident.id)
            for cc in (*prof.established_in, *prof.services_in)
        )
        owed = pending.get(incident.id, [])
        deadlines = [d for d in (from_iso(o["deadline_utc"]) for o in owed) if d]
        out.append(
            Row(
                incident=incident,
                lead=", ".join(str(name) for name in leads),
                countries=" ".join(countries),
                next_deadline=min(deadlines, default=None),
                overdue=sum(1 for o in owed if o["status"] == "overdue"),
            )
        )
    return out


def list_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
) -> Response:
    """Render the incident list page."""
    return render(
        request,
        "incidents.html",
        status_code=status_code,
        rows=_rows(db, principal),
        error=error,
        errors=errors or {},
        values=values or {},
        notice=notice(request),
        **choices(),
        utc_text=utc_text,
    )


@router.get("/incidents")
def incident_list(request: Request, db: DbSession, principal: SignedIn) -> Response:
    """List the incidents I may read, with their next deadline, and a form to open one."""
    return list_page(request, db, principal)


@router.post("/incidents")
def create(request: Request, db: DbSession, principal: SignedIn, form: CheckedForm) -> Response:
    """Open an incident led by my organisation."""
    values = {k: field(form, k) for k in ("title", "summary", "severity", "tlp", "classification")}
    try:
        incident = service.create(
            session=db,
            principal=principal,
            title=values["title"],
            summary=str(form.get("summary") or "")[:20000],
            severity=values["severity"] or "medium",
            tlp=values["tlp"] or "amber",
            classification=values["classification"] or None,
        )
    except VarselError as exc:
        db.rollback()
        return list_page(
            request,
            db,
            principal,
            status_code=status_of(exc),
            values=values,
            **pages.refusal(exc),
        )
    db.commit()
    return done(f"/incidents/{incident.id}", "incident_created")
