"""Work that crosses domains: incidents with the reporting engine and the hub's STIX objects.

Linked STIX objects are read through :func:`varsel.policy.restrict` on StixObject, so a viewer
sees (and a report is pre-filled with) only the objects that viewer may read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import InvalidInput, NotFound
from varsel.incidents import service
from varsel.incidents.models import Incident, NotificationLog, ObjectLink, Status
from varsel.orgs.service import Principal
from varsel.policy import Action, restrict
from varsel.reporting import notify as notifying
from varsel.reporting import obligations as engine
from varsel.reporting import reports
from varsel.reporting.facts import Profile
from varsel.reporting.rules import load
from varsel.sharing.models import StixObject

log = logging.getLogger("varsel.incidents")


# Links to STIX objects -------------------------------------------------------------------


def link_object(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    stix_id: str,
    collection_id: str,
    note: str = "",
) -> ObjectLink:
    """Link a STIX object the caller may read to an incident the caller may change."""
    service.get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    readable = session.execute(
        restrict(
            select(StixObject.id).where(
                StixObject.stix_id == stix_id, StixObject.collection_id == collection_id
            ),
            principal,
            Action.READ,
        )
    ).first()
    if readable is None:
        raise NotFound(f"no object {stix_id} in collection {collection_id}")
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


# The engine over one incident ------------------------------------------------------------


@dataclass
class Loaded:
    """An incident readable by the caller with what the engine needs."""

    incident: Incident
    profile: Profile | None
    facts: dict[str, Any]
    submitted: dict[tuple[str, str], datetime]
    snapshots: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def load_incident(
    *,
    session: Session,
    principal: Principal | None,
    incident_id: int,
    incident: Incident | None = None,
) -> Loaded:
    """Return the incident (read through the policy unless given) with profile and facts."""
    if incident is None:
        assert principal is not None
        incident = service.get(session=session, principal=principal, incident_id=incident_id)
    subs = service.submissions(session=session, incident_id=incident.id)
    return Loaded(
        incident=incident,
        profile=service.profile(session=session, incident_id=incident.id),
        facts=service.current_facts(session=session, incident_id=incident.id),
        submitted={(s.country, s.stage): s.submitted_at.replace(tzinfo=UTC) for s in subs},
        snapshots={(s.country, s.stage): json.loads(s.snapshot) for s in subs},
    )


def assess(
    *, session: Session, principal: Principal, incident_id: int, now: datetime | None = None
) -> tuple[Loaded, list[engine.JurisdictionResult]]:
    """Return the incident and, country by country, its reporting obligations."""
    loaded = load_incident(session=session, principal=principal, incident_id=incident_id)
    return loaded, _assess(loaded, now)


def _assess(loaded: Loaded, now: datetime | None) -> list[engine.JurisdictionResult]:
    if loaded.profile is None:
        raise InvalidInput(
            f"incident {loaded.incident.id} has no entity profile yet; set one "
            "(established_in, entity type, NIS2 class, DORA) first"
        )
    return engine.assess(
        profile=loaded.profile,
        facts=loaded.facts,
        now=now or datetime.now(UTC),
        submitted=loaded.submitted,
    )


def _find(
    results: list[engine.JurisdictionResult], country: str, stage: str
) -> tuple[engine.JurisdictionResult, engine.Obligation, str | None]:
    for result in results:
        if result.country != country:
            continue
        if not result.obligations:
            raise NotFound(f"no reports are owed in {country}: {result.reason}")
        previous = None
        for obligation in result.obligations:
            if obligation.stage == stage:
                return result, obligation, previous
            if obligation.deadline is not None or obligation.status == "submitted":
                previous = obligation.stage
        stages = ", ".join(o.stage for o in result.obligations) or "none"
        raise NotFound(f"no {stage!r} report is owed in {country}; owed there: {stages}")
    owed = ", ".join(sorted({r.country for r in results if r.obligations})) or "none"
    raise NotFound(f"no reports are owed in {country}; countries with reports: {owed}")


def report(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    country: str,
    stage: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Return the stage's report for ``country``, pre-filled from the incident."""
    now = now or datetime.now(UTC)
    loaded, results = assess(session=session, principal=principal, incident_id=incident_id, now=now)
    result, obligation, previous = _find(results, country.upper(), stage)
    rules = load()
    jurisdiction = (
        rules.dora if result.instrument == "dora" else rules.jurisdictions[result.country]
    )
    incident = loaded.incident
    entries = service.timeline(session=session, incident_id=incident.id)
    timeline: list[dict[str, Any]] = [
        {"at": service.aware(e.at), "kind": e.kind, "text": e.text} for e in entries
    ]
    sig = result.significance
    context = {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "summary": incident.summary,
            "status": incident.status,
            "severity": incident.severity,
            "classification": incident.classification,
            "tlp": incident.tlp,
        },
        "entity": loaded.profile.__dict__ if loaded.profile else {},
        "facts": loaded.facts,
        "assessment": (
            [*sig.explanation, *(f"unknown: {m}" for m in sig.as_dict()["missing"])] if sig else []
        ),
        "indicators": [
            link.get("pattern") or link["stix_id"]
            for link in visible_links(session=session, principal=principal, incident_id=incident.id)
        ],
        "timeline": [f"{e['at'].isoformat()} {e['text']}" for e in timeline],
        "timeline_entries": [{"at": e["at"], "text": e["text"]} for e in timeline],
        "mitigation": [e["text"] for e in timeline if e["kind"] == "mitigation"],
        "times": {
            k: loaded.facts.get(k)
            for k in ("detected_at", "aware_at", "classified_major_at", "resolved_at")
        },
    }
    return reports.build(
        obligation=obligation,
        jurisdiction=jurisdiction,
        context=context,
        previous=loaded.snapshots.get((result.country, previous)) if previous else None,
        previous_stage=previous,
        generated_at=now,
    )


