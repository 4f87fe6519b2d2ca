"""TLP 2.0 levels and their STIX 2.1 marking-definition ids, read from ``data/tlp.json``.

The rules are data: the levels, their OASIS ids and the TLP 1.0 mapping live in the JSON file
with their source. Unknown TLP-like markings are never guessed at; only ids listed there count.
"""

from __future__ import annotations

import json
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
    colours = {TLP(row["level"]): (row["colour"], row["background"]) for row in raw["levels"]}
    return _Table(ids=ids, by_marking=by_marking, colours=colours, source=raw["source"])


def level_of_marking(marking_id: str) -> TLP | None:
    """Return the TLP level a marking-definition id stands for, or None if it is not TLP."""
    return _table().by_marking.get(marking_id)


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
