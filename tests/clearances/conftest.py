"""Fixtures of the clearance tests: the hub's ceiling and its registered agreements."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from varsel.clearances import rules
from varsel.config import Settings


@pytest.fixture(autouse=True)
def ceiling(
    monkeypatch: pytest.MonkeyPatch, configure: Callable[..., Settings]
) -> Callable[[str], None]:
    """Accredit the hub up to SECRET unless a test says otherwise; return a setter.

    Both in this process's settings and in the environment the CLI's child processes read.
    """

    def set_ceiling(value: str) -> None:
        monkeypatch.setenv(rules.CEILING_ENV, value)
        configure(accreditation_ceiling=value)

    set_ceiling("NO:HEMMELIG")
    monkeypatch.delenv(rules.AGREEMENTS_ENV, raising=False)
    configure(security_agreements=None)
    return set_ceiling


@pytest.fixture
def register_agreement(
    monkeypatch: pytest.MonkeyPatch, configure: Callable[..., Settings], tmp_path: Path
) -> Callable[..., None]:
    """Return a function that registers a bilateral agreement for this hub."""
    rows: list[dict[str, object]] = []

    def add(a: str, b: str, in_force: str = "2020-01-01") -> None:
        rows.append(
            {
                "id": f"{a}-{b}",
                "name": f"Security agreement {a}-{b}",
                "covers": "national",
                "parties": [a, b],
                "in_force": in_force,
                "verified": True,
                "source": "test",
            }
        )
        path = tmp_path / "agreements.json"
        path.write_text(json.dumps({"bilateral": rows}), encoding="utf-8")
        monkeypatch.setenv(rules.AGREEMENTS_ENV, str(path))
        configure(security_agreements=path)

    return add
