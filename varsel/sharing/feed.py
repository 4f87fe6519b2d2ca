"""What a collection's stream carries to one subscriber (docs/federation.md, "The stream").

A *feed* is a collection's versions and tombstones in ``date_added_us`` order. Objects and
tombstones take their ``date_added_us`` from the collection's one counter
(``collections.last_added_us``), which every writer advances under the collection's row lock
(``varsel.sharing.ingest._store``), so each position names at most one item and a subscriber
that resumes after position P misses nothing and repeats nothing.

:func:`read_feed` returns the next batch after a position: the versions ``restrict()`` lets the
principal read, the tombstones whose audience names the principal's organisation, the seals the
versions refer to, and the batch's *position*. The position is the last item's
``date_added_us``, or, when the window held nothing more the subscriber may read, the end of the
window (at most the collection's head): the subscriber passes over rows it may not read without
seeing them, but never over a row not yet committed, because the head is read before the rows
and every row at or below a committed head is committed (writers serialise on the collection's
row and only ever hand out positions above it).

The work per batch is bounded: at most :data:`SCAN_WINDOW` rows of the collection are looked at
whoever reads (an outsider's stream over a busy collection walks the collection once, a window
at a time), and ``remaining`` counts at most :data:`MAX_REMAINING` readable rows.
"""

from __future__ import annotations

import json
from collections.abc import Collection as Many
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, func, or_, select, text, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from varsel import config
from varsel.clock import us_to_rfc3339, utcnow
from varsel.errors import NotFound
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.provenance.seal import Seal as SignedSeal
from varsel.sharing.models import (
    Collection,
    Seal,
    StixObject,
    StreamPosition,
    Tombstone,
    TombstoneAudience,
)

# The lag a batch reports is exact up to this many readable versions, then "at least".
MAX_REMAINING: Final = 100_000
# Rows of the collection one batch looks at, readable by the subscriber or not.
SCAN_WINDOW: Final = 20_000
# The PostgreSQL channel a commit that adds objects or tombstones notifies (payload: the id).
CHANNEL: Final = "varsel_feed"


@dataclass(frozen=True, slots=True)
class FeedObject:
    """One version as the stream sends it: the producer's text and what the origin signed."""

    date_added_us: int
    raw: str
    provenance: str | None
    seal_id: str | None


@dataclass(frozen=True, slots=True)
class FeedTombstone:
    """One tombstone as the stream sends it: the origin's signed document, as stored."""

    date_added_us: int
    document: str


@dataclass(frozen=True, slots=True)
class FeedBatch:
    """The next items of a collection's feed for one subscriber, and where they end."""

    collection_id: str
    position: int
    head: int
    # None when the caller asked not to count (varsel.api.stream counts once a second).
    remaining: int | None
    objects: list[FeedObject] = field(default_factory=list)
    tombstones: list[FeedTombstone] = field(default_factory=list)
    seals: dict[str, SignedSeal] = field(default_factory=dict)

    @property
    def caught_up(self) -> bool:
        """Return whether the batch reaches the collection's head (nothing more to read now)."""
        return self.position >= self.head


def _origin_filter(column: Any, exclude: frozenset[str], hub_name: str) -> ColumnElement[bool]:
    """Return the condition that a row's origin is none of ``exclude`` (NULL: this hub)."""
    if not exclude:
        return true()
    names = sorted(exclude)
    if hub_name in exclude:
        return and_(column.is_not(None), column.not_in(names))
    return or_(column.is_(None), column.not_in(names))


def _window_end(session: Session, collection_id: str, after_us: int, head: int) -> int:
    """Return the position up to which this batch looks: at most SCAN_WINDOW rows on."""
    boundary = session.execute(
        select(StixObject.date_added_us)
        .where(
            StixObject.collection_id == collection_id,
            StixObject.date_added_us > after_us,
            StixObject.date_added_us <= head,
        )
        .order_by(StixObject.date_added_us)
        .offset(SCAN_WINDOW - 1)
        .limit(1)
    ).scalar_one_or_none()
    return head if boundary is None else int(boundary)


