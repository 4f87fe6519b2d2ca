"""Put back what misp-stix's parser does not keep: uuids, timestamps, comments, references."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from varsel.misp.convert._properties import (
    COMMENT_PROPERTY,
    OBJECT_ATTRIBUTES_PROPERTY,
    REFERENCE_PROPERTY,
)

# misp-stix gives each object reference it reads a new random uuid; one derived from what the
# reference says keeps a reading of the same objects the same.
_REFERENCES: Final = uuidlib.UUID("c7d0f8a4-52c1-4f5e-8b1e-3f5d2f9a6b20")


def epoch(stamp: str) -> int | None:
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def restore_object_attributes(event: dict[str, Any], members: Iterable[Mapping[str, Any]]) -> None:
    """Give each object attribute back the uuid and timestamp it had in MISP."""
    kept: dict[str, list[Any]] = {}
    for obj in members:
        listed = obj.get(OBJECT_ATTRIBUTES_PROPERTY)
        if isinstance(listed, list):
            kept.setdefault(_uuid(obj["id"]), listed)
    for misp_object in event.get("Object", ()):
        rows = kept.get(str(misp_object.get("uuid")))
        if not rows:
            continue
        by_key: dict[tuple[str, str], list[list[Any]]] = {}
        for row in rows:
            if isinstance(row, list) and len(row) >= 4:
                by_key.setdefault((str(row[0]), str(row[1])), []).append(row)
        for attribute in misp_object.get("Attribute", ()):
            found = by_key.get((str(attribute.get("object_relation")), str(attribute.get("value"))))
            if found:
                row = found.pop(0)
                attribute["uuid"], attribute["timestamp"] = str(row[2]), str(row[3])
                if len(row) > 4 and isinstance(row[4], str) and not attribute.get("comment"):
                    attribute["comment"] = row[4]


def restore_comments(event: dict[str, Any], members: Iterable[Mapping[str, Any]]) -> None:
    """Give back the comment of an attribute written as observables, which have none."""
    comments = {
        _uuid(obj["id"]): obj[COMMENT_PROPERTY]
        for obj in members
        if isinstance(obj.get(COMMENT_PROPERTY), str)
    }
    for attribute in event.get("Attribute", ()):
        comment = comments.get(str(attribute.get("uuid")))
        if comment and not attribute.get("comment"):
            attribute["comment"] = comment


def restore_reference_uuids(event: dict[str, Any], members: Iterable[Mapping[str, Any]]) -> None:
    """Give each object reference the uuid it had in MISP, or one derived from what it says."""
    kept = {
        (
            _uuid(str(o.get("source_ref"))),
            _uuid(str(o.get("target_ref"))),
            o.get("relationship_type"),
        ): o[REFERENCE_PROPERTY]
        for o in members
        if o.get("type") == "relationship" and isinstance(o.get(REFERENCE_PROPERTY), str)
    }
    for misp_object in event.get("Object", ()):
        for reference in misp_object.get("ObjectReference", ()):
            key = (
                str(misp_object.get("uuid")),
                str(reference.get("referenced_uuid")),
                reference.get("relationship_type"),
            )
            reference["uuid"] = kept.get(key) or str(
                uuidlib.uuid5(_REFERENCES, "|".join(str(part) for part in key))
            )


def restore_sighting_uuids(event: dict[str, Any], members: Iterable[Mapping[str, Any]]) -> None:
    """Give each sighting back its uuid, which misp-stix's parser does not keep.

    A MISP sighting is a STIX ``sighting`` (type 0) or ``opinion`` (type 1, false positive) whose
    id carries its uuid; it is found again by what it sighted, who sighted it and when.
    """
    found: dict[tuple[str, str, str, str], list[str]] = {}
    for obj in members:
        if obj.get("type") == "sighting":
            refs = [obj.get("sighting_of_ref")]
            who = (obj.get("where_sighted_refs") or [None])[0]
            kind = "0"
        elif obj.get("type") == "opinion":
            refs = list(obj.get("object_refs") or ())
            who = obj.get("x_misp_author_ref")
            kind = "1"
        else:
            continue
        when = epoch(str(obj.get("modified", "")))
        for ref in refs:
            key = (_uuid(str(ref)), _uuid(str(who)), str(when), kind)
            found.setdefault(key, []).append(_uuid(obj["id"]))
    if not found:
        return
    for attribute in [*event.get("Attribute", ())] + [
        a for o in event.get("Object", ()) for a in o.get("Attribute", ())
    ]:
        for sighting in attribute.get("Sighting", ()):
            org = sighting.get("Organisation") or {}
            key = (
                str(attribute.get("uuid")),
                str(org.get("uuid")),
                str(sighting.get("date_sighting")),
                str(sighting.get("type")),
            )
            uuids = found.get(key)
            if uuids and "uuid" not in sighting:
                sighting["uuid"] = uuids.pop(0)


def _seconds(value: Any) -> str | None:
    stamp = getattr(value, "timestamp", None)
    return str(int(stamp())) if callable(stamp) else None


def restore_timestamps(event: dict[str, Any], misp_event: Any) -> None:
    """Put back the timestamps PyMISP leaves out of the JSON of an item it counts as edited."""
    known: dict[str, str] = {}
    for attribute in misp_event.attributes:
        if (stamp := _seconds(getattr(attribute, "timestamp", None))) is not None:
            known[str(attribute.uuid)] = stamp
    for misp_object in misp_event.objects:
        if (stamp := _seconds(getattr(misp_object, "timestamp", None))) is not None:
            known[str(misp_object.uuid)] = stamp
        for attribute in misp_object.attributes:
            if (stamp := _seconds(getattr(attribute, "timestamp", None))) is not None:
                known[str(attribute.uuid)] = stamp
    items = [*event.get("Attribute", ()), *event.get("Object", ())]
    items += [a for o in event.get("Object", ()) for a in o.get("Attribute", ())]
    for item in items:
        if "timestamp" not in item and str(item.get("uuid")) in known:
            item["timestamp"] = known[str(item["uuid"])]


def _uuid(stix_id: str) -> str:
    return stix_id.partition("--")[2]
