"""Incidents, participants, timeline, tasks, entity profile and impact facts: plain functions.

Every read goes through :func:`varsel.policy.restrict` on :class:`Incident`; the rows that hang
off an incident are read only after the incident itself was found readable. Writes need the
policy's WRITE (the lead or a hub-admin) and are recorded in the audit log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import Conflict, Forbidden, InvalidInput, NotFound
from varsel.incidents import taxonomy
from varsel.incidents.models import (
    EntityProfile,
    ImpactFact,
    Incident,
    Participant,
    ParticipantRole,
    ReportSubmission,
    Severity,
    Status,
    Task,
    TimelineEntry,
)
from varsel.orgs import service as orgs
from varsel.orgs.models import Organisation, User
from varsel.orgs.service import Principal
from varsel.policy import Action, restrict
from varsel.reporting import facts as factreg
from varsel.sharing.tlp import TLP

_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
ENTITY_TYPES = (
    "dns",
    "tld",
    "cloud",
    "data-centre",
    "cdn",
    "msp",
    "mssp",
    "marketplace",
    "search-engine",
    "social-network",
    "trust-service",
    "electronic-communications",
)
NIS2_CLASSES = ("essential", "important")
DORA_KINDS = (
    "credit-institution",
    "central-counterparty",
    "trading-venue",
    "investment-firm",
    "payment-institution",
    "insurance-undertaking",
    "other",
)


def naive(moment: datetime) -> datetime:
    """Return ``moment`` as the naive UTC datetime the database stores."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def aware(moment: datetime | None) -> datetime | None:
    """Return a stored naive UTC datetime as an aware one."""
    return moment.replace(tzinfo=UTC) if moment is not None else None


def _choice(value: str, allowed: tuple[str, ...] | type[Any], what: str) -> str:
    options = tuple(v.value for v in allowed) if isinstance(allowed, type) else allowed
    value = value.strip().lower()
    if value not in options:
        raise InvalidInput(f"unknown {what} {value!r}; expected one of {', '.join(options)}")
    return value


def _tlp(value: str) -> str:
    try:
        return TLP.parse(value).value
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _emails(values: list[str]) -> str:
    for value in values:
        if len(value) > 254 or not _EMAIL.match(value):
            raise InvalidInput(f"{value[:60]!r} is not an e-mail address")
    joined = ",".join(values)
    if len(joined) > 2000:
        raise InvalidInput("the notification addresses exceed 2,000 characters together")
    return joined


def _webhook(url: str | None) -> str | None:
    if url is None or url == "":
        return None
    if len(url) > 2000 or not re.match(r"^https?://[^\s/]+", url):
        raise InvalidInput("a webhook URL must start with http:// or https://")
    return url


def _text(value: str | None, limit: int, what: str) -> str | None:
    if value is not None and len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return value


def _countries(values: list[str] | tuple[str, ...], what: str) -> str:
    if len(values) > 40:
        raise InvalidInput(f"{what}: at most 40 countries")
    codes = [v.strip().upper() for v in values if v.strip()]
    for code in codes:
        if not _COUNTRY.match(code):
            raise InvalidInput(f"{what}: {code!r} is not an ISO 3166-1 alpha-2 code")
    return " ".join(dict.fromkeys(codes))


