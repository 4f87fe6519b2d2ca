"""Links from an incident to the hub's STIX objects: link one, list those the viewer may read.

Both sides go through :func:`varsel.policy.restrict`: the incident needs WRITE to link, and
an object is linked or shown only if the caller may read it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import InvalidInput, NotFound
from varsel.incidents import service
from varsel.incidents.models import Incident, ObjectLink
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import StixObject


def link_object(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    stix_id: str,
    collection_id: str | None,
    note: str = "",
) -> ObjectLink:
    """Link a STIX object the caller may read to an incident the caller may change.

    Without ``collection_id`` the link names the collection of the newest version of the object
    the caller may read, so nobody has to know collection ids to link what they see.
    """
    service.get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    found = select(StixObject.collection_id).where(StixObject.stix_id == stix_id)
    if collection_id:
        found = found.where(StixObject.collection_id == collection_id)
    readable = session.execute(
        restrict(found, principal, Action.READ)
        .order_by(StixObject.date_added_us.desc(), StixObject.id.desc())
        .limit(1)
    ).first()
    if readable is None:
        where = f" in collection {collection_id}" if collection_id else ""
        raise NotFound(f"no object {stix_id}{where} that you may read")
    collection_id = str(readable[0])
    if session.execute(
        select(ObjectLink.id).where(
            ObjectLink.incident_id == incident_id,
            ObjectLink.stix_id == stix_id,
            ObjectLink.collection_id == collection_id,
        )
    ).first():
        raise InvalidInput(f"{stix_id} is already linked to incident {incident_id}")
    link = ObjectLink(
        incident_id=incident_id,
        stix_id=stix_id,
        collection_id=collection_id,
        note=note,
        linked_by=principal.label,
        linked_at=utcnow(),
    )
    session.add(link)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.link",
        target=str(incident_id),
        details={"stix_id": stix_id, "collection": collection_id},
    )
    return link


def visible_links(
    *, session: Session, principal: Principal, incident_id: int
) -> list[dict[str, Any]]:
    """Return the incident's linked objects that ``principal`` may read (latest versions)."""
    links = (
        session.execute(
            select(ObjectLink).where(ObjectLink.incident_id == incident_id).order_by(ObjectLink.id)
        )
        .scalars()
        .all()
    )
    out = []
    for link in links:
        row = (
            session.execute(
                restrict(
                    select(StixObject).where(
                        StixObject.stix_id == link.stix_id,
                        StixObject.collection_id == link.collection_id,
                        StixObject.is_latest.is_(True),
                    ),
                    principal,
                    Action.READ,
                )
            )
            .scalars()
            .first()
        )
        if row is None:
            continue
        obj = json.loads(row.raw)
        out.append(
            {
                "stix_id": link.stix_id,
                "collection": link.collection_id,
                "type": row.type,
                "name": row.name,
                "tlp": row.tlp,
                "pattern": obj.get("pattern"),
                "note": link.note,
            }
        )
    return out


def linked_incidents(*, session: Session, principal: Principal, stix_id: str) -> list[Incident]:
    """Return the incidents ``principal`` may read that link ``stix_id``, newest first."""
    linked = select(ObjectLink.incident_id).where(ObjectLink.stix_id == stix_id)
    query = select(Incident).where(Incident.id.in_(linked)).order_by(Incident.id.desc())
    return list(session.execute(restrict(query, principal, Action.READ)).scalars())


def linkable_incidents(*, session: Session, principal: Principal, stix_id: str) -> list[Incident]:
    """Return the incidents ``principal`` may read and change that do not link ``stix_id`` yet.

    Both READ and WRITE: a hub-admin may change incidents it may not read, and offering one
    by title in a list would show what it may not read.
    """
    linked = select(ObjectLink.incident_id).where(ObjectLink.stix_id == stix_id)
    query = select(Incident.id).where(Incident.id.not_in(linked))
    writable = restrict(query, principal, Action.WRITE)
    readable = restrict(
        select(Incident).where(Incident.id.in_(writable)), principal, Action.READ
    ).order_by(Incident.id.desc())
    return list(session.execute(readable).scalars())
