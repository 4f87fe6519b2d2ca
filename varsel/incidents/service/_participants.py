"""Who takes part in an incident: invite organisations or single users, remove them, list them.

Changes need the incident's WRITE; an incident always keeps at least one lead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import Conflict, Forbidden, InvalidInput, NotFound
from varsel.incidents.models import Participant, ParticipantRole
from varsel.incidents.service._fields import choice
from varsel.incidents.service._incidents import get, keep_reach, readable
from varsel.orgs import service as orgs
from varsel.orgs.models import Organisation, User
from varsel.policy import Action
from varsel.policy.principal import Principal


def add_participant(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    role: str,
    org: str | None = None,
    username: str | None = None,
) -> Participant:
    """Invite an organisation (e.g. a national CSIRT) or a single user with a role."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    was = readable(session=session, principal=principal, incident_id=incident_id)
    if (org is None) == (username is None):
        raise InvalidInput("name either an organisation or a user, not both")
    role = choice(role, ParticipantRole, "participant role")
    org_id = orgs.get_org(session=session, name=org).id if org else None
    user_id = orgs.get_user(session=session, username=username).id if username else None
    taken = select(Participant.id).where(
        Participant.incident_id == incident_id,
        Participant.org_id.is_(org_id) if org_id is None else Participant.org_id == org_id,
        Participant.user_id.is_(user_id) if user_id is None else Participant.user_id == user_id,
    )
    if session.execute(taken).first():
        if not was:
            # Who takes part is itself part of what the incident's TLP protects.
            raise Forbidden("you may not read this incident's participants")
        raise Conflict(f"{org or username} already takes part in incident {incident_id}")
    row = Participant(
        incident_id=incident_id, org_id=org_id, user_id=user_id, role=role, added_at=utcnow()
    )
    session.add(row)
    keep_reach(session=session, principal=principal, incident_id=incident_id, was=was)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.participant.add",
        target=str(incident_id),
        details={"org": org, "user": username, "role": role},
    )
    return row


def remove_participant(
    *, session: Session, principal: Principal, incident_id: int, participant_id: int
) -> None:
    """Remove a participant; the last lead cannot be removed."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    row = session.get(Participant, participant_id)
    if row is None or row.incident_id != incident_id:
        raise NotFound(f"no participant {participant_id} in incident {incident_id}")
    leads = [
        p
        for p in participants(session=session, incident_id=incident_id)
        if p["role"] == ParticipantRole.LEAD.value
    ]
    if row.role == ParticipantRole.LEAD.value and len(leads) <= 1:
        raise Conflict("an incident keeps at least one lead")
    session.execute(delete(Participant).where(Participant.id == participant_id))
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.participant.remove",
        target=str(incident_id),
        details={"participant": participant_id},
    )


def participants(*, session: Session, incident_id: int) -> list[dict[str, Any]]:
    """Return the participants of an incident the caller already may read."""
    rows = session.execute(
        select(Participant, Organisation.name, Organisation.country, User.username)
        .outerjoin(Organisation, Organisation.id == Participant.org_id)
        .outerjoin(User, User.id == Participant.user_id)
        .where(Participant.incident_id == incident_id)
        .order_by(Participant.id)
    )
    return [
        {"id": p.id, "role": p.role, "organisation": org, "country": country, "user": username}
        for p, org, country, username in rows
    ]