# Incidents -------------------------------------------------------------------------------


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
        raise InvalidInput("an incident needs a title")
    _text(title, 300, "the title")
    now = utcnow()
    incident = Incident(
        title=title,
        summary=summary,
        status=Status.OPEN.value,
        severity=_choice(severity, Severity, "severity"),
        tlp=_tlp(tlp),
        classification=taxonomy.check(classification) if classification else None,
        notify_emails=_emails(notify_emails or []),
        webhook_url=_webhook(webhook_url),
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


def list_incidents(
    *, session: Session, principal: Principal, status: str | None = None
) -> list[Incident]:
    """Return the incidents the caller may read, newest first."""
    query = select(Incident).order_by(Incident.id.desc())
    if status:
        query = query.where(Incident.status == _choice(status, Status, "status"))
    return list(session.execute(restrict(query, principal, Action.READ)).scalars())


def update(
    *, session: Session, principal: Principal, incident_id: int, changes: Mapping[str, Any]
) -> Incident:
    """Change an incident's title, summary, status, severity, classification, TLP or contacts."""
    incident = get(
        session=session, principal=principal, incident_id=incident_id, action=Action.WRITE
    )
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None and key not in {"classification", "webhook_url"}:
            continue
        if key == "title":
            if not str(value).strip():
                raise InvalidInput("an incident needs a title")
            clean[key] = _text(str(value).strip(), 300, "the title")
        elif key == "summary":
            clean[key] = str(value)
        elif key == "status":
            clean[key] = _choice(value, Status, "status")
        elif key == "severity":
            clean[key] = _choice(value, Severity, "severity")
        elif key == "tlp":
            clean[key] = _tlp(value)
        elif key == "classification":
            clean[key] = taxonomy.check(value) if value else None
        elif key == "notify_emails":
            clean[key] = _emails(list(value))
        elif key == "webhook_url":
            clean[key] = _webhook(value)
        else:
            raise InvalidInput(f"an incident has no field {key!r}")
    for key, value in clean.items():
        setattr(incident, key, value)
    incident.updated_at = utcnow()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.update",
        target=str(incident_id),
        details={k: v for k, v in clean.items() if k not in {"summary", "title"}},
    )
    return incident


# Participants ----------------------------------------------------------------------------


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
    if (org is None) == (username is None):
        raise InvalidInput("name either an organisation or a user, not both")
    role = _choice(role, ParticipantRole, "participant role")
    org_id = orgs.get_org(session=session, name=org).id if org else None
    user_id = orgs.get_user(session=session, username=username).id if username else None
    taken = select(Participant.id).where(
        Participant.incident_id == incident_id,
        Participant.org_id.is_(org_id) if org_id is None else Participant.org_id == org_id,
        Participant.user_id.is_(user_id) if user_id is None else Participant.user_id == user_id,
    )
    if session.execute(taken).first():
        raise Conflict(f"{org or username} already takes part in incident {incident_id}")
    row = Participant(
        incident_id=incident_id, org_id=org_id, user_id=user_id, role=role, added_at=utcnow()
    )
    session.add(row)
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


# Timeline and tasks ----------------------------------------------------------------------


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
    kind = _choice(
        kind, ("note", "action", "mitigation", "communication", "finding"), "timeline kind"
    )
    if not text.strip():
        raise InvalidInput("a timeline entry needs text")
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
        raise InvalidInput("a task needs a title")
    _text(title.strip(), 300, "a task title")
    owner_id = orgs.get_user(session=session, username=owner).id if owner else None
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
    return [
        {"id": t.id, "title": t.title, "owner": name, "due_at": aware(t.due_at), "done": t.done}
        for t, name in rows
    ]


# Entity profile and facts ----------------------------------------------------------------


def set_profile(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    name: str,
    established_in: list[str],
    services_in: list[str] | None = None,
    main_establishment: str | None = None,
    nis2_class: str | None = None,
    sector: str | None = None,
    entity_type: str | None = None,
    nis1_scope: bool = False,
    dora_financial: bool = False,
    dora_entity_kind: str | None = None,
    org: str | None = None,
) -> EntityProfile:
    """Set the affected entity's profile, which decides the jurisdictions and rules."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    established = _countries(established_in, "established_in")
    if not established:
        raise InvalidInput("established_in needs at least one country")
    main = main_establishment.strip().upper() if main_establishment else None
    if main is not None and main not in established.split():
        raise InvalidInput(f"main establishment {main} is not among established_in")
    row = session.get(EntityProfile, incident_id) or EntityProfile(incident_id=incident_id)
    row.name = _text(name.strip(), 200, "the entity name") or "unnamed entity"
    row.org_id = orgs.get_org(session=session, name=org).id if org else None
    row.established_in = established
    row.main_establishment = main
    row.services_in = _countries(services_in or [], "services_in")
    row.nis2_class = _choice(nis2_class, NIS2_CLASSES, "NIS2 class") if nis2_class else None
    row.sector = _text(sector.strip().lower(), 100, "the sector") if sector else None
    row.entity_type = _choice(entity_type, ENTITY_TYPES, "entity type") if entity_type else None
    row.nis1_scope = nis1_scope
    row.dora_financial = dora_financial
    row.dora_entity_kind = (
        _choice(dora_entity_kind, DORA_KINDS, "DORA entity kind") if dora_entity_kind else None
    )
    if row.dora_entity_kind and not dora_financial:
        raise InvalidInput("a DORA entity kind needs dora_financial")
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.profile",
        target=str(incident_id),
        details={"established_in": established, "entity_type": row.entity_type},
    )
    return row


def profile(*, session: Session, incident_id: int) -> factreg.Profile | None:
    """Return the engine's view of the entity profile, or None when none was set."""
    row = session.get(EntityProfile, incident_id)
    if row is None:
        return None
    return factreg.Profile(
        name=row.name,
        established_in=tuple(row.established_in.split()),
        main_establishment=row.main_establishment,
        services_in=tuple(row.services_in.split()),
        nis2_class=row.nis2_class,
        sector=row.sector,
        entity_type=row.entity_type,
        nis1_scope=row.nis1_scope,
        dora_financial=row.dora_financial,
        dora_entity_kind=row.dora_entity_kind,
    )


