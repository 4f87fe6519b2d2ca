"""The incident workspace over REST: the incident, its people, timeline, tasks, links, facts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from varsel.clock import aware
from varsel.http.deps import CurrentPrincipal, DbSession
from varsel.incidents import flows, service
from varsel.incidents.schemas import (
    EntryIn,
    FactsIn,
    IncidentIn,
    IncidentPatch,
    LinkIn,
    ParticipantIn,
    ProfileIn,
    TaskIn,
    TaskPatch,
)
from varsel.incidents.views._common import PREFIX, Id, detail_of, require_offset, seen, summary_of
from varsel.reporting import reports
from varsel.reporting.obligations import iso

router = APIRouter(prefix=PREFIX, tags=["incidents"])


@router.get("")
def list_incidents(
    session: DbSession, principal: CurrentPrincipal, status: str | None = None
) -> list[dict[str, Any]]:
    """List the incidents the caller may read, newest first."""
    return [
        summary_of(i)
        for i in service.list_incidents(session=session, principal=principal, status=status)
    ]


@router.post("", status_code=201)
def create(body: IncidentIn, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Open an incident led by the caller's organisation."""
    incident = service.create(session=session, principal=principal, **body.model_dump())
    session.commit()
    return detail_of(session, principal, incident)


@router.get("/{incident_id}")
def get(incident_id: Id, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Return the incident workspace."""
    incident = service.get(session=session, principal=principal, incident_id=incident_id)
    return detail_of(session, principal, incident)


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
    return seen(session, principal, incident_id, lambda: detail_of(session, principal, incident))


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
    return seen(session, principal, incident_id, {"id": row.id, "role": row.role})


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
        at=require_offset(body.at),
    )
    session.commit()
    return seen(
        session,
        principal,
        incident_id,
        {"id": entry.id, "at": iso(aware(entry.at)), "kind": entry.kind},
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
        due_at=require_offset(body.due_at),
    )
    session.commit()
    return seen(session, principal, incident_id, {"id": task.id, "title": task.title})


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
    return seen(session, principal, incident_id, {"id": task.id, "done": task.done})


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
    return seen(
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
    return seen(session, principal, incident_id, prof.__dict__ if prof else {})


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
    return seen(session, principal, incident_id, {"key": row.key, "name": row.name})


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
    return seen(session, principal, incident_id, {"facts": reports.plain(facts)})
