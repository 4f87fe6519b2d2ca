"""Expiry warnings: 60, 30 and 7 days before a clearance's last valid day, to its officers.

The security officers concerned are the org-admins of the person's employer; when the employer
has none, the hub-admins are told instead. Each (clearance, threshold, officer) is sent once:
the notice row is the record and the guard, so running the command twice sends nothing new.
When a run misses a threshold (the hub was off), only the nearest due threshold is sent.

E-mail goes through the hub's one SMTP relay (``VARSEL_SMTP_*``, :mod:`varsel.mail`) when the
officer's username is an e-mail address and a host is set; otherwise the notice is kept in the
outbox (the table) for the web pages to show.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel import config, mail
from varsel.audit import service as audit
from varsel.clearances.models import Clearance, ExpiryNotice, Person
from varsel.clock import utcnow
from varsel.config import SmtpSettings
from varsel.orgs.models import Organisation, Role, User

THRESHOLDS = (60, 30, 7)

Mailer = Callable[[str, str, str], None]


def smtp_mailer(smtp: SmtpSettings | None = None) -> Mailer | None:
    """Return a mailer for the hub's SMTP relay (``smtp`` or the process's), or None when no
    host is configured."""
    relay = smtp or config.current().smtp
    if not relay.host:
        return None

    def send(to: str, subject: str, body: str) -> None:
        mail.send(relay, to=to, subject=subject, text=body, timeout=30)

    return send


@dataclass(frozen=True, slots=True)
class SentNotice:
    """One warning produced by a run."""

    clearance_id: int
    days_ahead: int
    recipient: str
    channel: str
    status: str


def _due_threshold(days_left: int) -> int | None:
    due = [t for t in THRESHOLDS if days_left <= t]
    return min(due) if due else None


def _officers(session: Session, employer_org_id: int) -> list[User]:
    officers = list(
        session.execute(
            select(User)
            .where(User.org_id == employer_org_id, User.role == Role.ORG_ADMIN.value)
            .order_by(User.id)
        ).scalars()
    )
    if officers:
        return officers
    return list(
        session.execute(
            select(User).where(User.role == Role.HUB_ADMIN.value).order_by(User.id)
        ).scalars()
    )


def send_expiry_warnings(
    *, session: Session, today: date | None = None, mailer: Mailer | None = None, actor: str = "cli"
) -> list[SentNotice]:
    """Send the due expiry warnings once each and record them; return what this run sent."""
    today = today or datetime.now(UTC).date()
    horizon = today + timedelta(days=max(THRESHOLDS))
    rows = session.execute(
        select(Clearance, Person)
        .join(Person, Person.id == Clearance.person_id)
        .where(
            Clearance.revoked_at.is_(None),
            Clearance.valid_until >= today,
            Clearance.valid_until <= horizon,
        )
        .order_by(Clearance.valid_until, Clearance.id)
    ).all()
    sent: list[SentNotice] = []
    for clearance, person in rows:
        threshold = _due_threshold((clearance.valid_until - today).days)
        if threshold is None:
            continue
        employer = session.get(Organisation, person.employer_org_id)
        for officer in _officers(session, person.employer_org_id):
            earlier = (
                session.execute(
                    select(ExpiryNotice).where(
                        ExpiryNotice.clearance_id == clearance.id,
                        ExpiryNotice.recipient_user_id == officer.id,
                        ExpiryNotice.days_ahead <= threshold,
                    )
                )
                .scalars()
                .all()
            )
            if any(n.status != "failed" for n in earlier):
                continue
            # A failed e-mail is retried on the next run, in the same notice row.
            retry = next((n for n in earlier if n.days_ahead == threshold), None)
            subject = (
                f"Clearance of {person.name} expires on {clearance.valid_until} "
                f"({threshold} days' notice)"
            )
            body = (
                f"The {clearance.country} {clearance.level} clearance ({clearance.scope}) "
                f"of {person.name}, {employer.name if employer else ''}, issued by "
                f"{clearance.authority}, is valid until {clearance.valid_until} inclusive "
                f"({clearance.country} time). Renew it in time or access to classified "
                f"material in the hub stops the day after.\n"
            )
            channel, status = "outbox", "recorded"
            if mailer is not None and "@" in officer.username:
                channel = "email"
                try:
                    mailer(officer.username, subject, body)
                    status = "sent"
                except (OSError, smtplib.SMTPException):
                    status = "failed"
            if retry is not None:
                retry.channel, retry.status, retry.created_at = channel, status, utcnow()
            else:
                session.add(
                    ExpiryNotice(
                        clearance_id=clearance.id,
                        days_ahead=threshold,
                        recipient_user_id=officer.id,
                        address=officer.username,
                        channel=channel,
                        status=status,
                        subject=subject[:300],
                        created_at=utcnow(),
                    )
                )
            session.flush()
            audit.record(
                session=session,
                actor=actor,
                action="clearance.expiry.notify",
                target=f"clearance:{clearance.id}",
                details={
                    "days_ahead": threshold,
                    "to": officer.username,
                    "channel": channel,
                    "status": status,
                },
            )
            sent.append(SentNotice(clearance.id, threshold, officer.username, channel, status))
    return sent
