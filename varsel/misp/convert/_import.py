"""STIX 2.1 objects a reader may read → the MISP event, through ``misp-stix``'s parsers.

The grouping ``misp-stix`` made of a MISP event goes back through ``InternalSTIX2toMISPParser``;
any other grouping or a hub-native ``report`` (shared over TAXII, not from MISP) through
``ExternalSTIX2toMISPParser``, and a ``report``'s description becomes an event report. The hub's
markings never reach ``misp-stix``: each object's TLP 2.0 level and recipients become MISP's
distribution and ``tlp:*`` tags through ``misp_scope`` (never broader); an item placed as its
event is, inherits (distribution 5) as it did in MISP.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from varsel.errors import InvalidInput
from varsel.misp.convert import _fast
from varsel.misp.convert._misp_stix import parse, parse_one_by_one
from varsel.misp.convert._properties import (
    CREATOR_PROPERTY,
    EVENT_FIELDS,
    EVENT_PROPERTY,
    OURS,
    PUBLISHED_PROPERTY,
    RECIPIENTS_PROPERTY,
)
from varsel.misp.convert._restore import (
    epoch,
    restore_comments,
    restore_object_attributes,
    restore_reference_uuids,
    restore_sighting_uuids,
)
from varsel.sharing.tlp import TLP, level_of_marking

Scoper = Callable[[TLP, tuple[str, ...]], tuple[int, list[str]]]
"""Maps a hub item's TLP level and recipients to MISP's distribution and ``tlp:*`` tags."""

MISP_TOOL_LABEL: Final = 'misp:tool="MISP-STIX-Converter"'
# What misp-stix adds on the way out and reads back as event tags; not the event's own.
_CONVERTER_TAGS: Final = frozenset({"Threat-Report", MISP_TOOL_LABEL})
_PRODUCER_TAG: Final = "misp-galaxy:producer="
_CONTAINERS: Final = ("grouping", "report")


def _placement(obj: Mapping[str, Any]) -> tuple[TLP, tuple[str, ...]]:
    refs = obj.get("object_marking_refs") or ()
    levels = [lvl for ref in refs if isinstance(ref, str) and (lvl := level_of_marking(ref))]
    # An object stored without a TLP marking is read as RED: never broader than stored.
    level = max(levels, key=lambda lvl: lvl.rank) if levels else TLP.RED
    recipients = obj.get(RECIPIENTS_PROPERTY) or ()
    return level, tuple(str(r) for r in recipients)


def _unmarked(obj: Mapping[str, Any]) -> dict[str, Any]:
    copy = {k: v for k, v in obj.items() if k not in OURS}
    refs = [r for r in copy.get("object_marking_refs") or () if level_of_marking(str(r)) is None]
    if refs:
        copy["object_marking_refs"] = refs
    else:
        copy.pop("object_marking_refs", None)
    return copy


def _uuid(stix_id: str) -> str:
    return stix_id.partition("--")[2]


def _is_misp_made(objects: Iterable[Mapping[str, Any]]) -> bool:
    return any(MISP_TOOL_LABEL in (obj.get("labels") or ()) for obj in objects)


class _Places:
    """Each item's distribution and tags from the markings of the STIX objects made of it."""

    def __init__(self, scope: Scoper, event: tuple[TLP, tuple[str, ...]]) -> None:
        self._scope = scope
        self.event = event
        self.by_uuid: dict[str, tuple[TLP, tuple[str, ...]]] = {}

    def add(self, obj: Mapping[str, Any]) -> None:
        found = _placement(obj)
        known = self.by_uuid.get(_uuid(obj["id"]))
        if known is None or found[0].rank > known[0].rank:
            self.by_uuid[_uuid(obj["id"])] = found

    def apply(self, item: dict[str, Any]) -> None:
        """Set ``item``'s distribution and tlp tags: 5 (inherit) when placed as its event."""
        place = self.by_uuid.get(str(item.get("uuid")), self.event)
        tags = [t for t in item.get("Tag", ()) if not _is_tlp_tag(t)]
        if place == self.event:
            item["distribution"] = "5"
        else:
            spread, names = self._scope(*place)
            item["distribution"] = str(spread)
            tags.extend({"name": name} for name in names)
        if tags or "Tag" in item:
            item["Tag"] = tags


