"""MISP's filters and searches: ``events/index``, ``events/restSearch``, ``attributes/…``."""

from __future__ import annotations

import calendar
import csv
import dataclasses
import io
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from varsel.clock import now_us
from varsel.errors import InvalidInput
from varsel.misp.flows.reading._catalog import (
    _ANALYSIS,
    _THREAT_LEVEL,
    MAX_LIMIT,
    EventMeta,
    catalog,
    org_uuid,
)
from varsel.misp.flows.reading._convert import events
from varsel.policy.principal import Principal

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


def _values(value: Any) -> list[str]:
    """Return MISP's ``value`` filter: one value or a list (``a|b`` is a composite value)."""
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        raise InvalidInput("OR/AND/NOT filters are not supported; give a list of values")
    items = value if isinstance(value, list) else [value]
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
        values=tuple(_values(data.get("value"))),
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
    if q.not_tags and event_tags & set(q.not_tags):
        return None  # an excluded tag on the event excludes all of it
    tagged = bool(q.tags) and bool(event_tags & set(q.tags))
    if not (q.filters_attributes or q.not_tags or (q.tags and not tagged)):
        return event
    attributes = [a for a in body.get("Attribute") or [] if _attribute_matches(a, q, event_tags)]
    objects = []
    for obj in body.get("Object") or []:
        kept = [a for a in obj.get("Attribute") or [] if _attribute_matches(a, q, event_tags)]
        if kept:
            objects.append({**obj, "Attribute": kept})
    if not attributes and not objects and not (tagged and not q.filters_attributes):
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
