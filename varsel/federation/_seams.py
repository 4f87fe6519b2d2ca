"""SEAMS to the parts of issue #14 built beside the worker; the worker calls only these two.

- :func:`apply_batch` calls ``varsel.federation.receive.apply_batch`` (the receive path, built
  in parallel). It is looked up when first called, so the worker runs (and its pull-side checks
  are tested) before that module is merged. At merge: replace the lookup by a plain import.
- :func:`outgoing` is a THIN STAND-IN for ``varsel.sharing.feed.read_feed`` + ``encode`` (the
  stream's reader, built in parallel): the batch a subscriber may read after a position, as the
  push bodies (``(position, JSON text)`` each). At merge its body becomes::

      batch = feed.read_feed(session, principal, collection.id, after_us, limit=limit,
                             exclude_origins=exclude_origins)
      return Outgoing(batch.position, feed.encode(batch, max_bytes=max_bytes))

  so the stream and the push share one reader and one encoding.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from varsel.clock import us_to_rfc3339
from varsel.errors import NotFound
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import (
    Collection,
    Seal,
    StixObject,
    Tombstone,
    TombstoneAudience,
)

REMAINING_CAP = 100_000


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
    receive = importlib.import_module("varsel.federation.receive")
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
    batch = _read(
        session,
        principal=principal,
        collection=collection,
        after_us=after_us,
        limit=limit,
        exclude_origins=exclude_origins,
    )
    if not batch["objects"] and not batch["tombstones"]:
        return Outgoing(batch["position"], [])
    text = json.dumps(batch, ensure_ascii=False, separators=(",", ":"))
    return Outgoing(batch["position"], [(batch["position"], text)])


def _read(
    session: Session,
    *,
    principal: Principal,
    collection: Collection,
    after_us: int,
    limit: int,
    exclude_origins: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Return the next batch of ``collection`` after ``after_us`` that ``principal`` may read.

    Objects pass :func:`restrict` for the principal; tombstones are those whose audience names
    the principal's organisation. Both come in ``date_added`` order, at most ``limit`` together.
    """
    visible = restrict(select(Collection.id), principal, Action.READ).where(
        Collection.id == collection.id
    )
    if session.execute(visible).first() is None:
        raise NotFound(f"no collection {collection.id!r}")
    objects = restrict(
        select(StixObject).where(
            StixObject.collection_id == collection.id, StixObject.date_added_us > after_us
        ),
        principal,
        Action.READ,
    )
    if exclude_origins:
        objects = objects.where(
            or_(StixObject.origin_hub.is_(None), StixObject.origin_hub.not_in(exclude_origins))
        )
    rows = list(session.execute(objects.order_by(StixObject.date_added_us).limit(limit)).scalars())
    addressed = exists(
        select(TombstoneAudience.tombstone_id).where(
            TombstoneAudience.tombstone_id == Tombstone.id,
            TombstoneAudience.org_id == principal.org_id,
        )
    )
    stones = list(
        session.execute(
            select(Tombstone)
            .where(
                Tombstone.collection_id == collection.id,
                Tombstone.date_added_us > after_us,
                addressed,
            )
            .order_by(Tombstone.date_added_us)
            .limit(limit)
        ).scalars()
    )
    items: list[tuple[int, StixObject | Tombstone]] = [(r.date_added_us, r) for r in rows]
    items += [(t.date_added_us, t) for t in stones]
    merged = sorted(
        items,
        key=lambda pair: pair[0],
    )[:limit]
    kept_objects = [r for _, r in merged if isinstance(r, StixObject)]
    kept_stones = [t for _, t in merged if isinstance(t, Tombstone)]
    position = merged[-1][0] if merged else after_us
    seal_ids = {r.seal_id for r in kept_objects if r.seal_id}
    seals = {
        s.id: {"id": s.id, "origin": s.origin_hub, "manifest": s.manifest, "signature": s.signature}
        for s in session.execute(select(Seal).where(Seal.id.in_(seal_ids))).scalars()
    }
    remaining = session.execute(
        select(func.count()).select_from(
            restrict(
                select(StixObject.id).where(
                    StixObject.collection_id == collection.id,
                    StixObject.date_added_us > position,
                ),
                principal,
                Action.READ,
            )
            .limit(REMAINING_CAP)
            .subquery()
        )
    ).scalar_one()
    return {
        "collection": collection.id,
        "position": position,
        "head": collection.last_added_us,
        "remaining": int(remaining),
        "seals": seals,
        "objects": [
            {
                "raw": r.raw,
                "provenance": r.provenance,
                "seal": r.seal_id,
                "date_added": us_to_rfc3339(r.date_added_us),
            }
            for r in kept_objects
        ],
        "tombstones": [json.loads(t.document) for t in kept_stones],
    }
