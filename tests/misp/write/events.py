"""MISP events for the write tests, built as a MISP instance exports them."""

from __future__ import annotations

import uuid
from typing import Any


def attribute(
    value: str, kind: str = "ip-dst", *, to_ids: bool = True, timestamp: int = 1_700_000_000
) -> dict[str, Any]:
    """Return a MISP attribute."""
    return {
        "uuid": str(uuid.uuid4()),
        "type": kind,
        "category": "Network activity",
        "value": value,
        "to_ids": to_ids,
        "distribution": "5",
        "timestamp": str(timestamp),
        "comment": "",
    }


def event(
    attributes: list[dict[str, Any]],
    *,
    uid: str | None = None,
    timestamp: int = 1_700_000_000,
    info: str = "write test",
    tags: tuple[str, ...] = ("tlp:green",),
    distribution: int = 1,
) -> dict[str, Any]:
    """Return a MISP event (``{"Event": …}``) holding ``attributes``."""
    return {
        "Event": {
            "uuid": uid or str(uuid.uuid4()),
            "info": info,
            "date": "2023-11-14",
            "threat_level_id": "2",
            "analysis": "1",
            "distribution": str(distribution),
            "published": False,
            "timestamp": str(timestamp),
            "Orgc": {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"},
            "Org": {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"},
            "Tag": [{"name": t} for t in tags],
            "Attribute": attributes,
            "Object": [],
        }
    }


def addresses(
    count: int, *, start: int = 0, timestamp: int = 1_700_000_000
) -> list[dict[str, Any]]:
    """Return ``count`` ip-dst attributes of distinct addresses on no warning list (30/8)."""
    return [
        attribute(
            f"30.{(start + i) // 62500 % 250}.{(start + i) // 250 % 250}.{(start + i) % 250 + 1}",
            timestamp=timestamp,
        )
        for i in range(count)
    ]
