"""The STIX 2.1 classification marking, and the ingest step that reads and enforces markings.

The ingest step (:class:`Classifier`) also holds every marking to its id: TLP-like markings the
hub does not know, definitions that contradict the level their id stands for, and markings
defined nowhere refuse the object instead of letting it fall back to the collection's default.

A classification is a ``marking-definition`` carrying Varsel's own property extension::

    {"type": "marking-definition", "spec_version": "2.1",
     "id": "marking-definition--<uuid5(NAMESPACE, 'NO:KONFIDENSIELT')>",
     "created": "2026-01-01T00:00:00.000Z", "name": "NO:KONFIDENSIELT",
     "extensions": {EXTENSION_ID: {"extension_type": "property-extension",
                                   "country": "NO", "level": "KONFIDENSIELT"}}}

Ids are deterministic (UUIDv5 of ``SCHEME:LEVEL`` in the scheme's canonical spelling), so two
hubs mint the same id for the same classification. docs/classification.md is the reference.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.clearances import rules
from varsel.sharing import tlp
from varsel.sharing.models import StixObject
from varsel.sharing.validation import InvalidStixObject, validate_object

NAMESPACE = uuid.UUID("5d0e6c1e-3b7a-5c2e-9f0e-7a1c0b4e2d61")
EXTENSION_ID = f"extension-definition--{uuid.uuid5(NAMESPACE, 'varsel-classification-v1')}"
IDENTITY_ID = f"identity--{uuid.uuid5(NAMESPACE, 'varsel')}"
CREATED = "2026-01-01T00:00:00.000Z"


def marking_id(level: rules.Level) -> str:
    """Return the deterministic marking-definition id of ``level``."""
    return f"marking-definition--{uuid.uuid5(NAMESPACE, level.label)}"


def marking_definition(level: rules.Level) -> dict[str, Any]:
    """Return the STIX 2.1 marking-definition for ``level``."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": marking_id(level),
        "created": CREATED,
        "created_by_ref": IDENTITY_ID,
        "name": level.label,
        "extensions": {
            EXTENSION_ID: {
                "extension_type": "property-extension",
                "country": level.scheme,
                "level": level.name,
            }
        },
    }


@cache
def _known_ids() -> dict[str, rules.Level]:
    return {marking_id(lvl): lvl for sch in rules.schemes() for lvl in sch.levels}


def _named_level(name: object) -> rules.Level | None:
    """Return the classification a marking's name spells (``NO:HEMMELIG``), or None."""
    if not isinstance(name, str):
        return None
    try:
        return rules.parse_label(name)
    except rules.UnknownLevel:
        return None


def _level_of_definition(obj: dict[str, Any]) -> rules.Level | str | None:
    """Return the level a marking-definition names, an error text, or None if not ours.

    A definition under one of the deterministic ids must carry the extension and name that
    level; a name that spells a classification must agree with the extension (and without
    the extension it is refused, since the hub would otherwise store the object unclassified).
    """
    expected = _known_ids().get(str(obj.get("id")))
    named = _named_level(obj.get("name"))
    ext = (
        (obj.get("extensions") or {}).get(EXTENSION_ID)
        if isinstance(obj.get("extensions"), dict)
        else None
    )
    if ext is None:
        if expected is not None:
            return (
                f"marking {obj.get('id')} is the id of {expected.label} but it does not carry "
                "the classification extension"
            )
        if named is not None:
            return (
                f"marking {obj.get('id')} is named {named.label} but does not carry the "
                f"classification extension; mark it with {marking_id(named)}"
            )
        return None
    if (
        not isinstance(ext, dict)
        or not isinstance(ext.get("country"), str)
        or not isinstance(ext.get("level"), str)
    ):
        return (
            f"marking {obj.get('id')}: the classification extension needs string properties "
            "'country' and 'level'"
        )
    try:
        found = rules.level(ext["country"], ext["level"])
    except rules.UnknownLevel as exc:
        return f"marking {obj.get('id')}: {exc}"
    if expected is not None and expected != found:
        return (
            f"marking {obj.get('id')} is the id of {expected.label} but its extension says "
            f"{found.label}"
        )
    if named is not None and named != found:
        return (
            f"marking {obj.get('id')} is named {named.label} but its extension says {found.label}"
        )
    if expected is not None and named is None and "name" in obj:
        return (
            f"marking {obj.get('id')} is the id of {expected.label} but is named "
            f"{str(obj.get('name'))[:60]!r}"
        )
    return found


def _resolve_definition(obj: dict[str, Any]) -> rules.Level | str | None:
    """Return the classification a marking-definition stands for, a refusal reason, or None."""
    problem = tlp.definition_problem(obj)
    if problem is not None:
        return problem
    return _level_of_definition(obj)


