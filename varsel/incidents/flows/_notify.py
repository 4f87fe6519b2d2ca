"""Deadline reminders and overdue notices, sent once per target by a system job.

Each notification is claimed in the notification log (and committed) before it is sent, so
two runs never send it twice; a failed one is tried again by later runs, up to
``max_attempts`` attempts in all.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import naive, utcnow
from varsel.incidents.flows._engine import entity_results, load_incident
from varsel.incidents.models import Incident, NotificationLog, Status
from varsel.reporting import notify as notifying
from varsel.reporting import obligations as engine

log = logging.getLogger("varsel.incidents")


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
        if not loaded.affected:
            continue
        for obligation in engine.flatten(entity_results(loaded, now)):
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
    # A further entity's key joins the notification's key; the first entity's keys stay as
    # they were before incidents had several entities, so nothing is sent twice.
    key = _key(
        incident.id,
        *([obligation.entity] if obligation.entity else []),
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
            entity=obligation.entity,
            country=obligation.country,
            stage=obligation.stage,
            kind=kind,
            channel=channel,
            target=target,
            deadline=naive(obligation.deadline),
            status="pending",
            attempts=0,
            created_at=naive(now),
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


def _whose(obligation: engine.Obligation) -> str:
    # Entity names are not sent (they may be what the TLP protects); the key tells them apart.
    return f" (entity {obligation.entity})" if obligation.entity else ""


def _payload(incident: Incident, obligation: engine.Obligation, kind: str) -> dict[str, Any]:
    data = obligation.as_dict()
    latest = data["deadline_kind"] == "latest"
    verb = "is OVERDUE since" if kind == "overdue" else "is due by"
    if latest:
        verb += " at the latest"
    subject = (
        f"[Varsel] incident #{incident.id}: {obligation.title} to "
        f"{obligation.country}{_whose(obligation)} {verb} {data['deadline_local']}"
    )
    text = (
        f"Incident #{incident.id}\n{obligation.title} ({obligation.stage}) for "
        f"{obligation.country}{_whose(obligation)}\nRecipient: {obligation.recipient}\n"
        f"Deadline: {data['deadline_utc']} UTC / {data['deadline_local']} "
        f"({obligation.timezone})\nRule: {obligation.rule}\n"
        + (
            f"Latest permissible deadline; not known yet: {', '.join(data['missing_facts'])}\n"
            if latest
            else ""
        )
        + f"{'Owed if the incident is significant.' if obligation.conditional else ''}\n"
    )
    return {
        "event": f"incident.report.{kind}",
        "incident": incident.id,
        "entity": obligation.entity,
        "country": obligation.country,
        "stage": obligation.stage,
        "recipient": obligation.recipient,
        "deadline_utc": data["deadline_utc"],
        "deadline_local": data["deadline_local"],
        "deadline_kind": data["deadline_kind"],
        "missing_facts": data["missing_facts"],
        "conditional": obligation.conditional,
        "subject": subject,
        "text": text,
    }