def read_feed(
    session: Session,
    principal: Principal,
    collection_id: str,
    after_us: int,
    *,
    limit: int,
    exclude_origins: Many[str] = (),
    count_remaining: bool = True,
) -> FeedBatch:
    """Return the next at most ``limit`` items after ``after_us`` that ``principal`` may read.

    Raises NotFound when the principal may not see the collection. A position beyond the head
    (a hub restored from an older backup) counts as the head. Without ``count_remaining`` the
    batch's ``remaining`` is None unless it reaches the head, and the count is not paid for.
    On PostgreSQL the caller's transaction runs without JIT compilation from here on.
    """
    if session.connection().dialect.name == "postgresql":
        # The planner's estimates for restrict()'s conditions over a window of thousands of
        # rows call for JIT, which then costs about 1.5 s for a query that runs in 0.1 s.
        session.execute(text("SET LOCAL jit = off"))
    head = session.execute(
        restrict(select(Collection.last_added_us), principal, Action.READ).where(
            Collection.id == collection_id
        )
    ).scalar_one_or_none()
    if head is None:
        raise NotFound(f"no collection {collection_id!r}")
    after_us = min(after_us, head)
    if after_us >= head:
        return FeedBatch(collection_id, head, head, 0)
    exclude = frozenset(exclude_origins)
    hub_name = config.current().hub_name
    end = _window_end(session, collection_id, after_us, head)
    readable_from = _origin_filter(StixObject.origin_hub, exclude, hub_name)
    objects = [
        FeedObject(d, raw, prov, seal_id)
        for d, raw, prov, seal_id in session.execute(
            restrict(
                select(
                    StixObject.date_added_us,
                    StixObject.raw,
                    StixObject.provenance,
                    StixObject.seal_id,
                ).where(
                    StixObject.collection_id == collection_id,
                    StixObject.date_added_us > after_us,
                    StixObject.date_added_us <= end,
                    readable_from,
                ),
                principal,
                Action.READ,
            )
            .order_by(StixObject.date_added_us)
            .limit(limit)
        )
    ]
    # Tombstones are sent to their audience only (docs/federation.md, "Tombstones"); the
    # exclusion applies to them as to versions: a puller hears of an origin's withdrawals
    # where it pulls that origin's versions.
    tombstones = [
        FeedTombstone(d, document)
        for d, document in session.execute(
            select(Tombstone.date_added_us, Tombstone.document)
            .join(
                TombstoneAudience,
                and_(
                    TombstoneAudience.tombstone_id == Tombstone.id,
                    TombstoneAudience.org_id == principal.org_id,
                ),
            )
            .where(
                Tombstone.collection_id == collection_id,
                Tombstone.date_added_us > after_us,
                Tombstone.date_added_us <= end,
                _origin_filter(Tombstone.origin_hub, exclude, hub_name),
            )
            .order_by(Tombstone.date_added_us)
            .limit(limit)
        )
    ]
    position = end
    if len(objects) >= limit or len(tombstones) >= limit:
        # Either list may stop short of the window's end: keep the first ``limit`` items of
        # both, in order; nothing left unread lies at or before the last one kept.
        merged = sorted(
            [(o.date_added_us, 0) for o in objects] + [(t.date_added_us, 1) for t in tombstones]
        )[:limit]
        position = merged[-1][0]
        objects = [o for o in objects if o.date_added_us <= position]
        tombstones = [t for t in tombstones if t.date_added_us <= position]
    return FeedBatch(
        collection_id=collection_id,
        position=position,
        head=head,
        remaining=(
            _remaining(session, principal, collection_id, position, head, readable_from)
            if count_remaining or position >= head
            else None
        ),
        objects=objects,
        tombstones=tombstones,
        seals=_seals(session, {o.seal_id for o in objects if o.seal_id is not None}),
    )


def _remaining(
    session: Session,
    principal: Principal,
    collection_id: str,
    position: int,
    head: int,
    readable_from: ColumnElement[bool],
) -> int:
    """Return how many versions after ``position`` the principal may read, up to the cap."""
    if position >= head:
        return 0
    readable = (
        restrict(
            select(StixObject.id).where(
                StixObject.collection_id == collection_id,
                StixObject.date_added_us > position,
                StixObject.date_added_us <= head,
                readable_from,
            ),
            principal,
            Action.READ,
        )
        .limit(MAX_REMAINING)
        .subquery()
    )
    return int(session.execute(select(func.count()).select_from(readable)).scalar_one())


