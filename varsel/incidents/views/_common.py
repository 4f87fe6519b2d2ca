"""What the incident routes share: the id type, times, and the workspace as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from fastapi.responses import Response
from sqlalchemy.orm import Session

from varsel.clock import aware
from varsel.errors import InvalidInput
from varsel.incidents import flows, service
from varsel.incidents.models import Incident
from varsel.policy.principal import Principal
from varsel.reporting import reports
from varsel.reporting.obligations import iso

PREFIX = "/api/v1/incidents"
# Ids beyond a 32-bit integer cannot exist and would overflow PostgreSQL's INTEGER: a 422→400.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]


def require_offset(value: datetime | None) -> datetime | None:
    """Return ``value`` if it carries a UTC offset (or is None), or refuse it."""
    if value is not None and value.tzinfo is None:
        raise InvalidInput("times need a UTC offset, e.g. 2026-03-27T14:00:00Z")
    return value


def summary_of(incident: Incident) -> dict[str, Any]:
    """Return the fields of ``incident`` that every listing shows."""
    return {
        "id": incident.id,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "tlp": incident.tlp,
        "classification": incident.classification,
        "created_at": iso(aware(incident.created_at)),
        "updated_at": iso(aware(incident.updated_at)),
    }


def seen(
    session: Session, principal: Principal, incident_id: int, body: Any
) -> dict[str, Any] | Response:
    """Return ``body`` if the caller may read the incident after its write, else 204.

    The policy lets hub-admins change incidents they may not read (a TLP:RED one they are not
    named on); the answer to such a write says only that it was done.
    """
    if service.readable(session=session, principal=principal, incident_id=incident_id):
        return body() if callable(body) else dict(body)
    return Response(status_code=204)


def detail_of(session: Session, principal: Principal, incident: Incident) -> dict[str, Any]:
    """Return ``incident`` with its profile, facts, participants and timeline."""
    prof = service.profile(session=session, incident_id=incident.id)
    facts = service.current_facts(session=session, incident_id=incident.id)
    return {
        **summary_of(incident),
        "summary": incident.summary,
        "created_by": incident.created_by,
        "notify_emails": [a for a in incident.notify_emails.split(",") if a],
        "webhook_url": incident.webhook_url,
        "participants": service.participants(session=session, incident_id=incident.id),
        "timeline": [
            {
                "id": e.id,
                "at": iso(aware(e.at)),
                "kind": e.kind,
                "text": e.text,
                "author": e.author,
            }
            for e in service.timeline(session=session, incident_id=incident.id)
        ],
        "tasks": [
            {**t, "due_at": iso(t["due_at"])}
            for t in service.tasks(session=session, incident_id=incident.id)
        ],
        "links": flows.visible_links(session=session, principal=principal, incident_id=incident.id),
        "entity": prof.__dict__ if prof else None,
        "entities": [
            {
                "key": key,
                **p.__dict__,
                "facts": reports.plain(
                    service.own_facts(session=session, incident_id=incident.id, entity=key)
                ),
            }
            for key, p in service.entities(session=session, incident_id=incident.id)
            if key
        ],
        "facts": reports.plain(facts),
        "submissions": [
            {
                "entity": s.entity,
                "country": s.country,
                "stage": s.stage,
                "channel": s.channel,
                "reference": s.reference,
                "submitted_by": s.submitted_by,
                "submitted_at": iso(aware(s.submitted_at)),
            }
            for s in service.submissions(session=session, incident_id=incident.id)
        ],
    }