@dataclass(frozen=True, slots=True)
class Classified:
    """The classification an object carries, as stored in its row."""

    level: rules.Level

    def columns(self) -> dict[str, Any]:
        """Return the StixObject column values."""
        return {
            "class_country": rules.scheme(self.level.scheme).stored_as,
            "class_grade": self.level.grade,
            "class_level": self.level.name,
        }


UNCLASSIFIED: dict[str, Any] = {"class_country": None, "class_grade": None, "class_level": None}


def received_classification(value: Any) -> dict[str, Any] | None:
    """Return the row columns of a provenance's ``class`` (``[code, grade, level]`` or null).

    None when this hub's classification table does not hold exactly that level: a version
    whose classification the hub cannot place is refused, never stored as unclassified.
    """
    if value is None:
        return dict(UNCLASSIFIED)
    if not isinstance(value, list) or len(value) != 3:
        return None
    country, grade, name = value
    if type(grade) is not int or not isinstance(country, str) or not isinstance(name, str):
        return None
    for sch in rules.schemes():
        if sch.stored_as != country:
            continue
        for lvl in sch.levels:
            if lvl.name == name and lvl.grade == grade:
                return {"class_country": country, "class_grade": grade, "class_level": name}
    return None


class Classifier:
    """Read the markings of one envelope: its own definitions, stored ones, known ids.

    Markings fail closed: an object is refused when one of its markings is a TLP-like marking
    this hub does not know, contradicts the level its id stands for, or is defined nowhere.
    """

    def __init__(self, session: Session, objects: list[tuple[str, Any]]) -> None:
        self._session = session
        self._defined: dict[str, rules.Level | str | None] = {}
        for _raw, obj in objects:
            if not isinstance(obj, dict) or obj.get("type") != "marking-definition":
                continue
            oid = obj.get("id")
            if not isinstance(oid, str):
                continue
            try:
                validate_object(obj)
                found = _resolve_definition(obj)
            except InvalidStixObject as exc:
                # Under a known id the id decides, as long as the definition does not contradict
                # it (OpenCTI writes its TLP definitions without a 'definition', for one).
                known = tlp.level_of_marking(oid) is not None or oid in _known_ids()
                found = (
                    _resolve_definition(obj)
                    if known
                    else f"marking {oid} is not a valid marking-definition: {exc.reason}"
                )
            if oid in self._defined and self._defined[oid] != found:
                found = f"marking {oid} is defined twice, differently, in this envelope"
            self._defined[oid] = found
        self._stored: dict[str, rules.Level | str | None] = {}
        self.ceiling = rules.ceiling()

    def _lookup(self, ref: str) -> rules.Level | str | None:
        if ref in self._defined:
            return self._defined[ref]
        if tlp.level_of_marking(ref) is not None:
            return None
        if ref in _known_ids():
            return _known_ids()[ref]
        if ref not in self._stored:
            raw = self._session.execute(
                select(StixObject.raw)
                .where(StixObject.stix_id == ref, StixObject.is_latest.is_(True))
                .limit(1)
            ).scalar_one_or_none()
            found: rules.Level | str | None = (
                f"marking {ref} is defined neither in this envelope nor in this hub; send its "
                "marking-definition with it"
            )
            if raw is not None:
                try:
                    obj = json.loads(raw)
                except ValueError:
                    obj = None
                found = (
                    _resolve_definition(obj)
                    if isinstance(obj, dict)
                    else f"marking {ref} is stored in a form this hub cannot read"
                )
            self._stored[ref] = found
        return self._stored[ref]

    def classify(self, obj: dict[str, Any], refs: list[str]) -> tuple[dict[str, Any], str | None]:
        """Return the object's classification columns, or a failure reason to refuse it with.

        An object's own marking-definition is checked too; the classification of an object is
        the highest level among its object and granular markings, all of one country. A
        marking that fails closed (see the class) refuses the object.
        """
        oid = obj.get("id")
        if obj.get("type") == "marking-definition":
            own = _resolve_definition(obj)
            if isinstance(own, str):
                return UNCLASSIFIED, f"{oid}: {own}"
        levels: list[rules.Level] = []
        for ref in refs:
            found = self._lookup(ref)
            if isinstance(found, str):
                return UNCLASSIFIED, f"{oid}: refused for its marking: {found}"
            if found is not None:
                levels.append(found)
        if not levels:
            return UNCLASSIFIED, None
        countries = {lvl.scheme for lvl in levels}
        if len(countries) > 1:
            return UNCLASSIFIED, (
                f"{oid}: carries classifications of more than one country "
                f"({', '.join(sorted(countries))}); share one object per "
                f"classifying country"
            )
        top = max(levels, key=lambda lvl: lvl.grade)
        if top.grade > self.ceiling.grade:
            return UNCLASSIFIED, (
                f"{oid}: classified {top.label} (grade {top.grade}), above "
                f"what this hub may hold: {self.ceiling.describe()}; "
                f"nothing of it was stored"
            )
        return Classified(top).columns(), None
