"""What a list row shows of an object: its value or pattern, its name, and names for references.

Lists used to show "Payload URL" ten times; a row now leads with what tells objects apart — an
indicator's values (or its pattern), an observable's value, a relationship as "name → name" —
and keeps the name as a second line. References are shown by name, and an object the reader may
not read is "an object you cannot see", never its id or type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.observables.patterns import Unsupported, parse
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.browse import Hit
from varsel.sharing.models import StixObject

MAX_SHOWN = 160  # characters of a pattern or value a row shows
MAX_VALUES = 3  # values of an indicator a row lists before "and N more"
_REF_PROPS = ("source_ref", "target_ref", "sighting_of_ref")


@dataclass(frozen=True)
class Ref:
    """An object a row refers to: its id and name when readable, else nothing about it."""

    stix_id: str | None
    name: str | None

    @property
    def hidden(self) -> bool:
        """Return whether the reader may not read the referenced object."""
        return self.stix_id is None


@dataclass(frozen=True)
class Row:
    """One list row: the hit, what it shows first, its name, and the objects it refers to."""

    hit: Hit
    value: str | None  # the values or pattern (indicators, observables), else None
    values_more: int  # how many further values an indicator has beyond those shown
    name: str | None
    relationship: str | None  # relationship_type, or "sighting-of"
    source: Ref | None
    target: Ref | None

    def __getattr__(self, item: str) -> Any:
        # The row macro reads the hit's fields (tlp, producer, …) through the row.
        return getattr(self.hit, item)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _indicator_value(obj: dict[str, Any]) -> tuple[str | None, int]:
    pattern = obj.get("pattern")
    if not isinstance(pattern, str):
        return None, 0
    try:
        atoms = parse(pattern) if obj.get("pattern_type", "stix") == "stix" else []
    except Unsupported:
        atoms = []
    values = list(dict.fromkeys(("*." if a.subdomains else "") + a.value for a in atoms))
    if not values:
        return _cut(pattern), 0
    return _cut(", ".join(values[:MAX_VALUES])), max(0, len(values) - MAX_VALUES)


def _observable_value(obj: dict[str, Any]) -> str | None:
    value = obj.get("value")
    if isinstance(value, str):
        return _cut(value)
    hashes = obj.get("hashes")
    if isinstance(hashes, dict):
        for digest in hashes.values():
            if isinstance(digest, str):
                return _cut(digest)
    name = obj.get("name")
    return _cut(name) if isinstance(name, str) and obj.get("type") == "file" else None


def value_of(raw: str | None) -> str | None:
    """Return what a row shows of an object's raw JSON: its values or pattern, else None."""
    try:
        obj = json.loads(raw or "")
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    if obj.get("type") == "indicator":
        return _indicator_value(obj)[0]
    return _observable_value(obj)


def _names(session: Session, principal: Principal, ids: Iterable[str]) -> dict[str, str | None]:
    """Return the names of the objects among ``ids`` that ``principal`` may read."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        restrict(
            select(StixObject.stix_id, StixObject.name, StixObject.type, StixObject.raw),
            principal,
            Action.READ,
        ).where(StixObject.stix_id.in_(wanted), StixObject.is_latest.is_(True))
    )
    out: dict[str, str | None] = {}
    for stix_id, name, kind, raw in rows:
        if stix_id in out and out[stix_id]:
            continue
        shown = name
        if not shown:
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = {}
            shown = (
                _indicator_value(obj)[0] if kind == "indicator" else _observable_value(obj)
            ) or None
        out[stix_id] = shown
    return out


def rows(*, session: Session, principal: Principal, hits: Sequence[Hit]) -> list[Row]:
    """Return the list rows of ``hits``, with references named as ``principal`` may see them."""
    parsed: list[dict[str, Any]] = []
    refs: set[str] = set()
    for hit in hits:
        try:
            obj = json.loads(hit.raw)
        except ValueError:
            obj = {}
        parsed.append(obj if isinstance(obj, dict) else {})
        refs.update(v for k in _REF_PROPS if isinstance(v := parsed[-1].get(k), str))
    names = _names(session, principal, refs)

    def ref(value: object) -> Ref | None:
        if not isinstance(value, str):
            return None
        if value not in names:
            return Ref(None, None)
        return Ref(value, names[value] or None)

    out = []
    for hit, obj in zip(hits, parsed, strict=True):
        value: str | None = None
        more = 0
        relationship = source = target = None
        if hit.type == "indicator":
            value, more = _indicator_value(obj)
        elif hit.type == "relationship":
            relationship = str(obj.get("relationship_type") or "related-to")
            source, target = ref(obj.get("source_ref")), ref(obj.get("target_ref"))
        elif hit.type == "sighting":
            relationship = "sighting-of"
            target = ref(obj.get("sighting_of_ref"))
        else:
            value = _observable_value(obj)
        out.append(Row(hit, value, more, hit.name, relationship, source, target))
    return out
