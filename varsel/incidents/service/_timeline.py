"""The incident's timeline entries and tasks: add them, mark tasks done, list both.

Entry and task texts stay out of the audit log, which records ids, kinds, owners and times,
because the text may hold what the incident's TLP protects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import aware, naive, utcnow
from varsel.errors import InvalidInput, NotFound
from varsel.incidents.models import Participant, Task, TimelineEntry
from varsel.incidents.service._fields import choice, clean_text, not_future
from varsel.incidents.service._incidents import get
from varsel.orgs import service as orgs
from varsel.orgs.models import User
from varsel.policy import Action
from varsel.policy.principal import Principal


def add_entry(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    text: str,
    kind: str = "note",
    at: datetime | None = None,
) -> TimelineEntry:
    """Add a timeline entry (kinds: note, action, mitigation, communication, finding)."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    kind = choice(
        kind, ("note", "action", "mitigation", "communication", "finding"), "timeline kind", "kind"
    )
    if not text.strip():
        raise InvalidInput("a timeline entry needs text", field="text")
    if at is not None:
        not_future(at, "the time of the entry", field="at")
    entry = TimelineEntry(
        incident_id=incident_id,
        at=naive(at) if at else utcnow(),
        kind=kind,
        text=text.strip(),
        author=principal.label,
    )
    session.add(entry)
    session.flush()
    # The text stays out of the audit log: it may hold what the incident's TLP protects.
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.timeline.add",
        target=str(incident_id),
        details={"entry": entry.id, "kind": kind, "at": entry.at.isoformat()},
    )
    return entry


def timeline(*, session: Session, incident_id: int) -> list[TimelineEntry]:
    """Return the timeline of an incident the caller already may read, oldest first."""
    return list(
        session.execute(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        ).scalars()
    )


def add_task(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    title: str,
    owner: str | None = None,
    due_at: datetime | None = None,
) -> Task:
    """Add a task with an optional owner (a username) and due time."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    if not title.strip():
        raise InvalidInput("a task needs a title", field="title")
    clean_text(title.strip(), 300, "a task title")
    try:
        owner_id = orgs.get_user(session=session, username=owner).id if owner else None
    except NotFound as exc:
        raise NotFound(exc.message, field="owner") from None
    if owner_id is not None and not _takes_part(session, incident_id, owner_id):
        raise InvalidInput(
            f"{owner} does not take part in incident {incident_id}; invite them (or their "
            "organisation) first",
            field="owner",
        )
    task = Task(
        incident_id=incident_id,
        title=title.strip(),
        owner_user_id=owner_id,
        due_at=naive(due_at) if due_at else None,
        done=False,
        created_at=utcnow(),
    )
    session.add(task)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.task.add",
        target=str(incident_id),
        details={
            "task": task.id,
            "owner": owner,
            "due_at": task.due_at.isoformat() if task.due_at else None,
        },
    )
    return task


def _takes_part(session: Session, incident_id: int, user_id: int) -> bool:
    """Return whether the user is a participant, by name or through its organisation."""
    user = session.get(User, user_id)
    org_id = user.org_id if user is not None else None
    named = select(Participant.id).where(
        Participant.incident_id == incident_id,
        or_(Participant.user_id == user_id, Participant.org_id == org_id),
    )
    return session.execute(named).first() is not None


def set_task_done(
    *, session: Session, principal: Principal, incident_id: int, task_id: int, done: bool
) -> Task:
    """Mark a task done or open again."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    task = session.get(Task, task_id)
    if task is None or task.incident_id != incident_id:
        raise NotFound(f"no task {task_id} in incident {incident_id}")
    task.done = done
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.task.done" if done else "incident.task.reopen",
        target=str(incident_id),
        details={"task": task_id},
    )
    return task


def tasks(*, session: Session, incident_id: int) -> list[dict[str, Any]]:
    """Return the tasks of an incident the caller already may read."""
    rows = session.execute(
        select(Task, User.username)
        .outerjoin(User, User.id == Task.owner_user_id)
        .where(Task.incident_id == incident_id)
        .order_by(Task.id)
    )
    now = utcnow()
    return [
        {
            "id": t.id,
            "title": t.title,
            "owner": name,
            "due_at": aware(t.due_at),
            "done": t.done,
            # An open task past its due time stands out in every view.
            "overdue": not t.done and t.due_at is not None and t.due_at < now,
        }
        for t, name in rows
    ]
