"""TLP 2.0 levels and their STIX 2.1 marking-definition ids, read from ``data/tlp.json``.

The rules are data: the levels, their OASIS ids, the TLP 1.0 mapping and the ids other products
(OpenCTI, MISP) use live in the JSON file with their sources. Unknown TLP-like markings are never
guessed at: only ids listed there count, and :func:`definition_problem` says why a
marking-definition that looks like TLP, or contradicts the level its id stands for, is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any


class TLP(StrEnum):
    """A TLP 2.0 level, ordered from least to most restrictive."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def rank(self) -> int:
        """Return the level's restrictiveness, 0 for CLEAR up to 4 for RED."""
        return _ORDER.index(self)

    @property
    def label(self) -> str:
        """Return the conventional label, e.g. ``TLP:AMBER+STRICT``."""
        return "TLP:" + self.value.upper()

    @property
    def stix_id(self) -> str:
        """Return the OASIS TLP 2.0 marking-definition id of this level."""
        return _table().ids[self]

    @classmethod
    def parse(cls, text: str) -> TLP:
        """Return the level named by ``text`` (``amber``, ``TLP:AMBER``, ``amber+strict``, …)."""
        value = text.strip().lower().removeprefix("tlp:").replace("_", "+").replace(" ", "")
        if value == "white":
            return cls.CLEAR
        if value == "amberstrict":
            value = "amber+strict"
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(level.value for level in cls)
            raise ValueError(f"unknown TLP level {text!r}; expected one of {names}") from None


_ORDER = list(TLP)


@dataclass(frozen=True)
class _Table:
    ids: dict[TLP, str]
    by_marking: dict[str, TLP]
    colours: dict[TLP, tuple[str, str]]
    source: str


@cache
def _table() -> _Table:
    raw: dict[str, Any] = json.loads(
        resources.files("varsel.data").joinpath("tlp.json").read_text(encoding="utf-8")
    )
    ids = {TLP(row["level"]): row["stix_id"] for row in raw["levels"]}
    by_marking = {stix_id: level for level, stix_id in ids.items()}
    for row in raw["tlp1_mapping"]:
        by_marking[row["stix_id"]] = TLP(row["level"])
    # An unverified equivalence is carried with its source but never applied (fail closed).
    for row in raw["equivalents"]:
        if row["verified"] is not True:
            continue
        level = TLP(row["level"])
        if by_marking.setdefault(row["stix_id"], level) is not level:
            raise ValueError(f"tlp.json maps {row['stix_id']} to two levels")
    colours = {TLP(row["level"]): (row["colour"], row["background"]) for row in raw["levels"]}
    return _Table(ids=ids, by_marking=by_marking, colours=colours, source=raw["source"])


def level_of_marking(marking_id: str) -> TLP | None:
    """Return the TLP level a marking-definition id stands for, or None if it is not TLP."""
    return _table().by_marking.get(marking_id)


_TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
# A name that is "TLP" or starts with "TLP" and a separator claims a TLP level.
_TLP_NAME = re.compile(r"\s*tlp(?:[\s:_\-].*)?", re.IGNORECASE | re.DOTALL)


def _claim(value: object, claims: set[TLP], unknown: list[str]) -> None:
    try:
        if isinstance(value, str):
            claims.add(TLP.parse(value))
            return
    except ValueError:
        pass
    unknown.append(repr(value)[:60])


def _is_tlp_type(value: object) -> bool:
    return isinstance(value, str) and value.strip().casefold() == "tlp"


def _tlp_claims(obj: dict[str, Any]) -> tuple[set[TLP], list[str]]:
    """Return the TLP levels a marking-definition claims anywhere, and claims naming no level.

    The forms looked at: STIX 2.1 TLP 1.0 (``definition: {"tlp": …}``), the TLP 2.0 property
    extension (``tlp_2_0``), OpenCTI's (``definition_type: "TLP"``, ``x_opencti_definition``)
    and a ``TLP:…`` name.
    """
    claims: set[TLP] = set()
    unknown: list[str] = []
    definition = obj.get("definition")
    if isinstance(definition, dict):
        for key, value in definition.items():
            if _is_tlp_type(key):
                _claim(value, claims, unknown)
    if "x_opencti_definition" in obj:
        _claim(obj["x_opencti_definition"], claims, unknown)
    extensions = obj.get("extensions")
    if isinstance(extensions, dict):
        for ext_id, ext in extensions.items():
            if ext_id == _TLP2_EXTENSION or (isinstance(ext, dict) and "tlp_2_0" in ext):
                _claim(ext.get("tlp_2_0") if isinstance(ext, dict) else ext, claims, unknown)
    name = obj.get("name")
    if isinstance(name, str) and _TLP_NAME.fullmatch(name) is not None:
        _claim(name, claims, unknown)
    typed = _is_tlp_type(obj.get("definition_type")) or _is_tlp_type(
        obj.get("x_opencti_definition_type")
    )
    if typed and not claims and not unknown:
        unknown.append("a TLP definition_type naming no level")
    return claims, unknown


def definition_problem(obj: dict[str, Any]) -> str | None:
    """Return why a marking-definition's TLP content is refused, or None if it is acceptable.

    A definition under a known TLP id must claim exactly that level; a definition that looks
    like TLP (a ``tlp`` definition or definition_type, the TLP 2.0 extension, a ``TLP:…`` name)
    under any other id is a TLP marking this hub does not know, and is never guessed at.
    """
    stix_id = obj.get("id")
    known = level_of_marking(stix_id) if isinstance(stix_id, str) else None
    claims, unknown = _tlp_claims(obj)

    def said(levels: set[TLP]) -> str:
        return ", ".join([lvl.label for lvl in sorted(levels, key=lambda lvl: lvl.rank)] + unknown)

    if known is not None:
        if unknown or claims - {known}:
            return (
                f"marking {stix_id} is the id of {known.label} but its definition says "
                f"{said(claims - {known})}"
            )
        if not claims:
            return f"marking {stix_id} is the id of {known.label} but it defines no TLP level"
        return None
    if claims or unknown:
        return (
            f"marking {stix_id} looks like TLP ({said(claims)}) but is not a TLP marking this hub "
            "knows; use the OASIS TLP 2.0 marking-definition ids (docs/access-policy.md)"
        )
    return None


def effective_tlp(marking_refs: tuple[str, ...] | list[str], default: TLP) -> TLP:
    """Return the most restrictive TLP among ``marking_refs``, or ``default`` when none is TLP."""
    levels = [lvl for ref in marking_refs if (lvl := level_of_marking(ref)) is not None]
    if not levels:
        return default
    return max(levels, key=lambda lvl: lvl.rank)


def colours(level: TLP) -> tuple[str, str]:
    """Return the (text, background) colours FIRST prescribes for ``level``."""
    return _table().colours[level]


def marking_definition(level: TLP) -> dict[str, Any]:
    """Return the OASIS STIX 2.1 marking-definition object for ``level``."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": level.stix_id,
        "created": "2022-10-01T00:00:00.000Z",
        "name": level.label,
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": level.value,
            }
        },
    }
