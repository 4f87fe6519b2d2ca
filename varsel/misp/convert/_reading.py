"""Read a MISP event as sent: refuse what cannot be an event, name each item that cannot be read.

The event as a whole must be a JSON object (``{"Event": {…}}`` or the bare event) with a uuid,
an info and a timestamp, and lists where MISP has lists; otherwise :class:`InvalidInput`. An
item that cannot be read (not an object, no uuid, an unknown type, a value too long, a second
item with a uuid already seen …) is left out of the copy handed to the converter and named as a
:class:`Loss`. The caller's event is never changed.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Mapping
from typing import Any, Final

from pymisp.abstract import describe_types

from varsel.errors import InvalidInput
from varsel.misp.convert._types import Loss

MAX_ITEMS: Final = 1_000_000
"""The most attributes (object attributes included), objects or reports one event may have."""
MAX_VALUE_CHARS: Final = 131_072
"""The longest attribute value; MISP's own limit for a value."""
MAX_DATA_CHARS: Final = 16 * 1024 * 1024
"""The longest attachment or malware sample (base64) an attribute may carry."""
MAX_INFO_CHARS: Final = 65_535
MAX_TIMESTAMP: Final = 2**33
"""Seconds since the epoch, past the year 2200: anything later is not a time MISP writes."""

KNOWN_TYPES: Final = frozenset(describe_types["types"])
_LISTS: Final = ("Attribute", "Object", "EventReport", "Tag", "Galaxy")


def _uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuidlib.UUID(value))
    except ValueError:
        return None


