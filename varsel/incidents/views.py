"""The incidents REST API under ``/api/v1/incidents`` (RFC 9457 errors).

Everything the web pages need is here: the incident workspace, its significance, the
obligations table, each stage's report (JSON or printable HTML) and the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from varsel.api.deps import CurrentPrincipal, DbSession
from varsel.errors import InvalidInput
from varsel.incidents import flows, service, taxonomy
from varsel.incidents.models import Incident
from varsel.incidents.schemas import (
    EntryIn,
    FactsIn,
    IncidentIn,
    IncidentPatch,
    LinkIn,
    ParticipantIn,
    ProfileIn,
    SubmissionIn,
    TaskIn,
    TaskPatch,
)
from varsel.orgs.service import Principal
from varsel.reporting import facts as factreg
from varsel.reporting import reports
from varsel.reporting.obligations import iso

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
# Ids beyond a 32-bit integer cannot exist and would overflow PostgreSQL's INTEGER: a 422→400.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput("times need a UTC offset, e.g. 2026-03-27T14:00:00Z")
    return value


def _summary(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "tlp": incident.tlp,
        "classification": incident.classification,
        "created_at": iso(service.aware(incident.created_at)),
        "updated_at": iso(service.aware(incident.updated_at)),
    }


def _seen(
    session: Session, principal: Principal, incident_id: int, body: Any
) -> dict[str, Any] | Response:
    """Return ``body`` if the caller may read the incident after its write, else 204.

    The policy lets hub-admins change incidents they may not read (a TLP:RED one they are not
    named on); the answer to such a write says only that it was done.
    """
    if service.readable(session=session, principal=principal, incident_id=incident_id):
        return body() if callable(body) else dict(body)
    return Response(status_code=204)


def _detail(session: Session, principal: Principal, incident: Incident) -> dict[str, Any]:
    prof = service.profile(session=session, incident_id=incident.id)
    facts = service.current_facts(session=session, incident_id=incident.id)
    return {
        **_summary(incident),
        "summary": incident.summary,
        "created_by": incident.created_by,
        "notify_emails": [a for a in incident.notify_emails.split(",") if a],
        "webhook_url": incident.webhook_url,
        "participants": service.participants(session=session, incident_id=incident.id),
        "timeline": [
            {
                "id": e.id,
                "at": iso(service.aware(e.at)),
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
                "submitted_at": iso(service.aware(s.submitted_at)),
            }
            for s in service.submissions(session=session, incident_id=incident.id)
        ],
    }


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


@router.get("")
def list_incidents(
    session: DbSession, principal: CurrentPrincipal, status: str | None = None
) -> list[dict[str, Any]]:
    """List the incidents the caller may read, newest first."""
    return [
        _summary(i)
        for i in service.list_incidents(session=session, principal=principal, status=status)
    ]


@router.post("", status_code=201)
def create(body: IncidentIn, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Open an incident led by the caller's organisation."""
    incident = service.create(session=session, principal=principal, **body.model_dump())
    session.commit()
    return _detail(session, principal, incident)


