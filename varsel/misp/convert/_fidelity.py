"""Whether a MISP attribute came back from STIX as it went in, field by field.

The fields compared are the ones a MISP user sees of an attribute: type, category, value,
to_ids, comment, uuid, timestamp and tags. ``tlp:*`` tags are left out: they go through the
placement (TLP 2.0 level and recipients ⇄ distribution and tags), never copied as they were.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

FIELDS: Final = ("type", "category", "value", "to_ids", "comment", "uuid", "timestamp")


def _norm(name: str, value: Any) -> Any:
    if name == "to_ids":
        return str(value).lower() in ("1", "true")
    if name == "comment":
        return value or ""
    if name in ("value", "timestamp"):
        return str(value)
    return value


def tags(attribute: Mapping[str, Any]) -> set[str]:
    """Return the attribute's tag names but ``tlp:*`` ones."""
    return {
        str(t.get("name"))
        for t in attribute.get("Tag") or ()
        if isinstance(t, Mapping) and not str(t.get("name")).lower().startswith("tlp:")
    }


def attributes(event: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield the event's attributes, object attributes included."""
    bare = event.get("Event", event)
    for attribute in bare.get("Attribute") or ():
        if isinstance(attribute, dict):
            yield attribute
    for misp_object in bare.get("Object") or ():
        if isinstance(misp_object, dict):
            for attribute in misp_object.get("Attribute") or ():
                if isinstance(attribute, dict):
                    yield attribute


def differences(before: Mapping[str, Any], after: Mapping[str, Any] | None) -> list[str]:
    """Return the fields in which ``after`` differs from ``before``; ["missing"] if gone."""
    if after is None:
        return ["missing"]
    found = [
        name
        for name in FIELDS
        if name in before and _norm(name, before.get(name)) != _norm(name, after.get(name))
    ]
    if tags(before) != tags(after):
        found.append("tags")
    return found
