"""Which events a principal may read: containers, their readable members, day events."""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final, NamedTuple

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.orm import Session

from varsel.errors import NotFound
from varsel.orgs.models import Organisation
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP

log = logging.getLogger("varsel.misp")

DAY_NAMESPACE: Final = uuid.UUID("5d0b3f7e-8c1a-5a64-9e0f-76617273656c")
"""The namespace of day events' uuids (fixed: a day event keeps its uuid across requests)."""
ORG_NAMESPACE: Final = uuid.UUID("0f4b8a52-3d6e-5c71-8a9b-76617273656f")
"""The namespace of the uuids MISP sees for hub organisations."""
CONTAINERS: Final = ("grouping", "report")
# Shared by value or describing the producer: never an event's content of their own.
_NOT_CONTENT: Final = frozenset({"marking-definition", "identity", "extension-definition"})
# MISP's ``analysis`` (2: completed) and ``threat_level_id`` (4: undefined) for hub events.
_ANALYSIS: Final = "2"
_THREAT_LEVEL: Final = "4"
MAX_LIMIT: Final = 100_000


class _Row(NamedTuple):
    """The facts of one readable version an event is made of (no JSON)."""

    pk: int
    stix_id: str
    type: str
    collection_id: str
    producer_org_id: int
    date_added_us: int
    version_key: str
    tlp: str


@dataclass(slots=True)
class EventMeta:
    """One event a reader may read: what the index and a feed's manifest say of it."""

    uuid: str
    collection_id: str
    producer_org_id: int
    producer: str
    info: str
    date: str
    timestamp: int
    level: TLP
    container: _Row | None
    members: list[_Row] = field(default_factory=list)

    @property
    def id(self) -> str:
        """Return the event's MISP id: a stable number made from its uuid."""
        return misp_id(self.uuid)

    def fingerprint(self) -> str:
        """Return a digest of the versions this reader reads in the event (the cache key)."""
        rows = ([self.container] if self.container else []) + self.members
        text = ",".join(str(r.pk) for r in sorted(rows, key=lambda r: r.pk))
        return hashlib.blake2b(f"{self.uuid}|{self.timestamp}|{text}".encode()).hexdigest()


def misp_id(value: str) -> str:
    """Return the numeric MISP id of a uuid: its first 52 bits (JSON-safe, stable)."""
    return str(uuid.UUID(value).int >> 76)


def org_uuid(org_id: int) -> str:
    """Return the uuid MISP sees for hub organisation ``org_id``."""
    return str(uuid.uuid5(ORG_NAMESPACE, f"organisation/{org_id}"))


def day_uuid(collection_id: str, org_id: int, day: str) -> str:
    """Return the uuid of the day event of (collection, organisation, UTC day)."""
    return str(uuid.uuid5(DAY_NAMESPACE, f"{collection_id}/{org_id}/{day}"))


def _seconds(key: str, fallback_us: int) -> int:
    """Return a version key (``YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ``) as epoch seconds."""
    if len(key) >= 19:
        return calendar.timegm(time.strptime(key[:19], "%Y-%m-%dT%H:%M:%S"))
    return fallback_us // 1_000_000


_US_PER_DAY: Final = 86_400_000_000


@lru_cache(maxsize=4096)
def _day_of(number: int) -> str:
    return datetime.fromtimestamp(number * 86_400, UTC).strftime("%Y-%m-%d")


