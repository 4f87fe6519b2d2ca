"""The regulation data files: every rule has a source and a verified flag; RSIT is offline."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from varsel.errors import InvalidInput
from varsel.incidents import taxonomy
from varsel.reporting.rules import _check_flags, load


def _rules_with_sources(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        own = [node] if "source" in node else []
        return own + [r for v in node.values() for r in _rules_with_sources(v)]
    if isinstance(node, list):
        return [r for v in node for r in _rules_with_sources(v)]
    return []


def test_every_file_is_loaded_and_every_stage_is_sourced() -> None:
    rules = load()
    assert sorted(rules.files) == ["DK", "FI", "IS", "NO", "SE", "dora", "ir-2024-2690", "nis2-eu"]
    assert sorted(rules.jurisdictions) == ["DK", "FI", "IS", "NO", "SE"]
    for j in [*rules.jurisdictions.values(), rules.dora]:
        for stage in j.stages:
            assert stage.source and isinstance(stage.verified, bool)
            assert all(c in j.content_fields for c in stage.content), (j.id, stage.stage)
    folder = resources.files("varsel.data").joinpath("regulation")
    flags = [
        r["verified"]
        for p in folder.iterdir()
        if p.name.endswith(".json")
        for r in _rules_with_sources(json.loads(p.read_text(encoding="utf-8")))
    ]
    assert all(isinstance(v, bool) for v in flags)
    assert True in flags and False in flags  # both kinds are present, and shown


def test_a_rule_without_its_verified_flag_is_refused() -> None:
    with pytest.raises(ValueError, match="without 'verified'"):
        _check_flags({"stages": [{"stage": "x", "source": "somewhere"}]}, "test.json")


def test_national_deviations_come_from_the_data() -> None:
    rules = load()
    assert rules.jurisdictions["FI"].stage("early-warning").deadline == {  # type: ignore[union-attr]
        "from": "detected",
        "hours": 24,
    }
    assert rules.jurisdictions["IS"].stage("notification").deadline == {  # type: ignore[union-attr]
        "from": "detected",
        "hours": 6,
    }
    assert rules.jurisdictions["SE"].stage("early-warning").verified is False  # type: ignore[union-attr]


def test_rsit_is_read_offline_from_pytaxonomies() -> None:
    tags = {c["tag"] for c in taxonomy.choices()}
    assert 'rsit:availability="ddos"' in tags and len(tags) > 30
    assert taxonomy.check(' rsit:availability="ddos" ') == 'rsit:availability="ddos"'
    with pytest.raises(InvalidInput, match="not an RSIT machine tag"):
        taxonomy.check("rsit:availability=ddos")