def _seals(session: Session, ids: set[str]) -> dict[str, SignedSeal]:
    """Return the seals with these ids, as they travel."""
    if not ids:
        return {}
    rows = session.execute(select(Seal).where(Seal.id.in_(sorted(ids)))).scalars()
    return {r.id: SignedSeal(r.id, r.origin_hub, r.manifest, r.signature) for r in rows}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class _Item:
    date_added_us: int
    text: str
    seal_id: str | None
    is_object: bool


def encode(batch: FeedBatch, *, max_bytes: int) -> list[tuple[int, str]]:
    """Return the batch as ``(position, JSON text)`` events of at most ``max_bytes`` each.

    The text is the ``batch`` event's data (and the push body) of docs/federation.md; each
    ``raw`` is the stored text itself, so a receiver decodes the producer's exact bytes. An
    event holds at least one item, so one version larger than ``max_bytes`` travels alone.
    Nothing is encoded for a batch without items.
    """
    items = [
        _Item(
            o.date_added_us,
            _json(
                {
                    "raw": o.raw,
                    "provenance": o.provenance,
                    "seal": o.seal_id,
                    "date_added": us_to_rfc3339(o.date_added_us),
                }
            ),
            o.seal_id if o.seal_id in batch.seals else None,
            True,
        )
        for o in batch.objects
    ]
    # A tombstone is re-serialised compactly: its signature covers its canonical form, not
    # the spelling it was stored in, and an event's data must hold no line break.
    items += [
        _Item(t.date_added_us, _json(json.loads(t.document)), None, False) for t in batch.tombstones
    ]
    items.sort(key=lambda item: item.date_added_us)
    seals = {sid: _json(sid) + ":" + _json(s.to_json()) for sid, s in batch.seals.items()}

    chunks: list[list[_Item]] = []
    current: list[_Item] = []
    size = 0
    carried: set[str] = set()
    for item in items:
        sid = item.seal_id
        cost = len(item.text.encode()) + 1
        seal_cost = len(seals[sid].encode()) + 1 if sid is not None else 0
        if current and size + cost + (seal_cost if sid not in carried else 0) > max_bytes:
            chunks.append(current)
            current, size, carried = [], 0, set()
        if sid is not None and sid not in carried:
            size += seal_cost
            carried.add(sid)
        current.append(item)
        size += cost
    if current:
        chunks.append(current)

    events: list[tuple[int, str]] = []
    later_objects = len(batch.objects)
    for n, chunk in enumerate(chunks):
        objects = [i for i in chunk if i.is_object]
        later_objects -= len(objects)
        position = batch.position if n == len(chunks) - 1 else chunk[-1].date_added_us
        used = sorted({i.seal_id for i in objects if i.seal_id is not None})
        head = _json(
            {
                "collection": batch.collection_id,
                "position": position,
                "head": batch.head,
                "remaining": min(MAX_REMAINING, (batch.remaining or 0) + later_objects),
            }
        )
        events.append(
            (
                position,
                head[:-1]
                + ',"seals":{'
                + ",".join(seals[sid] for sid in used)
                + '},"objects":['
                + ",".join(i.text for i in objects)
                + '],"tombstones":['
                + ",".join(i.text for i in chunk if not i.is_object)
                + "]}",
            )
        )
    return events


def announce(session: Session, collection_id: str) -> None:
    """Wake every stream of ``collection_id`` when the caller's transaction commits.

    On PostgreSQL this is a NOTIFY on :data:`CHANNEL`, delivered to every server process at
    commit and not at all on rollback; SQLite has no such thing, and its streams poll.
    """
    if session.connection().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :id)"), {"channel": CHANNEL, "id": collection_id}
        )


def note_position(session: Session, org_id: int, collection_id: str, position_us: int) -> None:
    """Record that organisation ``org_id`` confirmed the stream of a collection up to here."""
    values = {
        "org_id": org_id,
        "collection_id": collection_id,
        "position_us": position_us,
        "updated_at": utcnow(),
    }
    dialect = session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(StreamPosition).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[StreamPosition.org_id, StreamPosition.collection_id],
            set_={"position_us": position_us, "updated_at": values["updated_at"]},
        )
    )