def submit(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    country: str,
    stage: str,
    channel: str,
    reference: str = "",
    submitted_at: datetime | None = None,
) -> dict[str, Any]:
    """Record the stage's report as submitted now (or at ``submitted_at``), with its snapshot."""
    when = submitted_at or datetime.now(UTC)
    if when.tzinfo is None:
        raise InvalidInput("submitted_at needs a UTC offset")
    built = report(
        session=session,
        principal=principal,
        incident_id=incident_id,
        country=country,
        stage=stage,
        now=when,
    )
    row = service.record_submission(
        session=session,
        principal=principal,
        incident_id=incident_id,
        country=country.upper(),
        stage=stage,
        channel=channel,
        reference=reference,
        submitted_at=when,
        snapshot=built["snapshot"],
    )
    return {
        "country": row.country,
        "stage": row.stage,
        "channel": row.channel,
        "reference": row.reference,
        "submitted_by": row.submitted_by,
        "submitted_at": engine.iso(when),
    }


# The clock -------------------------------------------------------------------------------


def clock(
    *,
    session: Session,
    principal: Principal,
    now: datetime | None = None,
    within_hours: float | None = None,
) -> list[dict[str, Any]]:
    """Return every due and overdue report across the open incidents the caller may read."""
    now = now or datetime.now(UTC)
    rows = []
    for incident in service.list_incidents(session=session, principal=principal):
        if incident.status == Status.CLOSED.value:
            continue
        loaded = load_incident(
            session=session, principal=None, incident_id=incident.id, incident=incident
        )
        if loaded.profile is None:
            continue
        for obligation in engine.flatten(_assess(loaded, now)):
            if obligation.status not in {"due", "overdue"}:
                continue
            if (
                within_hours is not None
                and obligation.deadline is not None
                and (obligation.deadline - now > timedelta(hours=within_hours))
            ):
                continue
            rows.append(
                {
                    "incident": incident.id,
                    # Not "title": that is the obligation's (the stage's) own title.
                    "incident_title": incident.title,
                    "tlp": incident.tlp,
                    **obligation.as_dict(),
                }
            )
    rows.sort(key=lambda r: r["deadline_utc"] or "9999")
    return rows


# Notifications ---------------------------------------------------------------------------


