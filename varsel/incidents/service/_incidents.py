"""Incidents themselves: open, read through the policy, list and change.

:func:`get` is the gate every other part of the service passes first: it reads the incident
through :func:`varsel.policy.restrict` and tells a refused change (Forbidden) from an incident
the caller may not even see (NotFound).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import Forbidden, InvalidInput, NotFound
from varsel.incidents import taxonomy
from varsel.incidents.models import Incident, Participant, ParticipantRole, Severity, Status
from varsel.incidents.service._fields import choice, clean_text, emails, tlp_level, webhook
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal


def create(
    *,
    session: Session,
    principal: Principal,
    title: str,
    summary: str = "",
    severity: str = "medium",
    tlp: str = "amber",
    classification: str | None = None,
    notify_emails: list[str] | None = None,
    webhook_url: str | None = None,
) -> Incident:
    """Open an incident led by the caller's organisation."""
    title = title.strip()
    if not title:
        raise InvalidInput("an incident needs a title", field="title")
    clean_text(title, 300, "the title")
    now = utcnow()
    incident = Incident(
        title=title,
        summary=summary,
        status=Status.OPEN.value,
        severity=choice(severity, Severity, "severity", "severity"),
        tlp=tlp_level(tlp),
        classification=taxonomy.check(classification) if classification else None,
        notify_emails=emails(notify_emails or []),
        webhook_url=webhook(webhook_url),
        created_by=principal.label,
        created_at=now,
        updated_at=now,
    )
    session.add(incident)
    session.flush()
    session.add(
        Participant(
            incident_id=incident.id,
            org_id=principal.org_id,
            user_id=None,
            role=ParticipantRole.LEAD.value,
            added_at=now,
        )
    )
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.create",
        target=str(incident.id),
        details={"tlp": incident.tlp},
    )
    return incident


def get(
    *, session: Session, principal: Principal, incident_id: int, action: Action = Action.READ
) -> Incident:
    """Return the incident if the policy lets ``principal`` do ``action`` to it, else NotFound."""
    row = session.execute(
        restrict(select(Incident).where(Incident.id == incident_id), principal, action)
    ).scalar_one_or_none()
    if row is not None:
        return row
    if (
        action is not Action.READ
        and session.execute(
            restrict(select(Incident.id).where(Incident.id == incident_id), principal, Action.READ)
        ).first()
    ):
        raise Forbidden("only the incident's lead or a hub-admin may change it")
    raise NotFound(f"no incident {incident_id}")


def readable(*, session: Session, principal: Principal, incident_id: int) -> bool:
    """Return whether the policy lets ``principal`` read the incident."""
    query = select(Incident.id).where(Incident.id == incident_id)
    return session.execute(restrict(query, principal, Action.READ)).first() is not None


def keep_reach(*, session: Session, principal: Principal, incident_id: int, was: bool) -> None:
    """Refuse a change that lets its author read an incident it could not read before.

    A hub-admin may change every incident the policy lets it write, TLP:RED ones included,
    but a write is never a way in: making the incident CLEAR or naming oneself (or one's own
    organisation) a participant would otherwise grant the writer its own read access. The
    caller's unit of work is not committed, so raising here undoes the change.
    """
    if was:
        return
    session.flush()
    if readable(session=session, principal=principal, incident_id=incident_id):
        raise Forbidden(
            "this change would let you read an incident you may not read; a participant "
            "of the incident must invite you"
        )


def list_incidents(
    *, session: Session, principal: Principal, status: str | None = None
) -> list[Incident]:
    """Return the incidents the caller may read, newest first."""
    query = select(Incident).order_by(Incident.id.desc())
    if status:
        query = query.where(Incident.status == choice(status, Status, "status"))
    return list(session.execute(restrict(query, principal, Action.READ)).scalars())


def update(
    *, session: Session, principal: Principal, incident_id: int, changes: Mapping[str, Any]
) -> Incident:
    """Change an incident's title, summary, status, severity, classification, TLP or contacts."""
    incident = get(
        session=session, principal=principal, incident_id=incident_id, action=Action.WRITE
    )
    was = readable(session=session, principal=principal, incident_id=incident_id)
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None and key not in {"classification", "webhook_url"}:
            continue
        if key == "title":
            if not str(value).strip():
                raise InvalidInput("an incident needs a title", field="title")
            clean[key] = clean_text(str(value).strip(), 300, "the title")
        elif key == "summary":
            clean[key] = str(value)
        elif key == "status":
            clean[key] = choice(value, Status, "status")
        elif key == "severity":
            clean[key] = choice(value, Severity, "severity")
        elif key == "tlp":
            clean[key] = tlp_level(value)
        elif key == "classification":
            clean[key] = taxonomy.check(value) if value else None
        elif key == "notify_emails":
            clean[key] = emails(list(value))
        elif key == "webhook_url":
            clean[key] = webhook(value)
        else:
            raise InvalidInput(f"an incident has no field {key!r}")
    for key, value in clean.items():
        setattr(incident, key, value)
    incident.updated_at = utcnow()
    keep_reach(session=session, principal=principal, incident_id=incident_id, was=was)
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.update",
        target=str(incident_id),
        details={k: v for k, v in clean.items() if k not in {"summary", "title"}},
    )
    return incident