def _day(us: int) -> str:
    """Return the UTC day (``YYYY-MM-DD``) of a moment in µs since the epoch."""
    return _day_of(us // _US_PER_DAY)


def _broadest(levels: Iterable[str]) -> TLP:
    """Return the least restrictive of ``levels`` (each member keeps its own marking)."""
    parsed = [TLP(level) for level in levels]
    return min(parsed, key=lambda level: level.rank) if parsed else TLP.RED


def readable_collections(*, session: Session, principal: Principal) -> list[Collection]:
    """Return the collections ``principal`` may see, by title."""
    return list(
        session.execute(
            restrict(select(Collection), principal, Action.READ).order_by(Collection.title)
        ).scalars()
    )


def collection_for_feed(
    *, session: Session, principal: Principal, collection_id: str
) -> Collection:
    """Return the collection of a feed, or NotFound when the reader may not see it."""
    found = session.execute(
        restrict(select(Collection), principal, Action.READ).where(Collection.id == collection_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no feed {collection_id!r}")
    return found


_COLUMNS: Final = (
    StixObject.id,
    StixObject.stix_id,
    StixObject.type,
    StixObject.collection_id,
    StixObject.producer_org_id,
    StixObject.date_added_us,
    StixObject.version_key,
    StixObject.tlp,
)


def _rows(
    session: Session, principal: Principal, collection_ids: Sequence[str] | None
) -> list[_Row]:
    """Return the latest versions the reader may read in these collections (None: in any),
    oldest first."""
    where: list[ColumnElement[bool]] = [StixObject.is_latest.is_(True)]
    if collection_ids is not None:
        where.append(StixObject.collection_id.in_(list(collection_ids)))
    query = restrict(
        select(*_COLUMNS).where(*where),
        principal,
        Action.READ,
    ).order_by(StixObject.date_added_us, StixObject.id)
    return [_Row._make(r) for r in session.execute(query)]


def _rows_where(session: Session, principal: Principal, *where: ColumnElement[bool]) -> list[_Row]:
    """Return the latest readable versions that meet ``where``, oldest first."""
    query = restrict(
        select(*_COLUMNS).where(StixObject.is_latest.is_(True), *where), principal, Action.READ
    ).order_by(StixObject.date_added_us, StixObject.id)
    return [_Row._make(r) for r in session.execute(query)]


def _no_jit(session: Session) -> None:
    """Turn PostgreSQL's JIT off for the caller's transaction (as varsel.sharing.feed does).

    The planner's estimates for restrict()'s conditions over thousands of ids call for JIT,
    which then compiles for about 0.8 s a query that runs in a few milliseconds.
    """
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def _raw(session: Session, principal: Principal, pks: Sequence[int]) -> dict[int, str]:
    """Return the stored JSON of these rows (readable ones only, in chunks)."""
    out: dict[int, str] = {}
    if len(pks) > 100:
        _no_jit(session)
    ordered = sorted(set(pks))
    for start in range(0, len(ordered), 5_000):
        chunk = ordered[start : start + 5_000]
        query = restrict(
            select(StixObject.id, StixObject.raw).where(StixObject.id.in_(chunk)),
            principal,
            Action.READ,
        )
        out.update({int(pk): str(raw) for pk, raw in session.execute(query)})
    return out


def _org_names(session: Session, principal: Principal, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = restrict(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(wanted)),
        principal,
        Action.READ,
    )
    return {int(i): str(n) for i, n in session.execute(query)}


# Objects that belong to the event of what they refer to, when no container names them.
_ATTACHED: Final = ("relationship", "sighting", "note", "opinion")


def _refs_of(raw: str) -> set[str]:
    """Return the ids an attached object (relationship, sighting, note) refers to."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return set()
    if not isinstance(obj, dict):
        return set()
    refs = {obj.get("source_ref"), obj.get("target_ref"), obj.get("sighting_of_ref")}
    refs.update(obj.get("object_refs") or [])
    return {r for r in refs if isinstance(r, str)}


def _attach(
    events: Sequence[EventMeta],
    attached: Sequence[tuple[_Row, set[str]]],
    named: set[tuple[str, str]],
) -> None:
    """Add to each container event the attached objects that refer to its content."""
    holders: dict[tuple[str, str], list[EventMeta]] = defaultdict(list)
    for event in events:
        if event.container is None:
            continue
        for row in [event.container, *event.members]:
            holders[(row.collection_id, row.stix_id)].append(event)
    for row, refs in attached:
        if (row.collection_id, row.stix_id) in named:
            continue
        owners = {id(e): e for ref in refs for e in holders.get((row.collection_id, ref), [])}
        for event in owners.values():
            event.members.append(row)
            event.timestamp = max(event.timestamp, _seconds(row.version_key, row.date_added_us))
        if owners:
            named.add((row.collection_id, row.stix_id))


def _container_meta(
    box: _Row, refs: Sequence[Any], by_id: Mapping[tuple[str, str], list[_Row]]
) -> EventMeta:
    """Return the event of container ``box`` with the readable rows its ``refs`` name."""
    members: list[_Row] = []
    for ref in dict.fromkeys(r for r in refs if isinstance(r, str)):
        found = by_id.get((box.collection_id, ref))
        if found:
            # An object shared by value is kept once per producer: the container's own first.
            same = [r for r in found if r.producer_org_id == box.producer_org_id]
            members.append((same or found)[0])
    timestamp = max(
        [_seconds(box.version_key, box.date_added_us)]
        + [_seconds(m.version_key, m.date_added_us) for m in members]
    )
    return EventMeta(
        uuid=box.stix_id.split("--", 1)[1],
        collection_id=box.collection_id,
        producer_org_id=box.producer_org_id,
        producer="",
        info="",
        date=_day(box.date_added_us),
        timestamp=timestamp,
        level=TLP(box.tlp),
        container=box,
        members=members,
    )


def _day_meta(
    collection_id: str,
    org_id: int,
    number: int,
    members: list[_Row],
    names: Mapping[int, str],
    titles: Mapping[str, str],
) -> EventMeta:
    """Return the day event of (collection, organisation, day ``number``) with ``members``."""
    day = _day_of(number)
    return EventMeta(
        uuid=day_uuid(collection_id, org_id, day),
        collection_id=collection_id,
        producer_org_id=org_id,
        producer=names.get(org_id, ""),
        info=(f"{titles[collection_id]}: " if collection_id in titles else "")
        + f"{names.get(org_id, '?')}, {day}",
        date=day,
        timestamp=max(m.date_added_us for m in members) // 1_000_000,
        level=_broadest(m.tlp for m in members),
        container=None,
        members=members,
    )


def catalog(
    *, session: Session, principal: Principal, collection: Collection | None = None
) -> list[EventMeta]:
    """Return every event ``principal`` may read in ``collection`` (None: anywhere), oldest first.

    A few queries through ``restrict()`` whatever the number of events: no query per event.
    A day event names its collection only to readers who may see the collection (an unlisted
    community's is need-to-know, while a TLP:CLEAR object in it is everyone's).
    """
    _no_jit(session)
    rows = _rows(session, principal, None if collection is None else [collection.id])
    titles = {c.id: c.title for c in readable_collections(session=session, principal=principal)}
    containers = [r for r in rows if r.type in CONTAINERS]
    attached_rows = [r for r in rows if r.type in _ATTACHED]
    raws = _raw(session, principal, [r.pk for r in containers + attached_rows])
    by_id: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    if containers:  # only containers look members up
        for row in rows:
            by_id[(row.collection_id, row.stix_id)].append(row)
    named: set[tuple[str, str]] = set()
    events: list[EventMeta] = []
    for box in containers:
        raw = raws.get(box.pk)
        if raw is None:
            continue
        try:
            refs = json.loads(raw).get("object_refs") or []
        except ValueError:
            refs = []
        named.update((box.collection_id, r) for r in refs if isinstance(r, str))
        events.append(_container_meta(box, refs, by_id))
    _attach(events, [(r, _refs_of(raws[r.pk])) for r in attached_rows if r.pk in raws], named)
    days: dict[tuple[str, int, int], list[_Row]] = defaultdict(list)
    skipped = {*CONTAINERS, *_NOT_CONTENT}
    for row in rows:
        if row.type in skipped or (named and (row.collection_id, row.stix_id) in named):
            continue
        days[(row.collection_id, row.producer_org_id, row.date_added_us // _US_PER_DAY)].append(row)
    names = _org_names(session, principal, {r.producer_org_id for r in rows})
    for (collection_id, org_id, number), members in days.items():
        events.append(_day_meta(collection_id, org_id, number, members, names, titles))
    for event in events:
        if event.container is not None:
            event.producer = names.get(event.producer_org_id, "")
    events.sort(key=lambda e: (e.timestamp, e.uuid))
    return events
