"""A lease in the database: exactly one holder runs the federation worker per hub.

The ``leases`` row ``federation-worker`` names its holder and when the lease expires. A holder
renews it every few seconds; another process takes it only once it has expired. Taking and
renewing are one conditional UPDATE (or the INSERT of the first row), so two contenders can never
both succeed: PostgreSQL re-checks the condition on the row the first one changed, SQLite
serialises writers. Every write the worker makes checks the lease in its own transaction
(:func:`fence`), so a holder that stalled past its expiry (a paused process, a lost network) can
never write after a successor took over. Holders on several machines need clocks that agree
within a few seconds (NTP), the lease's margin.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from varsel.clock import utcnow
from varsel.errors import Busy
from varsel.federation.models import Lease

NAME = "federation-worker"
TTL_S = 15.0
RENEW_S = 5.0


class LeaseLost(Busy):
    """This process no longer holds the lease; whatever it was writing is rolled back."""


def new_holder() -> str:
    """Return a holder id unique to this process: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(
    sessions: sessionmaker[Session], *, holder: str, name: str = NAME, ttl_s: float = TTL_S
) -> bool:
    """Take or renew the lease for ``holder``; return whether it holds it now."""
    now = utcnow()
    until = now + timedelta(seconds=ttl_s)
    with sessions() as session, session.begin():
        taken = session.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
            .values(holder=holder, expires_at=until)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if taken == 1:
            return True
    try:
        with sessions() as session, session.begin():
            session.execute(insert(Lease).values(name=name, holder=holder, expires_at=until))
    except IntegrityError:
        return False  # the row exists, held by someone else
    return True


def release(sessions: sessionmaker[Session], *, holder: str, name: str = NAME) -> None:
    """Give the lease up at once if ``holder`` has it, so a successor need not wait it out."""
    with sessions() as session, session.begin():
        session.execute(
            delete(Lease)
            .where(Lease.name == name, Lease.holder == holder)
            .execution_options(synchronize_session=False)
        )


def fence(session: Session, *, holder: str, name: str = NAME) -> None:
    """Check, inside the caller's transaction, that ``holder`` still holds an unexpired lease.

    The UPDATE locks the lease row until the transaction ends, so no successor can take the
    lease between this check and the caller's commit.
    """
    held = session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder, Lease.expires_at >= utcnow())
        .values(holder=holder)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if held != 1:
        raise LeaseLost("the federation worker's lease was lost; another process runs it now")


def holder_of(session: Session, *, name: str = NAME) -> Lease | None:
    """Return the lease row (its holder and expiry), if any."""
    return session.get(Lease, name)