@router.get("/{incident_id}")
def get(incident_id: Id, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Return the incident workspace."""
    incident = service.get(session=session, principal=principal, incident_id=incident_id)
    return _detail(session, principal, incident)


@router.patch("/{incident_id}", response_model=None)
def patch(
    incident_id: Id, body: IncidentPatch, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any] | Response:
    """Change the incident (the lead or a hub-admin)."""
    incident = service.update(
        session=session,
        principal=principal,
        incident_id=incident_id,
        changes=body.model_dump(exclude_unset=True),
    )
    session.commit()
    return _seen(session, principal, incident_id, lambda: _detail(session, principal, incident))


@router.post("/{incident_id}/participants", status_code=201, response_model=None)
def add_participant(
    incident_id: Id, body: ParticipantIn, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any] | Response:
    """Invite an organisation (such as a national CSIRT) or a user."""
    row = service.add_participant(
        session=session,
        principal=principal,
        incident_id=incident_id,
        role=body.role,
        org=body.organisation,
        username=body.user,
    )
    session.commit()
    return _seen(session, principal, incident_id, {"id": row.id, "role": row.role})


@router.delete("/{incident_id}/participants/{participant_id}", status_code=204)
def remove_participant(
    incident_id: Id, participant_id: Id, session: DbSession, principal: CurrentPrincipal
) -> Response:
    """Remove a participant."""
    service.remove_participant(
        session=session, principal=principal, incident_id=incident_id, participant_id=participant_id
    )
    session.commit()
    return Response(status_code=204)


@router.post("/{incident_id}/timeline", status_code=201, response_model=None)
def add_entry(
    incident_id: Id, body: EntryIn, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any] | Response:
    """Add a timeline entry."""
    entry = service.add_entry(
        session=session,
        principal=principal,
        incident_id=incident_id,
        text=body.text,
        kind=body.kind,
        at=_aware(body.at),
    )
    session.commit()
    return _seen(
        session,
        principal,
        incident_id,
        {"id": entry.id, "at": iso(service.aware(entry.at)), "kind": entry.kind},
    )


@router.post("/{incident_id}/tasks", status_code=201, response_model=None)
def add_task(
    incident_id: Id, body: TaskIn, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any] | Response:
    """Add a task with an owner and due time."""
    task = service.add_task(
        session=session,
        principal=principal,
        incident_id=incident_id,
        title=body.title,
        owner=body.owner,
        due_at=_aware(body.due_at),
    )
    session.commit()
    return _seen(session, principal, incident_id, {"id": task.id, "title": task.title})


@router.patch("/{incident_id}/tasks/{task_id}", response_model=None)
def patch_task(
    incident_id: Id, task_id: Id, body: TaskPatch, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any] | Response:
    """Mark a task done or open."""
    task = service.set_task_done(
        session=session,
        principal=principal,
        incident_id=incident_id,
        task_id=task_id,
        done=body.done,
    )
    session.commit()
    return _seen(session, principal, incident_id, {"id": task.id, "done": task.done})


@router.post("/{incident_id}/links", status_code=201, response_model=None)
def link(
    incident_id: Id, body: LinkIn, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any] | Response:
    """Link a STIX object the caller may read."""
    row = flows.link_object(
        session=session,
        principal=principal,
        incident_id=incident_id,
        stix_id=body.stix_id,
        collection_id=body.collection,
        note=body.note,
    )
    session.commit()
    return _seen(
        session,
        principal,
        incident_id,
        {"id": row.id, "stix_id": row.stix_id, "collection": row.collection_id},
    )


@router.put("/{incident_id}/entity", response_model=None)
def put_entity(
    incident_id: Id, body: ProfileIn, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any] | Response:
    """Set the affected entity's profile."""
    data = body.model_dump()
    data["org"] = data.pop("organisation")
    service.set_profile(session=session, principal=principal, incident_id=incident_id, **data)
    session.commit()
    prof = service.profile(session=session, incident_id=incident_id)
    return _seen(session, principal, incident_id, prof.__dict__ if prof else {})


@router.put("/{incident_id}/entities/{key}", response_model=None)
def put_further_entity(
    incident_id: Id,
    key: Annotated[str, Path(min_length=1, max_length=32)],
    body: ProfileIn,
    session: DbSession,
    principal: CurrentPrincipal,
) -> dict[str, Any] | Response:
    """Add or change a further affected entity (a subsidiary, a customer) under ``key``."""
    data = body.model_dump()
    data["org"] = data.pop("organisation")
    row = service.set_entity(
        session=session, principal=principal, incident_id=incident_id, key=key, **data
    )
    session.commit()
    return _seen(session, principal, incident_id, {"key": row.key, "name": row.name})


@router.delete("/{incident_id}/entities/{key}", status_code=204)
def delete_further_entity(
    incident_id: Id,
    key: Annotated[str, Path(min_length=1, max_length=32)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """Remove a further affected entity and its own facts."""
    service.remove_entity(session=session, principal=principal, incident_id=incident_id, key=key)
    session.commit()
    return Response(status_code=204)


@router.patch("/{incident_id}/facts", response_model=None)
def patch_facts(
    incident_id: Id, body: FactsIn, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any] | Response:
    """Record impact facts; a null value clears one. Returns the current facts."""
    facts = service.set_facts(
        session=session,
        principal=principal,
        incident_id=incident_id,
        values=body.facts,
        entity=body.entity,
    )
    session.commit()
    return _seen(session, principal, incident_id, {"facts": reports.plain(facts)})


@router.get("/{incident_id}/obligations")
def obligations(incident_id: Id, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Return significance and every report owed, country by country, with status."""
    _, results = flows.assess(session=session, principal=principal, incident_id=incident_id)
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
        submitted_at=_aware(body.submitted_at),
        entity=body.entity,
    )
    session.commit()
    return _seen(session, principal, incident_id, out)