@dataclass
class NotifyResult:
    """What one notification run did."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def _key(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def notify_due(
    *,
    session: Session,
    settings: notifying.NotifySettings,
    now: datetime,
    lead: timedelta = timedelta(hours=4),
    max_attempts: int = 5,
) -> NotifyResult:
    """Send each reminder (within ``lead`` of a deadline) and overdue notice once per target.

    This is a system job, not a viewer: it reads every open incident directly, and sends only
    the incident number, stage, authority and deadline to the addresses the incident's lead
    configured — never titles, summaries or facts — so it discloses nothing under TLP.
    Each (incident, country, stage, kind, deadline, channel, target) is claimed in the log
    before sending, so two runs never send the same notification twice.
    """
    result = NotifyResult()
    incidents = (
        session.execute(
            select(Incident).where(Incident.status != Status.CLOSED.value).order_by(Incident.id)
        )
        .scalars()
        .all()
    )
    for incident in incidents:
        targets = [("email", a) for a in incident.notify_emails.split(",") if a]
        if incident.webhook_url:
            targets.append(("webhook", incident.webhook_url))
        if not targets:
            continue
        loaded = load_incident(
            session=session, principal=None, incident_id=incident.id, incident=incident
        )
        if loaded.profile is None:
            continue
        for obligation in engine.flatten(_assess(loaded, now)):
            if obligation.deadline is None or obligation.status not in {"due", "overdue"}:
                continue
            if obligation.status == "overdue":
                kind = "overdue"
            elif obligation.deadline - now <= lead:
                kind = "reminder"
            else:
                continue
            for channel, target in targets:
                _send_once(
                    session,
                    settings,
                    incident,
                    obligation,
                    kind,
                    channel,
                    target,
                    now,
                    max_attempts,
                    result,
                )
    return result


def _send_once(
    session: Session,
    settings: notifying.NotifySettings,
    incident: Incident,
    obligation: engine.Obligation,
    kind: str,
    channel: str,
    target: str,
    now: datetime,
    max_attempts: int,
    result: NotifyResult,
) -> None:
    assert obligation.deadline is not None
    key = _key(
        incident.id,
        obligation.country,
        obligation.stage,
        kind,
        obligation.deadline.isoformat(),
        channel,
        target,
    )
    row = session.execute(
        select(NotificationLog).where(NotificationLog.key == key)
    ).scalar_one_or_none()
    if row is not None and (row.status != "failed" or row.attempts >= max_attempts):
        result.skipped += 1
        return
    if row is None:
        row = NotificationLog(
            key=key,
            incident_id=incident.id,
            country=obligation.country,
            stage=obligation.stage,
            kind=kind,
            channel=channel,
            target=target,
            deadline=service.naive(obligation.deadline),
            status="pending",
            attempts=0,
            created_at=service.naive(now),
        )
        session.add(row)
    row.status, row.attempts = "pending", row.attempts + 1
    # Commit the claim first: a concurrent run then hits the unique key instead of sending.
    session.commit()
    payload = _payload(incident, obligation, kind)
    try:
        if channel == "email":
            notifying.send_email(settings, target, payload["subject"], payload["text"])
        else:
            notifying.post_webhook(settings, target, payload)
    except notifying.DeliveryFailed as exc:
        row.status, row.error = "failed", str(exc)[:500]
        result.failed += 1
        result.errors.append(f"incident {incident.id} {obligation.stage} {channel}: {exc}")
        log.warning(
            "notification failed: incident %s %s via %s: %s",
            incident.id,
            obligation.stage,
            channel,
            exc,
        )
    else:
        row.status, row.sent_at, row.error = "sent", utcnow(), None
        result.sent += 1
        audit.record(
            session=session,
            actor="varsel-notify",
            action="incident.notify",
            target=str(incident.id),
            details={
                "country": obligation.country,
                "stage": obligation.stage,
                "kind": kind,
                "channel": channel,
            },
        )
    session.commit()


def _payload(incident: Incident, obligation: engine.Obligation, kind: str) -> dict[str, Any]:
    data = obligation.as_dict()
    verb = "is OVERDUE since" if kind == "overdue" else "is due by"
    subject = (
        f"[Varsel] incident #{incident.id}: {obligation.title} to "
        f"{obligation.country} {verb} {data['deadline_local']}"
    )
    text = (
        f"Incident #{incident.id}\n{obligation.title} ({obligation.stage}) for "
        f"{obligation.country}\nRecipient: {obligation.recipient}\n"
        f"Deadline: {data['deadline_utc']} UTC / {data['deadline_local']} "
        f"({obligation.timezone})\nRule: {obligation.rule}\n"
        f"{'Owed if the incident is significant.' if obligation.conditional else ''}\n"
    )
    return {
        "event": f"incident.report.{kind}",
        "incident": incident.id,
        "country": obligation.country,
        "stage": obligation.stage,
        "recipient": obligation.recipient,
        "deadline_utc": data["deadline_utc"],
        "deadline_local": data["deadline_local"],
        "conditional": obligation.conditional,
        "subject": subject,
        "text": text,
    }
