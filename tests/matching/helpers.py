"""Helpers for the matching tests: indicators as stored rows, compiled without a database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from varsel.matching._compile import Compiled, IndicatorRow, compile_rows

FIXTURES = Path(__file__).parent / "fixtures"


def indicator_raw(ident: str, pattern: str, **extra: Any) -> str:
    """Return a stored indicator's JSON."""
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": ident,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2020-01-01T00:00:00Z",
        "created": "2020-01-01T00:00:00.000Z",
        "modified": "2020-01-01T00:00:00.000Z",
        "name": f"test {ident[-4:]}",
        **extra,
    }
    return json.dumps(obj)


def compiled(patterns: dict[str, str], **options: Any) -> Compiled:
    """Compile ``{indicator id: pattern}`` without warning lists."""
    rows = [IndicatorRow(i, indicator_raw(i, p)) for i, p in patterns.items()]
    return compile_rows(rows, warn=False, keep_entries=True, **options)