def _encode(value: Any) -> str:
    if isinstance(value, datetime):
        return json.dumps(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))
    return json.dumps(value)


def set_facts(
    *, session: Session, principal: Principal, incident_id: int, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Record impact facts (None clears one); return the current facts. All or nothing."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    parsed = {name: factreg.parse_value(name, value) for name, value in values.items()}
    merged = {**current_facts(session=session, incident_id=incident_id), **parsed}
    factreg.check_order({k: v for k, v in merged.items() if v is not None})
    now = utcnow()
    for name, value in parsed.items():
        session.add(
            ImpactFact(
                incident_id=incident_id,
                name=name,
                value=_encode(value),
                recorded_at=now,
                recorded_by=principal.label,
            )
        )
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.facts",
        target=str(incident_id),
        details={"facts": sorted(parsed)},
    )
    return {k: v for k, v in merged.items() if v is not None}


def current_facts(*, session: Session, incident_id: int) -> dict[str, Any]:
    """Return the newest value of each fact of an incident (times as aware UTC)."""
    out: dict[str, Any] = {}
    rows = session.execute(
        select(ImpactFact).where(ImpactFact.incident_id == incident_id).order_by(ImpactFact.id)
    ).scalars()
    for row in rows:
        value = json.loads(row.value)
        if value is not None and factreg.FACTS[row.name][0] == factreg.TIME:
            value = factreg.parse_time(value, row.name)
        out[row.name] = value
    return {k: v for k, v in out.items() if v is not None}


# Submissions -----------------------------------------------------------------------------


def submissions(*, session: Session, incident_id: int) -> list[ReportSubmission]:
    """Return the report submissions recorded for an incident."""
    return list(
        session.execute(
            select(ReportSubmission)
            .where(ReportSubmission.incident_id == incident_id)
            .order_by(ReportSubmission.submitted_at)
        ).scalars()
    )


def record_submission(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    country: str,
    stage: str,
    channel: str,
    reference: str,
    submitted_at: datetime,
    snapshot: Mapping[str, Any],
) -> ReportSubmission:
    """Record that a stage's report was submitted (once per country and stage)."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    if not channel.strip():
        raise InvalidInput("say how the report was submitted (channel), e.g. 'web form'")
    _text(channel.strip(), 100, "the channel")
    _text(reference.strip(), 300, "the reference")
    exists_ = session.execute(
        select(ReportSubmission.id).where(
            ReportSubmission.incident_id == incident_id,
            ReportSubmission.country == country,
            ReportSubmission.stage == stage,
        )
    ).first()
    if exists_:
        raise Conflict(f"the {stage} for {country} was already recorded as submitted")
    row = ReportSubmission(
        incident_id=incident_id,
        country=country,
        stage=stage,
        submitted_at=naive(submitted_at),
        channel=channel.strip(),
        reference=reference.strip(),
        submitted_by=principal.label,
        snapshot=json.dumps(snapshot, sort_keys=True, default=str),
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.report.submit",
        target=str(incident_id),
        details={
            "country": country,
            "stage": stage,
            "channel": row.channel,
            "reference": row.reference,
            "submitted_at": submitted_at.astimezone(UTC).isoformat(),
        },
    )
    return row
