"""Append to and verify the hash-chained audit log.

Each event's hash is SHA-256 over the previous hash and the event's canonical JSON, so an edit,
deletion or reordering anywhere breaks every later link. Appenders lock the single head row, so
the chain has one order even with several workers on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from varsel.audit.models import AuditEvent, AuditHead
from varsel.clock import utcnow

GENESIS = "0" * 64


def _digest(
    prev_hash: str, seq: int, at: datetime, actor: str, action: str, target: str, details: str
) -> str:
    body = json.dumps(
        [seq, at.isoformat(), actor, action, target, details],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def record(
    *, session: Session, actor: str, action: str, target: str, details: dict[str, Any] | None = None
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction."""
    # The UPDATE takes the head row's lock (the database's write lock on SQLite) first, so the
    # read of last_hash below cannot interleave with another appender.
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(count=AuditHead.count))
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, last_hash=GENESIS, count=0)
        session.add(head)
        session.flush()
    at = utcnow()
    text = json.dumps(details or {}, ensure_ascii=False, sort_keys=True, default=str)
    seq = head.count + 1
    digest = _digest(head.last_hash, seq, at, actor, action, target, text)
    event = AuditEvent(
        id=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=text,
        prev_hash=head.last_hash,
        hash=digest,
    )
    session.add(event)
    head.last_hash = digest
    head.count = seq
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    """The outcome of verifying the chain."""

    ok: bool
    events: int
    first_bad: int | None
    problem: str | None


def verify(*, session: Session) -> ChainReport:
    """Recompute the whole chain and report the first event that does not fit."""
    prev = GENESIS
    count = 0
    for event in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        count += 1
        if event.id != count:
            return ChainReport(False, count, event.id, f"event {count} is missing")
        if event.prev_hash != prev:
            return ChainReport(False, count, event.id, "link to the previous event is broken")
        expected = _digest(
            prev, event.id, event.at, event.actor, event.action, event.target, event.details
        )
        if expected != event.hash:
            return ChainReport(False, count, event.id, "event content does not match its hash")
        prev = event.hash
    head = session.get(AuditHead, 1)
    if head is not None and (head.count != count or head.last_hash != prev):
        return ChainReport(False, count, None, "events after the last one were removed")
    return ChainReport(True, count, None, None)


def recent(*, session: Session, limit: int = 100) -> list[AuditEvent]:
    """Return the newest events first."""
    return list(
        session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).scalars()
    )
