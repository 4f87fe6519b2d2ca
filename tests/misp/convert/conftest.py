"""Helpers of the conversion tests: events to convert and placers standing in for the mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from varsel.misp.sharing import Placement, Scope
from varsel.sharing.tlp import TLP

CORPUS = Path(__file__).parent.parent / "corpus"
EVENT_UUID = "a6ef17d6-91cb-4a05-b10b-2f045daf874c"
EVENT_TIME = 1603642920


def corpus_event(name: str) -> dict[str, Any]:
    """Return one event of the misp-stix corpus."""
    loaded: dict[str, Any] = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def tag_placer(scope: Scope) -> Placement:
    """Place by the most restrictive ``tlp:*`` tag, AMBER without one; RED goes to 'CERT-A'."""
    levels = []
    for tag in scope.tags:
        if tag.lower().startswith("tlp:"):
            try:
                levels.append(TLP.parse(tag))
            except ValueError:
                continue
    level = max(levels, key=lambda lvl: lvl.rank) if levels else TLP.AMBER
    return Placement(level, ("CERT-A",) if level is TLP.RED else ())


def tag_scope(level: TLP, recipients: tuple[str, ...]) -> tuple[int, list[str]]:
    """Map back: CLEAR is distribution 3, GREEN and AMBER 1, the rest 0; the level as a tag."""
    spread = {TLP.CLEAR: 3, TLP.GREEN: 1, TLP.AMBER: 1}.get(level, 0)
    return spread, [f"tlp:{level.value}"]


def event(*attributes: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Return a small MISP event with ``attributes`` (uuids and timestamps given by the caller)."""
    bare: dict[str, Any] = {
        "uuid": EVENT_UUID,
        "info": "a test event",
        "date": "2020-10-25",
        "timestamp": str(EVENT_TIME),
        "distribution": "1",
        "Orgc": {"name": "CERT-A", "uuid": "a0c22599-9e58-4da4-96ac-7051603fa951"},
        "Attribute": list(attributes),
    }
    bare.update(fields)
    return {"Event": bare}


def attribute(uuid: str, kind: str, value: str, **fields: Any) -> dict[str, Any]:
    """Return a MISP attribute."""
    found = {
        "uuid": uuid,
        "type": kind,
        "category": "Network activity",
        "value": value,
        "to_ids": True,
        "timestamp": str(EVENT_TIME),
    }
    found.update(fields)
    return found