def _is_tlp_tag(tag: Any) -> bool:
    name = tag.get("name") if isinstance(tag, Mapping) else tag
    return isinstance(name, str) and name.lower().startswith("tlp:")


def _checked(grouping: Mapping[str, Any], members: Sequence[Mapping[str, Any]]) -> str:
    if not isinstance(grouping, Mapping) or grouping.get("type") not in _CONTAINERS:
        raise InvalidInput("a MISP event is read from a STIX grouping or report")
    stix_id = grouping.get("id")
    try:
        event_uuid = str(uuidlib.UUID(_uuid(str(stix_id))))
    except ValueError:
        raise InvalidInput(f"{str(stix_id)[:80]!r} is not a STIX id") from None
    for obj in members:
        if not isinstance(obj, Mapping) or not isinstance(obj.get("id"), str):
            raise InvalidInput(f"grouping {stix_id}: a member is not a STIX object")
    return event_uuid


def stix_to_event(
    grouping: Mapping[str, Any],
    members: Sequence[Mapping[str, Any]],
    *,
    scope: Scoper | None = None,
    fast: bool = True,
) -> dict[str, Any]:
    """Return the MISP event (``{"Event": {…}}``) of ``grouping`` and the ``members`` one reads.

    ``scope`` maps a TLP level and recipients to MISP's distribution and tags
    (:func:`varsel.misp.sharing.misp_scope` unless given). ``fast=False`` reads every object
    through ``misp-stix`` (the fast path's reference).
    """
    if scope is None:
        from varsel.misp.sharing import misp_scope

        scope = misp_scope
    event_uuid = _checked(grouping, members)
    present = {obj["id"]: obj for obj in members if obj["id"] != grouping["id"]}
    container = _unmarked(grouping)
    refs = [ref for ref in grouping.get("object_refs") or () if ref in present]
    # Relationships, sightings and notes the reader may read belong to the event as well.
    listed = set(refs)
    refs.extend(ref for ref in present if ref not in listed)
    places = _Places(scope, _placement(grouping))
    for obj in present.values():
        places.add(obj)
    misp_made = _is_misp_made([grouping])
    quick = _read_quickly(refs, present) if misp_made and fast else {}
    if quick:
        taken = {i for _, ids in quick.values() for i in ids}
        refs = [ref for ref in refs if ref not in taken]
        present = {i: obj for i, obj in present.items() if i not in taken}
    container["object_refs"] = refs
    objects = [_unmarked(obj) for obj in present.values()]
    try:
        event = parse(container, objects, event_uuid, misp_made)
    except Exception:  # noqa: BLE001 - misp-stix raises anything; read what it can
        event = parse_one_by_one(container, objects, event_uuid, misp_made)
    if quick:
        event["Attribute"] = _in_order(
            grouping, [a for a, _ in quick.values()], event.get("Attribute") or []
        )
        present.update(
            {i: o for i, o in _all(members).items() if i not in present and i != grouping["id"]}
        )
    _finish(event, grouping, event_uuid, places, misp_made)
    restore_object_attributes(event, present.values())
    restore_comments(event, present.values())
    restore_sighting_uuids(event, present.values())
    restore_reference_uuids(event, present.values())
    kept = grouping.get(EVENT_PROPERTY)
    if isinstance(kept, Mapping):
        for key in EVENT_FIELDS:
            if isinstance(kept.get(key), str):
                event[key] = kept[key]
    creator = grouping.get(CREATOR_PROPERTY)
    if isinstance(creator, Mapping) and "Orgc" not in event:
        event["Orgc"] = {"name": str(creator.get("name")), "uuid": str(creator.get("uuid"))}
    published = grouping.get(PUBLISHED_PROPERTY)
    if isinstance(published, str):
        event["published"] = True
        stamp = epoch(published)
        if stamp is not None:
            event["publish_timestamp"] = str(stamp)
    return {"Event": event}


