"""Load the regulation data files (``varsel/data/regulation/*.json``) into ready-to-use rules.

National files name the instrument they transpose (``stages_from``) and list only their
deviations (``stage_overrides``); this module merges the two so the engine sees every stage of
every jurisdiction with the source and ``verified`` flag that applies to it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Stage:
    """One report a jurisdiction requires, with its deadline rule as data."""

    stage: str
    title: str
    deadline: dict[str, Any]
    content: tuple[str, ...]
    source: str
    verified: bool
    variants: tuple[dict[str, Any], ...] = ()
    if_ongoing: dict[str, Any] | None = None
    weekend_rule: bool = False


@dataclass(frozen=True)
class Jurisdiction:
    """A country's (or DORA's) reporting rules, merged with the instrument it transposes."""

    id: str
    country: str | None
    title: str
    regime: str
    timezone: str | None
    source: str
    verified: bool
    stages: tuple[Stage, ...]
    recipients: tuple[dict[str, Any], ...]
    content_fields: dict[str, dict[str, Any]]
    significance: dict[str, Any] | None
    applies_if: dict[str, Any]
    raw: dict[str, Any]

    def stage(self, name: str) -> Stage | None:
        """Return the stage called ``name`` (including an ``if_ongoing`` progress stage)."""
        for stage in self.stages:
            if stage.stage == name:
                return stage
            if stage.if_ongoing and stage.if_ongoing["stage"] == name:
                ongoing = stage.if_ongoing
                return Stage(
                    stage=ongoing["stage"],
                    title=ongoing["title"],
                    deadline={},
                    content=tuple(ongoing.get("content", ())),
                    source=ongoing["source"],
                    verified=bool(ongoing["verified"]),
                )
        return None


@dataclass(frozen=True)
class Rules:
    """Every data file, by id."""

    files: dict[str, dict[str, Any]]
    jurisdictions: dict[str, Jurisdiction]  # by country code: SE, FI, DK, NO, IS
    dora: Jurisdiction
    thresholds: dict[str, Any]  # Implementing Regulation 2024/2690
    nis2: dict[str, Any]


def _stage(raw: dict[str, Any]) -> Stage:
    return Stage(
        stage=raw["stage"],
        title=raw["title"],
        deadline=raw["deadline"],
        content=tuple(raw.get("content", ())),
        source=raw["source"],
        verified=bool(raw["verified"]),
        variants=tuple(raw.get("variants", ())),
        if_ongoing=raw.get("if_ongoing"),
        weekend_rule=bool(raw.get("weekend_rule")),
    )


def _merge(raw: dict[str, Any], files: dict[str, dict[str, Any]]) -> Jurisdiction:
    base = files[raw["stages_from"]] if "stages_from" in raw else {}
    stages = copy.deepcopy(base.get("stages", [])) + copy.deepcopy(raw.get("stages", []))
    overrides = raw.get("stage_overrides", {})
    unknown = set(overrides) - {s["stage"] for s in stages}
    if unknown:
        raise ValueError(f"{raw['id']}: overrides for unknown stages {sorted(unknown)}")
    for stage in stages:
        stage.update(copy.deepcopy(overrides.get(stage["stage"], {})))
    return Jurisdiction(
        id=raw["id"],
        country=raw.get("country"),
        title=raw["title"],
        regime=raw["regime"],
        timezone=raw.get("timezone"),
        source=raw["source"],
        verified=bool(raw["verified"]),
        stages=tuple(_stage(s) for s in stages),
        recipients=tuple(raw.get("recipients") or base.get("recipients", ())),
        content_fields={**base.get("content_fields", {}), **raw.get("content_fields", {})},
        significance=raw.get("significance") or base.get("significance"),
        applies_if=raw.get("applies_if") or base.get("applies_if", {}),
        raw=raw,
    )


def _check_flags(node: Any, where: str) -> None:
    """Every rule that carries a source must say whether it is verified, and vice versa."""
    if isinstance(node, dict):
        if ("source" in node) != ("verified" in node):
            raise ValueError(f"{where}: a rule has 'source' without 'verified' or the reverse")
        for key, value in node.items():
            _check_flags(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_flags(value, f"{where}[{i}]")


@cache
def load() -> Rules:
    """Return the rules from the package's data files (read once per process)."""
    folder = resources.files("varsel.data").joinpath("regulation")
    files: dict[str, dict[str, Any]] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text(encoding="utf-8"))
            _check_flags(data, entry.name)
            files[data["id"]] = data
    jurisdictions = {
        data["country"]: _merge(data, files)
        for data in files.values()
        if data.get("kind") == "national"
    }
    return Rules(
        files=files,
        jurisdictions=jurisdictions,
        dora=_merge(files["dora"], files),
        thresholds=files["ir-2024-2690"],
        nis2=files["nis2-eu"],
    )
