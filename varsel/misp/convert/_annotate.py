"""Write the hub's own properties: what of a MISP event misp-stix does not carry to STIX."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from varsel.misp.convert._misp_stix import stix_time, uuid_of
from varsel.misp.convert._properties import (
    COMMENT_PROPERTY,
    EVENT_FIELDS,
    EVENT_PROPERTY,
    OBJECT_ATTRIBUTES_PROPERTY,
    PUBLISHED_PROPERTY,
    REFERENCE_PROPERTY,
)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def annotate(event: Mapping[str, Any], objects: list[dict[str, Any]]) -> None:
    """Add to ``objects`` (misp-stix's of ``event``) what it drops and the hub keeps: the event's
    own fields and publication, object attributes' uuids, comments of observables, object
    references' uuids; and the count and dates of sightings, as the hub's sightings have them."""
    grouping = next(obj for obj in objects if obj["type"] == "grouping")
    for obj in objects:
        if obj["type"] == "sighting" and "count" not in obj:
            # One MISP sighting is one sighting, at its date: the hub's sightings say so.
            obj.update(count=1, first_seen=obj["created"], last_seen=obj["created"])
    kept = {
        key: str(event[key])
        for key in EVENT_FIELDS
        if isinstance(event.get(key), (str, int)) and str(event[key])
    }
    if kept:
        grouping[EVENT_PROPERTY] = kept
    published = event.get("published")
    if published is True or str(published).lower() in ("1", "true"):
        stamp = _int(event.get("publish_timestamp")) or int(event["timestamp"])
        grouping[PUBLISHED_PROPERTY] = stix_time(stamp)
    comments = {
        a["uuid"]: a["comment"]
        for a in event.get("Attribute", ())
        if isinstance(a.get("comment"), str) and a["comment"]
    }
    members = {
        o["uuid"]: [
            [a.get("object_relation"), a["value"], a["uuid"], a["timestamp"], a.get("comment")]
            for a in o["Attribute"]
        ]
        for o in event.get("Object", ())
    }
    if not members and not comments:
        return
    references = {
        (o["uuid"], str(r.get("referenced_uuid")), str(r.get("relationship_type"))): r["uuid"]
        for o in event.get("Object", ())
        for r in o.get("ObjectReference", ())
        if isinstance(r.get("uuid"), str)
    }
    for obj in objects:
        if obj["type"] == "relationship" and references:
            key = (
                uuid_of(str(obj.get("source_ref"))),
                uuid_of(str(obj.get("target_ref"))),
                str(obj.get("relationship_type")),
            )
            if key in references:
                obj[REFERENCE_PROPERTY] = references[key]
    described = {uuid_of(o["id"]) for o in objects if o.get("description")}
    for obj in objects:
        kind, _, item = obj["id"].partition("--")
        if item in members and kind not in ("relationship", "sighting", "opinion", "note"):
            obj[OBJECT_ATTRIBUTES_PROPERTY] = members[item]
        if kind == "observed-data" and item in comments and item not in described:
            obj[COMMENT_PROPERTY] = comments[item]
