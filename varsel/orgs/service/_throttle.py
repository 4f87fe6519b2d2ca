"""Guesses that cost more the more of them fail: waits per key, kept in the database.

Used where a failure answers a question an attacker could ask again and again: a password for
an (account, address) pair, and whether a username exists when a share names an account the
sender cannot see. After ``free`` failures of a key, each further failure doubles the wait
(1 s, 2 s, 4 s, … up to ``ceiling``); a success may clear the key. Keys are SHA-256 digests, so
the table holds no plaintext names or addresses, and it lives in the database so that every
worker and every hub process sees the same counts.

Against spraying many accounts from one address, failures are also counted per address in
windows of a minute (``address_failures``). An address is refused while the current and the
previous window together hold ``limit`` failures: every sliding minute lies within those two,
so no minute ever sees more than ``limit``, at the price of refusing for up to two minutes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from varsel.clock import utcnow
from varsel.orgs.models import AddressFailure, AuthFailure


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


_EPOCH = datetime(1970, 1, 1)


def _windows(key: str, window: int, now: datetime) -> tuple[str, str, datetime]:
    """Return the keys of the current and the previous window, and the current one's start."""
    # utcnow() is naive UTC; datetime.timestamp() would read it as local time.
    number, into = divmod((now - _EPOCH).total_seconds(), window)
    start = now - timedelta(seconds=into)
    current = throttle_key("window", key, str(int(number)))
    previous = throttle_key("window", key, str(int(number) - 1))
    return current, previous, start


def window_full(*, session: Session, key: str, limit: int, window: int = 60) -> bool:
    """Return whether ``key`` failed ``limit`` times in this window and the previous one."""
    current, previous, _ = _windows(key, window, utcnow())
    rows = session.execute(
        select(AddressFailure.key, AddressFailure.failures).where(
            AddressFailure.key.in_([current, previous])
        )
    )
    counts = {str(k): int(n) for k, n in rows}
    return counts.get(current, 0) + counts.get(previous, 0) >= limit


def count_in_window(*, session: Session, key: str, window: int = 60) -> None:
    """Count one failure of ``key`` in the current window (the caller commits)."""
    now = utcnow()
    current, _, start = _windows(key, window, now)
    stale = now - timedelta(seconds=2 * window)
    session.execute(delete(AddressFailure).where(AddressFailure.window_start < stale))
    # One UPDATE adds atomically: concurrent failures in other processes are never lost.
    bump = (
        update(AddressFailure)
        .where(AddressFailure.key == current)
        .values(failures=AddressFailure.failures + 1)
    )
    if session.execute(bump).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.execute(
                insert(AddressFailure).values(key=current, failures=1, window_start=start)
            )
    except IntegrityError:  # another process inserted the window's row first
        session.execute(bump)
