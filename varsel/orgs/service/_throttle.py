"""Guesses that cost more the more of them fail: waits per key, kept in the database.

Used where a failure answers a question an attacker could ask again and again: a password for
an (account, address) pair, and whether a username exists when a share names an account the
sender cannot see. After ``free`` failures of a key, each further failure doubles the wait
(1 s, 2 s, 4 s, … up to ``ceiling``); a success may clear the key. Keys are SHA-256 digests, so
the table holds no plaintext names or addresses, and it lives in the database so that every
worker and every hub process sees the same counts.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from varsel.clock import utcnow
from varsel.orgs.models import AuthFailure


def throttle_key(*parts: str) -> str:
    """Return the key of a throttled pair (a digest: the table holds no plaintext)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def wait_seconds(failures: int, free: int, ceiling: int) -> int:
    """Return the wait after ``failures`` failures: none within ``free``, then 1, 2, 4… s."""
    if failures < free:
        return 0
    return int(min(2 ** min(failures - free, 30), ceiling))


def current_wait(*, session: Session, key: str) -> int:
    """Return how many seconds ``key`` must still wait (0 if it may try now)."""
    row = session.get(AuthFailure, key)
    now = utcnow()
    if row is None or row.blocked_until is None or row.blocked_until <= now:
        return 0
    return int((row.blocked_until - now).total_seconds()) + 1


def count_failure(*, session: Session, key: str, free: int, ceiling: int) -> int:
    """Count one failure of ``key``; return its number (the caller commits)."""
    now = utcnow()
    # Forget counts nobody added to for a day, so guesses at made-up names cannot pile up.
    session.execute(
        delete(AuthFailure).where(
            AuthFailure.updated_at < now - timedelta(days=1), AuthFailure.key != key
        )
    )
    row = session.get(AuthFailure, key)
    if row is None:
        row = AuthFailure(key=key, failures=0, updated_at=now)
        session.add(row)
    row.failures += 1
    row.updated_at = now
    wait = wait_seconds(row.failures, free, ceiling)
    row.blocked_until = now + timedelta(seconds=wait) if wait else None
    return row.failures


def clear(*, session: Session, key: str) -> None:
    """Forget the failures of ``key`` (after a success)."""
    session.execute(delete(AuthFailure).where(AuthFailure.key == key))
