"""The two calls the worker makes into the other parts of federation, in one place.

- :func:`apply_batch` is the receive path (``varsel.federation.receive``).
- :func:`outgoing` is the stream's own reader and encoding (``varsel.sharing.feed``), so the
  stream and a push send exactly the same thing to the same principal.

Tests replace these two to exercise the worker's bookkeeping alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from varsel.federation import receive
from varsel.policy.principal import Principal
from varsel.sharing import feed
from varsel.sharing.models import Collection


def apply_batch(
    session: Session,
    *,
    collection: Collection,
    sender: Principal | None,
    peer_name: str,
    link_id: int | None,
    batch: dict[str, Any],
) -> Any:
    """Apply one batch a peer sent into ``collection`` (``varsel.federation.receive``)."""
    return receive.apply_batch(
        session,
        collection=collection,
        sender=sender,
        peer_name=peer_name,
        link_id=link_id,
        batch=batch,
    )


@dataclass(frozen=True)
class Outgoing:
    """What a push sends next: the bodies, and where the read ended (past unreadable rows)."""

    position: int
    events: list[tuple[int, str]]


def outgoing(
    session: Session,
    *,
    principal: Principal,
    collection: Collection,
    after_us: int,
    limit: int,
    exclude_origins: frozenset[str] = frozenset(),
    max_bytes: int,
) -> Outgoing:
    """Return the next items of ``collection`` after ``after_us`` that ``principal`` may read."""
    batch = feed.read_feed(
        session,
        principal,
        collection.id,
        after_us,
        limit=limit,
        exclude_origins=tuple(exclude_origins),
    )
    return Outgoing(batch.position, feed.encode(batch, max_bytes=max_bytes))
