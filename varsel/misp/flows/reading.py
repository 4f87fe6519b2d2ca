"""The events a principal may read, as MISP events (docs/misp.md, "Reading, feeds and sync").

An *event* is one of:

- a STIX ``grouping`` (a MISP event shared into the hub is ``grouping--<event uuid>``) or a
  hub-native ``report``, with the members of its ``object_refs`` in its collection that the
  reader may read; the event's uuid is the container's;
- the *day event* of the objects of a collection that no container the reader may read names:
  one per (collection, producing organisation, UTC day of ``date_added``), its uuid
  ``uuid5(DAY_NAMESPACE, "<collection id>/<organisation id>/<YYYY-MM-DD>")``, so that
  everything in a collection is reachable as MISP events. Day events are made in the
  collections the reader may see (an unlisted community's collection is need-to-know).

Every row comes from a query through :func:`varsel.policy.restrict`: a reader sees the members
it may read and no event whose container it may not read; an event it may not read is answered
exactly like one that does not exist (:class:`varsel.errors.NotFound`).

An event's ``timestamp`` is the latest ``modified`` of its container and readable members (a
new version of any of them is a newer event, which is what MISP's pull compares); a day event's
is its latest ``date_added``, since objects join it as they arrive.

Conversion to MISP JSON is :func:`varsel.misp.convert.stix_to_event`; converted events are
cached per (event, readable member versions), so a feed polled again costs the queries alone.
"""

from __future__ import annotations

import calendar
import csv
import dataclasses
import hashlib
import io
import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final, NamedTuple

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import now_us
from varsel.errors import InvalidInput, NotFound
from varsel.misp.convert import stix_to_event
from varsel.misp.sharing import misp_scope
from varsel.orgs.models import Organisation
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP
from varsel.sharing.validation import parse_timestamp

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
# The MISP page size when a client asks for a page without a limit.
DEFAULT_LIMIT: Final = 60
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


def _raw(session: Session, principal: Principal, pks: Sequence[int]) -> dict[int, str]:
    """Return the stored JSON of these rows (readable ones only, in chunks)."""
    out: dict[int, str] = {}
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


def catalog(
    *, session: Session, principal: Principal, collection: Collection | None = None
) -> list[EventMeta]:
    """Return every event ``principal`` may read in ``collection`` (None: anywhere), oldest first.

    A few queries through ``restrict()`` whatever the number of events: no query per event.
    A day event names its collection only to readers who may see the collection (an unlisted
    community's is need-to-know, while a TLP:CLEAR object in it is everyone's).
    """
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
        day = _day_of(number)
        events.append(
            EventMeta(
                uuid=day_uuid(collection_id, org_id, day),
                collection_id=collection_id,
                producer_org_id=org_id,
                producer=names.get(org_id, ""),
                info=(f"{titles[collection_id]}: " if collection_id in titles else "")
                + f"{names.get(org_id, '?')}, {day}",
                date=day,
                timestamp=members[-1].date_added_us // 1_000_000,  # rows come oldest first
                level=_broadest(m.tlp for m in members),
                container=None,
                members=members,
            )
        )
    for event in events:
        if event.container is not None:
            event.producer = names.get(event.producer_org_id, "")
    events.sort(key=lambda e: (e.timestamp, e.uuid))
    return events


# Conversion, with a cache ---------------------------------------------------------------

_CACHE: OrderedDict[str, dict[str, Any]] = OrderedDict()
_CACHE_LOCK: Final = threading.Lock()
_CACHE_SIZE: Final = 2_000