def _all(members: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {obj["id"]: obj for obj in members}


def _read_quickly(
    refs: list[str], present: Mapping[str, Mapping[str, Any]]
) -> dict[str, tuple[dict[str, Any], list[str]]]:
    """Return the attributes read without misp-stix: those the fast path makes (proven to be
    what misp-stix's parser gives back), that no relationship, sighting or note refers to.

    One is always left to misp-stix, which reads the event itself from the grouping."""
    referred: set[str] = set()
    for obj in present.values():
        # An observed-data and its observables (which have no 'created') refer to their own.
        if obj.get("type") in ("observed-data", "grouping") or "created" not in obj:
            continue
        for key, value in obj.items():
            if key.endswith("_ref") and isinstance(value, str):
                referred.add(value)
            elif key.endswith("_refs") and isinstance(value, list):
                referred.update(v for v in value if isinstance(v, str))
    found: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for ref in refs:
        obj = present[ref]
        if ref in referred or obj.get("type") not in ("indicator", "observed-data"):
            continue
        read = _fast.read_back(obj, present)
        if read is not None and not referred.intersection(read[1]):
            found[read[0]["uuid"]] = read
    if found:
        taken = {i for _, ids in found.values() for i in ids}
        if all(ref in taken for ref in refs):
            found.pop(next(iter(found)))
    return found


def _in_order(
    grouping: Mapping[str, Any], quick: list[dict[str, Any]], slow: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Return the attributes in the order of the grouping's references, as misp-stix reads."""
    position = {
        _uuid(ref): i for i, ref in reversed(list(enumerate(grouping.get("object_refs") or ())))
    }
    end = len(position)
    return sorted([*quick, *slow], key=lambda a: position.get(str(a.get("uuid")), end))


def _finish(
    event: dict[str, Any],
    grouping: Mapping[str, Any],
    event_uuid: str,
    places: _Places,
    misp_made: bool,
) -> None:
    event["uuid"] = event_uuid
    event["info"] = str(grouping.get("name") or event.get("info") or "")
    spread, tlp_tags = places._scope(*places.event)
    event["distribution"] = str(spread)
    tags = [
        t
        for t in event.get("Tag", ())
        if not _is_tlp_tag(t)
        and not (misp_made and (t.get("name") in _CONVERTER_TAGS))
        and not str(t.get("name", "")).startswith(_PRODUCER_TAG)
    ]
    event["Tag"] = tags + [{"name": name} for name in tlp_tags]
    for attribute in event.get("Attribute", ()):
        places.apply(attribute)
    for misp_object in event.get("Object", ()):
        places.apply(misp_object)
        for attribute in misp_object.get("Attribute", ()):
            attribute["distribution"] = "5"
            attribute["Tag"] = [t for t in attribute.get("Tag", ()) if not _is_tlp_tag(t)]
    for report in event.get("EventReport", ()):
        places.apply(report)
    if grouping.get("type") == "report" and not misp_made:
        _report_as_event_report(event, grouping)


def _report_as_event_report(event: dict[str, Any], report: Mapping[str, Any]) -> None:
    description = str(report.get("description", ""))
    # misp-stix's external parser makes an event report of the description under a name of
    # its own: the hub's report is that event report, under the report's own name and uuid.
    reports = [r for r in event.get("EventReport", ()) if r.get("content") != description]
    event["EventReport"] = reports
    report_uuid = _uuid(str(report["id"]))
    reports.append(
        {
            "uuid": report_uuid,
            "name": str(report.get("name", "")),
            "content": description,
            "distribution": "5",
            "timestamp": event.get("timestamp"),
        }
    )