def _timestamp(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and 0 <= value < MAX_TIMESTAMP:
        return value
    return None


def distribution(value: Any, *, default: int) -> int | None:
    """Return MISP's distribution 0–5 from ``value`` (int or digit string), or None if invalid."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= 5:
        return value
    return None


def _list(event: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = event.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{where}: '{key}' must be a list, not {type(value).__name__}")
    if len(value) > MAX_ITEMS:
        raise InvalidInput(f"{where}: more than {MAX_ITEMS:,} items in '{key}'")
    return value


_TEXT_FIELDS: Final = ("category", "comment", "object_relation", "first_seen", "last_seen")
_TRUE: Final = (True, 1, "1", "true", "True")
_FLAGS: Final = (*_TRUE, False, 0, "0", "false", "False", None, "")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_LEVELS: Final = {"threat_level_id": ("1", "2", "3", "4"), "analysis": ("0", "1", "2")}


def _text_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _check_event_fields(bare: Mapping[str, Any], where: str) -> None:
    """Refuse an event whose own fields PyMISP could not load (it would lose the event)."""
    date = bare.get("date")
    if date is not None and not (isinstance(date, str) and _DATE.fullmatch(date)):
        raise InvalidInput(f"{where}: its date must be YYYY-MM-DD")
    for key, allowed in _LEVELS.items():
        value = bare.get(key)
        if value is not None and (isinstance(value, bool) or str(value) not in allowed):
            raise InvalidInput(f"{where}: its {key} must be one of {', '.join(allowed)}")
    if bare.get("published") not in _FLAGS:
        raise InvalidInput(f"{where}: 'published' must be true or false")
    for key in ("Orgc", "Org"):
        org = bare.get(key)
        if org is None:
            continue
        if not (
            isinstance(org, Mapping)
            and isinstance(org.get("name"), str)
            and _uuid(org.get("uuid")) is not None
        ):
            raise InvalidInput(f"{where}: '{key}' must be an object with a name and a uuid")
    for key in ("publish_timestamp", "extends_uuid"):
        if not isinstance(bare.get(key), (str, int, type(None))) or isinstance(bare.get(key), bool):
            raise InvalidInput(f"{where}: its {key} must be text")


def _deleted(item: Mapping[str, Any]) -> bool:
    """Return whether MISP marks ``item`` deleted (a soft delete a sync or search may carry)."""
    flag = item.get("deleted")
    return flag is True or (isinstance(flag, (str, int)) and str(flag).lower() in ("1", "true"))


def describe(attribute: Mapping[str, Any]) -> str:
    """Return ``attribute TYPE VALUE`` (the value shortened) for a loss or an error."""
    value = attribute.get("value")
    shown = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else "?"
    if len(shown) > 80:
        shown = shown[:77] + "…"
    return f"attribute {attribute.get('type', '?')} {shown}"


class _What:
    """An attribute's description, made only when a loss names it (most attributes are fine)."""

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    def __str__(self) -> str:
        return describe(self.raw)


_CANONICAL: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class _Reader:
    """Copy one event, item by item, naming each item that cannot be read."""

    def __init__(self, event_uuid: str, event_timestamp: int) -> None:
        self.event = event_uuid
        self.timestamp = event_timestamp
        self.losses: list[Loss] = []
        self.seen: set[str] = set()
        self.attributes = 0

    def lose(self, item: str | None, what: str | _What, reason: str) -> None:
        self.losses.append(Loss(self.event, item, str(what), reason))

    def _item_uuid(self, raw: Mapping[str, Any], what: str | _What) -> str | None:
        given = raw.get("uuid")
        item = given if isinstance(given, str) and _CANONICAL.fullmatch(given) else _uuid(given)
        if item is None:
            self.lose(None, what, "it has no valid uuid")
            return None
        if item in self.seen:
            self.lose(item, what, "another item of this event has the same uuid")
            return None
        self.seen.add(item)
        return item

    def tags(self, raw: Any, item: str | None, what: str | _What) -> list[dict[str, Any]]:
        if not raw:
            return []
        if not isinstance(raw, list):
            self.lose(item, f"tags of {what}", "'Tag' is not a list")
            return []
        kept = []
        for tag in raw:
            if isinstance(tag, Mapping) and isinstance(tag.get("name"), str) and tag["name"]:
                kept.append(dict(tag))
            else:
                self.lose(item, f"a tag of {what}", "a tag is an object with a name")
        return kept

    def attribute(self, raw: Any, index: int) -> dict[str, Any] | None:
        self.attributes += 1
        if not isinstance(raw, Mapping):
            self.lose(None, f"attribute #{index + 1}", "it is not a JSON object")
            return None
        what = _What(raw)
        item = self._item_uuid(raw, what)
        if item is None:
            return None
        if _deleted(raw):
            self.lose(item, what, "it is deleted in MISP")
            return None
        kind = raw.get("type")
        if not isinstance(kind, str) or kind not in KNOWN_TYPES:
            self.lose(item, what, f"unknown attribute type {str(kind)[:60]!r}")
            return None
        wrong = next((key for key in _TEXT_FIELDS if not _text_or_none(raw.get(key))), None)
        if wrong is not None:
            self.lose(item, what, f"its {wrong} is not text")
            return None
        flag = raw.get("to_ids", False)
        if flag not in _FLAGS:
            self.lose(item, what, "its to_ids is neither true nor false")
            return None
        value = raw.get("value")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.lose(item, what, "its value is not a string")
            return None
        value = str(value)
        if not value.strip():
            self.lose(item, what, "its value is empty")
            return None
        if len(value) > MAX_VALUE_CHARS:
            self.lose(item, what, f"its value is longer than {MAX_VALUE_CHARS:,} characters")
            return None
        data = raw.get("data")
        if data is not None and (not isinstance(data, str) or len(data) > MAX_DATA_CHARS):
            self.lose(
                item, what, f"its data is not base64 text of at most {MAX_DATA_CHARS:,} chars"
            )
            return None
        spread = distribution(raw.get("distribution"), default=5)
        if spread is None:
            self.lose(item, what, f"unknown distribution {str(raw.get('distribution'))[:20]!r}")
            return None
        stamp = _timestamp(raw.get("timestamp", self.timestamp))
        if stamp is None:
            self.lose(item, what, "its timestamp is not seconds since the epoch")
            return None
        copy = dict(raw)
        copy.update(uuid=item, value=value, distribution=str(spread), timestamp=str(stamp))
        copy["to_ids"] = flag in _TRUE
        if not isinstance(raw.get("Galaxy"), (list, type(None))):
            self.lose(item, f"galaxies of {what}", "'Galaxy' is not a list")
            copy.pop("Galaxy")
        copy["Tag"] = self.tags(raw.get("Tag"), item, what)
        copy["Sighting"] = self.sightings(raw.get("Sighting"), item, what)
        return copy

    def sightings(self, raw: Any, item: str, what: str | _What) -> list[dict[str, Any]]:
        if not raw:
            return []
        if not isinstance(raw, list):
            self.lose(item, f"sightings of {what}", "'Sighting' is not a list")
            return []
        kept = []
        for sighting in raw:
            if not isinstance(sighting, Mapping):
                self.lose(item, f"a sighting of {what}", "it is not a JSON object")
                continue
            seen = self._item_uuid(sighting, f"sighting of {what}")
            if seen is None:
                continue
            kind = str(sighting.get("type", "0"))
            if kind == "2":
                self.lose(
                    seen,
                    f"expiration sighting of {what}",
                    "STIX 2.1 has no form for an expiration (MISP sighting type 2)",
                )
                continue
            if kind not in ("0", "1"):
                self.lose(seen, f"sighting of {what}", f"unknown sighting type {kind[:20]!r}")
                continue
            stamp = _timestamp(sighting.get("date_sighting", self.timestamp))
            if stamp is None:
                self.lose(seen, f"sighting of {what}", "its date is not seconds since the epoch")
                continue
            kept.append(dict(sighting, uuid=seen, type=kind, date_sighting=str(stamp)))
        return kept

    def misp_object(self, raw: Any, index: int) -> dict[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.lose(None, f"object #{index + 1}", "it is not a JSON object")
            return None
        name = raw.get("name")
        what = f"object {str(name)[:60]}"
        item = self._item_uuid(raw, what)
        if item is None:
            return None
        if not isinstance(name, str) or not name:
            self.lose(item, what, "it has no name (its template)")
            return None
        if _deleted(raw):
            self.lose(item, what, "it is deleted in MISP")
            return None
        spread = distribution(raw.get("distribution"), default=5)
        if spread is None:
            self.lose(item, what, f"unknown distribution {str(raw.get('distribution'))[:20]!r}")
            return None
        members = raw.get("Attribute")
        if members is None:
            members = []
        if not isinstance(members, list):
            self.lose(item, what, "its 'Attribute' is not a list")
            return None
        stamp = _timestamp(raw.get("timestamp", self.timestamp))
        if stamp is None:
            self.lose(item, what, "its timestamp is not seconds since the epoch")
            return None
        attributes = [
            a for i, member in enumerate(members) if (a := self.attribute(member, i)) is not None
        ]
        if not attributes:
            self.lose(item, what, "none of its attributes could be read")
            return None
        copy = dict(raw, uuid=item, distribution=str(spread), timestamp=str(stamp))
        copy["Attribute"] = attributes
        references = raw.get("ObjectReference")
        copy["ObjectReference"] = [
            dict(ref)
            for ref in (references if isinstance(references, list) else [])
            if isinstance(ref, Mapping)
        ]
        return copy

    def report(self, raw: Any, index: int) -> dict[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.lose(None, f"event report #{index + 1}", "it is not a JSON object")
            return None
        what = f"event report {str(raw.get('name'))[:60]}"
        item = self._item_uuid(raw, what)
        if item is None:
            return None
        if not isinstance(raw.get("name"), str) or not isinstance(raw.get("content", ""), str):
            self.lose(item, what, "its name and content must be text")
            return None
        spread = distribution(raw.get("distribution"), default=5)
        if spread is None:
            self.lose(item, what, f"unknown distribution {str(raw.get('distribution'))[:20]!r}")
            return None
        stamp = _timestamp(raw.get("timestamp", self.timestamp))
        if stamp is None:
            self.lose(item, what, "its timestamp is not seconds since the epoch")
            return None
        return dict(raw, uuid=item, distribution=str(spread), timestamp=str(stamp))


def read_event(event: Any) -> tuple[dict[str, Any], list[Loss], int]:
    """Return the bare event cleaned for the converter, the losses, and its attribute count.

    Raises :class:`InvalidInput` when ``event`` as a whole cannot be read as a MISP event.
    """
    if not isinstance(event, Mapping):
        raise InvalidInput(f"a MISP event is a JSON object, not {type(event).__name__}")
    bare = event.get("Event", event)
    if not isinstance(bare, Mapping):
        raise InvalidInput("'Event' must be a JSON object")
    event_uuid = _uuid(bare.get("uuid"))
    if event_uuid is None:
        raise InvalidInput("the event has no valid uuid")
    where = f"event {event_uuid}"
    info = bare.get("info")
    if not isinstance(info, str) or not info.strip():
        raise InvalidInput(f"{where}: it has no info (its title)")
    if len(info) > MAX_INFO_CHARS:
        raise InvalidInput(f"{where}: its info is longer than {MAX_INFO_CHARS:,} characters")
    stamp = _timestamp(bare.get("timestamp"))
    if stamp is None:
        raise InvalidInput(f"{where}: it has no timestamp (seconds since the epoch)")
    spread = distribution(bare.get("distribution"), default=0)
    if spread is None or spread == 5:
        raise InvalidInput(f"{where}: unknown distribution {str(bare.get('distribution'))[:20]!r}")
    _check_event_fields(bare, where)
    lists = {key: _list(bare, key, where) for key in _LISTS}
    reader = _Reader(event_uuid, stamp)
    reader.seen.add(event_uuid)
    clean = dict(bare, uuid=event_uuid, timestamp=str(stamp), distribution=str(spread))
    clean["Tag"] = reader.tags(lists["Tag"], None, "the event")
    clean["Galaxy"] = [dict(g) for g in lists["Galaxy"] if isinstance(g, Mapping)]
    clean["Attribute"] = [
        a for i, raw in enumerate(lists["Attribute"]) if (a := reader.attribute(raw, i)) is not None
    ]
    clean["Object"] = [
        o for i, raw in enumerate(lists["Object"]) if (o := reader.misp_object(raw, i)) is not None
    ]
    clean["EventReport"] = [
        r for i, raw in enumerate(lists["EventReport"]) if (r := reader.report(raw, i)) is not None
    ]
    if reader.attributes > MAX_ITEMS:
        raise InvalidInput(f"{where}: more than {MAX_ITEMS:,} attributes")
    return clean, reader.losses, reader.attributes