def cache_clear() -> None:
    """Forget every converted event (tests use this)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _FILES.clear()


_TLP_IDS: Final = frozenset(t.stix_id for t in TLP)
_TLP_ID_OF: Final = {t.value: t.stix_id for t in TLP}


def _with_level(obj: dict[str, Any], level: str) -> dict[str, Any]:
    """Return ``obj`` marked with the TLP the hub stored for it (the default's, if unmarked).

    The converter reads a member's distribution from its markings: an object shared without
    one took its collection's default, which must travel with it, never read as "no marking".
    """
    refs = [r for r in obj.get("object_marking_refs") or [] if r not in _TLP_IDS]
    return {**obj, "object_marking_refs": [*refs, _TLP_ID_OF[level]]}


def _org(event: EventMeta) -> dict[str, Any]:
    return {
        "id": str(event.producer_org_id),
        "name": event.producer,
        "uuid": org_uuid(event.producer_org_id),
        "local": True,
    }


def _day_grouping(event: EventMeta) -> dict[str, Any]:
    """Return the grouping that stands for a day event (it is not stored)."""
    stamp = datetime.fromtimestamp(event.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "type": "grouping",
        "spec_version": "2.1",
        "id": f"grouping--{event.uuid}",
        "created": f"{event.date}T00:00:00.000Z",
        "modified": max(stamp, f"{event.date}T00:00:00.000Z"),
        "name": event.info,
        "context": "unspecified",
        "object_refs": [m.stix_id for m in event.members],
        "object_marking_refs": [event.level.stix_id],
    }


def _converted(grouping: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    """Return ``stix_to_event`` of the event; members it cannot take are left out, by name.

    A stored object the converter refuses must not take the whole event (or a whole feed)
    with it: the event is converted without the members that fail alone, which are logged.
    """
    try:
        return stix_to_event(grouping, members)
    except Exception:  # the converter's refusal of one odd member, whatever its kind
        kept = []
        for member in members:
            try:
                stix_to_event(grouping, [member])
            except Exception:
                log.warning(
                    "MISP event %s: left out %s (not convertible)",
                    grouping.get("id"),
                    member.get("id"),
                )
            else:
                kept.append(member)
        return stix_to_event(grouping, kept)


# Indicators of one comparison (``[ipv4-addr:value = '…']``): misp-stix parses each pattern
# with ANTLR, about 2 ms an indicator, so a feed of 100,000 would take minutes. Such
# indicators differ only in the values misp-stix copies through; so one of each *shape* is
# converted by misp-stix, and the others are its output with their own values put in, once
# that substitution has reproduced misp-stix's output exactly for two of them.
_SIMPLE: Final = re.compile(r"^\[([a-z0-9-]+):([A-Za-z0-9_.'-]+) = '([^'\\]*)'\]$")
_SUBSTITUTED: Final = frozenset(
    {"id", "created", "modified", "name", "description", "pattern", "valid_from", "valid_until"}
)
_KEPT: Final = (
    "type",
    "spec_version",
    "object_marking_refs",
    "x_varsel_recipients",
    "indicator_types",
    "created_by_ref",
    "pattern_type",
    "pattern_version",
)
_PLAIN: Final = _SUBSTITUTED | frozenset(_KEPT)
# shape -> the attribute template, or None when the shape must go through misp-stix each time.
_SHAPES: dict[str, dict[str, Any] | None] = {}
_SHAPES_SEEN: dict[str, dict[str, Any]] = {}
_SHAPES_LOCK: Final = threading.Lock()


def _shape(grouping: Mapping[str, Any], member: Mapping[str, Any]) -> tuple[str, str] | None:
    """Return (shape key, value) of a one-comparison indicator, or None."""
    if member.get("type") != "indicator" or not set(member) <= _PLAIN:
        return None
    pattern = member.get("pattern")
    match = _SIMPLE.match(pattern) if isinstance(pattern, str) else None
    if match is None:
        return None
    facts = (
        match[1],
        match[2],
        [member.get(k) for k in _KEPT],
        [grouping.get("object_marking_refs"), grouping.get("x_varsel_recipients")],
        "description" in member,
        "valid_until" in member,
        member.get("valid_from") == member.get("modified"),
    )
    return repr(facts), match[3]


@lru_cache(maxsize=65536)
def _iso(value: str) -> str:
    return parse_timestamp(value).isoformat()


@lru_cache(maxsize=65536)
def _epoch(value: str) -> str:
    return str(calendar.timegm(parse_timestamp(value).timetuple()))


def _fill(template: Mapping[str, Any], member: Mapping[str, Any], value: str) -> dict[str, Any]:
    """Return ``template`` with the uuid, value, time and comment of ``member``."""
    out = dict(template)
    out["uuid"] = str(member["id"]).split("--", 1)[1]
    out["value"] = value
    out["timestamp"] = _epoch(str(member["modified"]))
    if "comment" in template:
        out["comment"] = member.get("description")
    if "first_seen" in template:
        out["first_seen"] = _iso(str(member.get("valid_from")))
    if "last_seen" in template:
        out["last_seen"] = _iso(str(member.get("valid_until")))
    return out


# What _fill writes per member (besides uuid, value and timestamp).
_PER_MEMBER: Final = ("comment", "first_seen", "last_seen")


def _fixed(template: Mapping[str, Any]) -> dict[str, Any]:
    """Return what a template copies to every member (and which per-member fields it has)."""
    return {k: (True if k in _PER_MEMBER else v) for k, v in template.items()}


def _alone(grouping: dict[str, Any], member: dict[str, Any]) -> dict[str, Any] | None:
    """Return misp-stix's one attribute for ``member`` alone, or None if it makes more."""
    try:
        body = stix_to_event(grouping, [member]).get("Event", {})
    except Exception:  # a member misp-stix refuses goes the slow way, and is named there
        return None
    attributes = body.get("Attribute") or []
    if len(attributes) != 1 or body.get("Object") or body.get("EventReport"):
        return None
    return dict(attributes[0])


def _templated(
    grouping: dict[str, Any], members: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (attributes made from proven templates, members misp-stix must convert)."""
    made: list[dict[str, Any]] = []
    slow: list[dict[str, Any]] = []
    for member in members:
        found = _shape(grouping, member)
        if found is None:
            slow.append(member)
            continue
        key, value = found
        with _SHAPES_LOCK:
            known = key in _SHAPES
            template = _SHAPES.get(key)
        if known and template is None:
            slow.append(member)
            continue
        if template is not None:
            made.append(_fill(template, member, value))
            continue
        actual = _alone(grouping, member)
        if actual is None:
            with _SHAPES_LOCK:
                _SHAPES[key] = None
            slow.append(member)
            continue
        candidate = {k: v for k, v in actual.items() if k not in ("uuid", "value", "timestamp")}
        # Proven when the substitution reproduces misp-stix's output, and nothing else of the
        # member (its name) shows in what would be copied to the others.
        name = str(member.get("name") or "\0")
        proven = _fill(candidate, member, value) == actual and not any(
            name in str(v) for k, v in candidate.items() if k not in _PER_MEMBER
        )
        with _SHAPES_LOCK:
            first = _SHAPES_SEEN.get(key)
            if not proven:
                _SHAPES[key] = None
            elif first is None:
                _SHAPES_SEEN[key] = candidate
            else:
                # Two members of the shape reproduced exactly by one template: use it.
                _SHAPES[key] = candidate if _fixed(first) == _fixed(candidate) else None
        made.append(actual)
    return made, slow


def _convert(event: EventMeta, raws: Mapping[int, str]) -> dict[str, Any]:
    """Return the MISP event (``{"Event": …}``) of ``event`` from the members' stored JSON."""
    members = [_with_level(json.loads(raws[m.pk]), m.tlp) for m in event.members if m.pk in raws]
    if event.container is not None:
        grouping = _with_level(json.loads(raws[event.container.pk]), event.container.tlp)
    else:
        grouping = _day_grouping(event)
    made, slow = _templated(grouping, members)
    converted = _converted(grouping, slow)
    body = converted.get("Event", converted)
    if made:
        body["Attribute"] = [*(body.get("Attribute") or []), *made]
    distribution, tags = misp_scope(event.level, ())
    body["uuid"] = event.uuid
    body["id"] = event.id
    body["timestamp"] = str(event.timestamp)
    body["publish_timestamp"] = str(event.timestamp)
    body["published"] = True
    body.setdefault("date", event.date)
    body.setdefault("info", event.info)
    body.setdefault("analysis", _ANALYSIS)
    body.setdefault("threat_level_id", _THREAT_LEVEL)
    body.setdefault("distribution", str(distribution))
    if not body.get("Tag"):
        body["Tag"] = [{"name": t} for t in tags]
    body["Orgc"] = _org(event)
    body["Org"] = _org(event)
    body["orgc_id"] = body["org_id"] = str(event.producer_org_id)
    if not event.info:
        event.info = str(body.get("info", ""))
    return {"Event": body}


def events(
    *, session: Session, principal: Principal, metas: Sequence[EventMeta]
) -> Iterator[dict[str, Any]]:
    """Yield the MISP events of ``metas`` (cached conversions; one query per 5,000 rows)."""
    pending: list[EventMeta] = []
    done: dict[str, dict[str, Any]] = {}
    with _CACHE_LOCK:
        for meta in metas:
            hit = _CACHE.get(meta.fingerprint())
            if hit is None:
                pending.append(meta)
            else:
                _CACHE.move_to_end(meta.fingerprint())
                done[meta.uuid] = hit
    if pending:
        pks = [m.pk for meta in pending for m in meta.members]
        pks += [meta.container.pk for meta in pending if meta.container is not None]
        raws = _raw(session, principal, pks)
        for meta in pending:
            converted = _convert(meta, raws)
            done[meta.uuid] = converted
            with _CACHE_LOCK:
                _CACHE[meta.fingerprint()] = converted
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
    for meta in metas:
        yield done[meta.uuid]


def one_event(
    *, session: Session, principal: Principal, ref: str, collection_id: str | None = None
) -> tuple[EventMeta, dict[str, Any]]:
    """Return the MISP event with uuid (or MISP id) ``ref``; NotFound for unknown and unreadable.

    The two answers are the same on purpose: a reader learns nothing of events it may not read.
    """
    wanted = ref.strip().lower()
    meta = _container_event(session, principal, wanted, collection_id)
    if meta is None:
        collection = (
            None
            if collection_id is None
            else collection_for_feed(
                session=session, principal=principal, collection_id=collection_id
            )
        )
        metas = catalog(session=session, principal=principal, collection=collection)
        meta = next((m for m in metas if wanted in (m.uuid, m.id)), None)
    if meta is None:
        raise NotFound("Invalid event")
    return meta, next(events(session=session, principal=principal, metas=[meta]))


def _container_event(
    session: Session, principal: Principal, wanted: str, collection_id: str | None
) -> EventMeta | None:
    """Return the event of the container ``grouping--wanted``/``report--wanted``, if readable.

    Two queries, whatever the collection's size: what MISP's pull asks once per event.
    """
    try:
        uuid.UUID(wanted)
    except ValueError:
        return None
    where: list[ColumnElement[bool]] = [
        StixObject.stix_id.in_([f"{t}--{wanted}" for t in CONTAINERS]),
        StixObject.is_latest.is_(True),
    ]
    if collection_id is not None:
        where.append(StixObject.collection_id == collection_id)
    found = session.execute(
        restrict(select(*_COLUMNS, StixObject.raw).where(*where), principal, Action.READ)
        .order_by(StixObject.date_added_us)
        .limit(1)
    ).first()
    if found is None:
        return None
    box = _Row(*found[:-1])
    try:
        refs = [r for r in json.loads(found[-1]).get("object_refs") or [] if isinstance(r, str)]
    except (ValueError, AttributeError):
        refs = []
    members: list[_Row] = []
    for start in range(0, len(refs), 5_000):
        rows = session.execute(
            restrict(
                select(*_COLUMNS).where(
                    StixObject.collection_id == box.collection_id,
                    StixObject.stix_id.in_(refs[start : start + 5_000]),
                    StixObject.is_latest.is_(True),
                ),
                principal,
                Action.READ,
            )
        )
        members += [_Row(*r) for r in rows]
    by_id: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for m in members:
        by_id[(m.collection_id, m.stix_id)].append(m)
    meta = _container_meta(box, refs, by_id)
    attached = session.execute(
        restrict(
            select(*_COLUMNS, StixObject.raw).where(
                StixObject.collection_id == box.collection_id,
                StixObject.type.in_(_ATTACHED),
                StixObject.is_latest.is_(True),
            ),
            principal,
            Action.READ,
        )
    )
    _attach(
        [meta],
        [(_Row(*a[:-1]), _refs_of(a[-1])) for a in attached],
        {(box.collection_id, r) for r in refs if isinstance(r, str)},
    )
    meta.producer = _org_names(session, principal, [box.producer_org_id]).get(
        box.producer_org_id, ""
    )
    return meta


# Filters -----------------------------------------------------------------------------------

_TRUE: Final = {"1", "true", "yes", "on"}
_DURATION: Final = re.compile(r"^\s*(\d{1,9})\s*([smhdw]?)\s*$")
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _flag(value: Any) -> bool | None:
    """Return a MISP boolean filter (1/0, true/false); None when absent or "any"."""
    if value is None or value == "" or (isinstance(value, list) and not value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise InvalidInput(f"expected 0 or 1, got {value!r}")


def _stamp(value: Any, name: str) -> int:
    """Return a MISP time filter as epoch seconds: a timestamp, a date or ``7d``/``12h``."""
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    match = _DURATION.match(text)
    if match and match[2]:
        return now_us() // 1_000_000 - int(match[1]) * _UNITS[match[2]]
    try:
        return calendar.timegm(time.strptime(text[:10], "%Y-%m-%d"))
    except ValueError:
        raise InvalidInput(
            f"{name!r} must be a UNIX timestamp, a date (YYYY-MM-DD) or an age such as 7d"
        ) from None


def _range(value: Any, name: str) -> tuple[int | None, int | None]:
    """Return a MISP time filter (one value: "since"; two: a range) as (low, high) seconds."""
    if value is None or value == "":
        return None, None
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise InvalidInput(f"{name!r} takes one value or a pair [from, to]")
        return _stamp(value[0], name), _stamp(value[1], name)
    return _stamp(value, name), None


def _many(value: Any) -> list[str]:
    """Return a MISP list filter (a list, or values joined by ``|`` or ``,``) as strings."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else re.split(r"[|]", str(value))
    if isinstance(value, dict):
        raise InvalidInput("OR/AND/NOT filters are not supported; give a list of values")
    return [str(v).strip() for v in items if str(v).strip()]


def _page(value: Any, name: str, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidInput(f"{name!r} must be a whole number, got {value!r}") from None
    if number < 1 or number > MAX_LIMIT:
        raise InvalidInput(f"{name!r} must be between 1 and {MAX_LIMIT}")
    return number


@dataclass(frozen=True, slots=True)
class Query:
    """MISP's search filters, checked (events/index, events/restSearch, attributes/restSearch)."""

    values: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    since: int | None = None
    until: int | None = None
    published: bool | None = None
    to_ids: bool | None = None
    limit: int | None = None
    page: int | None = None
    minimal: bool = False

    @property
    def filters_attributes(self) -> bool:
        """Return whether the query picks attributes (so events keep the matching ones)."""
        return bool(self.values or self.types or self.to_ids is not None)


def parse_query(body: Mapping[str, Any]) -> Query:
    """Return the checked filters of a MISP search body or named parameters; InvalidInput."""
    data = body.get("request", body) if isinstance(body.get("request"), dict) else body
    since, until = _range(data.get("timestamp"), "timestamp")
    if data.get("last") not in (None, ""):
        last = _stamp(data["last"], "last")
        since = max(since or 0, last)
    for name in ("publish_timestamp", "from", "datefrom"):
        low, high = _range(data.get(name), name)
        if low is not None:
            since = max(since or 0, low)
        if high is not None:
            until = high if until is None else min(until, high)
    for name in ("to", "dateuntil"):
        if data.get(name) not in (None, ""):
            high = _stamp(data[name], name)
            until = high if until is None else min(until, high)
    tags: list[str] = []
    not_tags: list[str] = []
    for tag in _many(data.get("tags")) + _many(data.get("event_tags")):
        (not_tags if tag.startswith("!") else tags).append(tag.lstrip("!").lower())
    events: list[str] = []
    for name in ("eventid", "uuid", "event_uuid", "eventuuid"):
        events += [e.lower() for e in _many(data.get(name))]
    return Query(
        values=tuple(_many(data.get("value"))),
        types=tuple(t.lower() for t in _many(data.get("type"))),
        tags=tuple(tags),
        not_tags=tuple(not_tags),
        events=tuple(events),
        since=since,
        until=until,
        published=_flag(data.get("published")),
        to_ids=_flag(data.get("to_ids")),
        limit=_page(data.get("limit"), "limit", None),
        page=_page(data.get("page"), "page", None),
        minimal=bool(_flag(data.get("minimal"))),
    )


def _value_matches(value: str, wanted: Sequence[str]) -> bool:
    """Return whether an attribute value matches one of MISP's value filters (``%`` wildcards)."""
    low = value.lower()
    for item in wanted:
        pattern = item.lower()
        if "%" in pattern:
            regex = ".*".join(re.escape(part) for part in pattern.split("%"))
            if re.fullmatch(regex, low, re.DOTALL):
                return True
        elif low == pattern or pattern in low.split("|"):
            return True
    return False


def _tag_names(item: Mapping[str, Any]) -> set[str]:
    return {str(t.get("name", "")).lower() for t in item.get("Tag") or [] if isinstance(t, dict)}


def _attribute_matches(attribute: Mapping[str, Any], q: Query, event_tags: set[str]) -> bool:
    if q.types and str(attribute.get("type", "")).lower() not in q.types:
        return False
    if q.values and not _value_matches(str(attribute.get("value", "")), q.values):
        return False
    if q.to_ids is not None and bool(attribute.get("to_ids")) != q.to_ids:
        return False
    tags = _tag_names(attribute) | event_tags
    if q.tags and not tags & set(q.tags):
        return False
    return not (q.not_tags and tags & set(q.not_tags))


def _meta_matches(meta: EventMeta, q: Query) -> bool:
    if q.events and meta.uuid not in q.events and meta.id not in q.events:
        return False
    if q.published is False:
        return False  # everything shared into the hub is published
    if q.since is not None and meta.timestamp < q.since:
        return False
    return not (q.until is not None and meta.timestamp > q.until)


def _narrow(event: dict[str, Any], q: Query) -> dict[str, Any] | None:
    """Return ``event`` with the attributes that match ``q``; None when none (or tags) match."""
    body = event["Event"]
    event_tags = _tag_names(body)
    needs_attributes = q.filters_attributes or (q.tags and not event_tags & set(q.tags))
    if not needs_attributes:
        if q.not_tags and event_tags & set(q.not_tags):
            return None
        return event
    attributes = [a for a in body.get("Attribute") or [] if _attribute_matches(a, q, event_tags)]
    objects = []
    for obj in body.get("Object") or []:
        kept = [a for a in obj.get("Attribute") or [] if _attribute_matches(a, q, event_tags)]
        if kept:
            objects.append({**obj, "Attribute": kept})
    if not attributes and not objects:
        return None
    return {"Event": {**body, "Attribute": attributes, "Object": objects}}


def _paged(items: list[Any], q: Query) -> list[Any]:
    if q.limit is None:
        return items
    start = ((q.page or 1) - 1) * q.limit
    return items[start : start + q.limit]


def _scope(session: Session, principal: Principal) -> list[EventMeta]:
    return catalog(session=session, principal=principal)


def index(*, session: Session, principal: Principal, q: Query) -> list[dict[str, Any]]:
    """Return MISP's event index (``events/index``): newest first, filtered and paged."""
    metas = [m for m in _scope(session, principal) if _meta_matches(m, q)]
    metas.reverse()
    if q.values or q.types or q.tags or q.not_tags:
        full = list(events(session=session, principal=principal, metas=metas))
        metas = [m for m, e in zip(metas, full, strict=True) if _narrow(e, q) is not None]
    metas = _paged(metas, q)
    if q.minimal:
        return [
            {
                "id": m.id,
                "timestamp": str(m.timestamp),
                "sighting_timestamp": "0",
                "published": True,
                "uuid": m.uuid,
                "orgc_uuid": org_uuid(m.producer_org_id),
            }
            for m in metas
        ]
    out = []
    for meta, event in zip(
        metas, events(session=session, principal=principal, metas=metas), strict=True
    ):
        body = event["Event"]
        attributes = len(body.get("Attribute") or []) + sum(
            len(o.get("Attribute") or []) for o in body.get("Object") or []
        )
        out.append(
            {
                "id": meta.id,
                "org_id": str(meta.producer_org_id),
                "orgc_id": str(meta.producer_org_id),
                "date": body.get("date", meta.date),
                "info": body.get("info", meta.info),
                "uuid": meta.uuid,
                "published": True,
                "analysis": str(body.get("analysis", _ANALYSIS)),
                "attribute_count": str(attributes),
                "timestamp": str(meta.timestamp),
                "publish_timestamp": str(meta.timestamp),
                "sighting_timestamp": "0",
                "distribution": str(body.get("distribution", "0")),
                "sharing_group_id": "0",
                "threat_level_id": str(body.get("threat_level_id", _THREAT_LEVEL)),
                "locked": True,
                "disable_correlation": False,
                "extends_uuid": "",
                "protected": None,
                "Org": body["Org"],
                "Orgc": body["Orgc"],
                "EventTag": [{"Tag": t} for t in body.get("Tag") or []],
            }
        )
    return out


def search_events(
    *, session: Session, principal: Principal, q: Query
) -> list[tuple[EventMeta, dict[str, Any]]]:
    """Return the MISP events that match ``q`` (``events/restSearch``), newest first."""
    metas = [m for m in _scope(session, principal) if _meta_matches(m, q)]
    metas.reverse()
    found = []
    for meta, event in zip(
        metas, events(session=session, principal=principal, metas=metas), strict=True
    ):
        narrowed = _narrow(event, q)
        if narrowed is not None:
            found.append((meta, narrowed))
    return _paged(found, q)


def _flat(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    body = event["Event"]
    context = {
        "id": body.get("id"),
        "org_id": body.get("org_id"),
        "orgc_id": body.get("orgc_id"),
        "distribution": body.get("distribution"),
        "info": body.get("info"),
        "uuid": body.get("uuid"),
    }
    for attribute in body.get("Attribute") or []:
        yield {**attribute, "event_id": body.get("id"), "Event": context}
    for obj in body.get("Object") or []:
        for attribute in obj.get("Attribute") or []:
            yield {
                **attribute,
                "event_id": body.get("id"),
                "object_id": obj.get("id", "0"),
                "object_uuid": obj.get("uuid"),
                "object_name": obj.get("name"),
                "object_meta-category": obj.get("meta-category"),
                "Event": context,
            }


def search_attributes(
    *, session: Session, principal: Principal, q: Query
) -> tuple[list[EventMeta], list[dict[str, Any]]]:
    """Return the attributes that match ``q`` (``attributes/restSearch``), newest event first,
    and the events they come from."""
    unpaged = dataclasses.replace(q, limit=None, page=None)
    metas: list[EventMeta] = []
    found: list[dict[str, Any]] = []
    for meta, event in search_events(session=session, principal=principal, q=unpaged):
        metas.append(meta)
        found.extend(_flat(event))
    return metas, _paged(found, q)


_CSV_FIELDS: Final = (
    "uuid",
    "event_id",
    "category",
    "type",
    "value",
    "comment",
    "to_ids",
    "date",
    "object_relation",
    "attribute_tag",
    "object_uuid",
    "object_name",
    "object_meta-category",
)


def attributes_csv(attributes: Iterable[Mapping[str, Any]]) -> str:
    """Return attributes in MISP's CSV export (its header and columns)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_FIELDS)
    for a in attributes:
        stamp = str(a.get("timestamp") or "")
        date = datetime.fromtimestamp(int(stamp), UTC).strftime("%Y%m%d") if stamp.isdigit() else ""
        writer.writerow(
            [
                a.get("uuid", ""),
                a.get("event_id", ""),
                a.get("category", ""),
                a.get("type", ""),
                a.get("value", ""),
                a.get("comment", ""),
                "1" if a.get("to_ids") else "0",
                date,
                a.get("object_relation") or "",
                ",".join(sorted(_tag_names(a))),
                a.get("object_uuid") or "",
                a.get("object_name") or "",
                a.get("object_meta-category") or "",
            ]
        )
    return out.getvalue()


def attributes_text(attributes: Iterable[Mapping[str, Any]]) -> str:
    """Return attribute values one a line, each once (MISP's text export)."""
    values = dict.fromkeys(str(a.get("value", "")) for a in attributes)
    return "".join(v + "\n" for v in values if v)


# Feeds -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedFile:
    """One file of a collection's MISP feed, with its strong ETag."""

    body: str
    media_type: str
    etag: str


def _file(body: str, media_type: str) -> FeedFile:
    digest = hashlib.sha256(body.encode()).hexdigest()[:40]
    return FeedFile(body=body, media_type=media_type, etag=f'"{digest}"')


def feed_manifest(*, session: Session, principal: Principal, collection_id: str) -> FeedFile:
    """Return ``manifest.json`` of a collection's feed: what the reader may read in it."""
    collection = collection_for_feed(
        session=session, principal=principal, collection_id=collection_id
    )
    metas = catalog(session=session, principal=principal, collection=collection)
    manifest: dict[str, Any] = {}
    for meta, event in zip(
        metas, events(session=session, principal=principal, metas=metas), strict=True
    ):
        body = event["Event"]
        manifest[meta.uuid] = {
            "Orgc": {"name": body["Orgc"]["name"], "uuid": body["Orgc"]["uuid"]},
            "Tag": [
                {k: t[k] for k in ("name", "colour") if k in t}
                for t in body.get("Tag") or []
                if isinstance(t, dict)
            ],
            "info": body.get("info", meta.info),
            "date": body.get("date", meta.date),
            "analysis": int(body.get("analysis", _ANALYSIS)),
            "threat_level_id": int(body.get("threat_level_id", _THREAT_LEVEL)),
            "timestamp": meta.timestamp,
        }
    return _file(json.dumps(manifest, sort_keys=True), "application/json")


def feed_hashes(*, session: Session, principal: Principal, collection_id: str) -> FeedFile:
    """Return ``hashes.csv``: ``md5(value),event uuid`` per attribute value (each part of a
    composite ``a|b`` value on a line of its own), as MISP's feed generator writes it."""
    collection = collection_for_feed(
        session=session, principal=principal, collection_id=collection_id
    )
    metas = catalog(session=session, principal=principal, collection=collection)
    lines: list[str] = []
    for event in events(session=session, principal=principal, metas=metas):
        event_uuid = event["Event"]["uuid"]
        for attribute in _flat(event):
            value = str(attribute.get("value", ""))
            parts = value.split("|") if "|" in str(attribute.get("type", "")) else [value]
            for part in parts:
                lines.append(f"{hashlib.md5(part.encode()).hexdigest()},{event_uuid}\n")
    return _file("".join(lines), "text/csv")


def feed_event(
    *, session: Session, principal: Principal, collection_id: str, event_uuid: str
) -> tuple[EventMeta, FeedFile]:
    """Return ``<uuid>.json`` of a collection's feed; NotFound as for an unknown event."""
    collection_for_feed(session=session, principal=principal, collection_id=collection_id)
    meta, event = one_event(
        session=session, principal=principal, ref=event_uuid, collection_id=collection_id
    )
    return meta, event_file(meta, event)


_FILES: OrderedDict[str, FeedFile] = OrderedDict()
_FILES_SIZE: Final = 64


def event_file(meta: EventMeta, event: Mapping[str, Any]) -> FeedFile:
    """Return ``event`` as JSON text with its ETag, kept for the event's current versions."""
    key = meta.fingerprint()
    with _CACHE_LOCK:
        found = _FILES.get(key)
        if found is not None:
            _FILES.move_to_end(key)
            return found
    file = _file(json.dumps(event, ensure_ascii=False, separators=(",", ":")), "application/json")
    with _CACHE_LOCK:
        _FILES[key] = file
        while len(_FILES) > _FILES_SIZE:
            _FILES.popitem(last=False)
    return file


def audit_red(
    *, session: Session, principal: Principal, metas: Sequence[EventMeta], target: str
) -> None:
    """Audit the TLP:RED versions served in these events (in the caller's transaction)."""
    red = sorted(
        {
            r.stix_id
            for meta in metas
            for r in ([meta.container] if meta.container else []) + meta.members
            if r.tlp == TLP.RED.value
        }
    )
    if red:
        audit.record(
            session=session,
            actor=principal.label,
            action="objects.read.red",
            target=target,
            details={"objects": red},
        )
