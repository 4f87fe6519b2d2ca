"""Events as MISP JSON: misp-stix through ``stix_to_event``, proven templates, caches."""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.errors import NotFound
from varsel.misp.convert import stix_to_event
from varsel.misp.flows.reading._catalog import (
    _ANALYSIS,
    _THREAT_LEVEL,
    EventMeta,
    _raw,
    catalog,
    collection_for_feed,
    log,
    org_uuid,
)
from varsel.misp.flows.reading._lookup import _container_event, _day_event
from varsel.misp.sharing import misp_scope
from varsel.policy.principal import Principal
from varsel.sharing.tlp import TLP
from varsel.sharing.validation import parse_timestamp

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


def day_manifest_entry(event: EventMeta) -> dict[str, Any]:
    """Return a day event's feed manifest entry, as its converted event states it."""
    _, tags = misp_scope(event.level, ())
    return {
        "Orgc": {"name": event.producer, "uuid": org_uuid(event.producer_org_id)},
        "Tag": [{"name": t} for t in tags],
        "info": event.info,
        "date": event.date,
        "analysis": int(_ANALYSIS),
        "threat_level_id": int(_THREAT_LEVEL),
        "timestamp": event.timestamp,
    }


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
    if event.container is None:
        # A day event is the hub's own: what it says of itself is decided here, so that a
        # feed's manifest can say the same without converting it (day_manifest_entry).
        body.update(
            date=event.date,
            info=event.info,
            analysis=_ANALYSIS,
            threat_level_id=_THREAT_LEVEL,
            distribution=str(distribution),
            Tag=[{"name": t} for t in tags],
        )
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
        meta = _day_event(session, principal, wanted, collection_id)
    if meta is None and wanted.isdigit():  # a MISP id: look it up among all events
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


@dataclass(frozen=True, slots=True)
class FeedFile:
    """One file of a collection's MISP feed, with its strong ETag."""

    body: str
    media_type: str
    etag: str


def _file(body: str, media_type: str) -> FeedFile:
    digest = hashlib.sha256(body.encode()).hexdigest()[:40]
    return FeedFile(body=body, media_type=media_type, etag=f'"{digest}"')


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
