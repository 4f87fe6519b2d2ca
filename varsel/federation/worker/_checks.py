"""Checks on what a peer sends (stream events, push answers), and the delays between tries."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from varsel.federation.client import PeerFailed
from varsel.federation.sse import StreamRefused


@dataclass
class Backoff:
    """Delays between attempts: 1 s doubling to 60 s, each drawn between half and all of it."""

    first_s: float = 1.0
    ceiling_s: float = 60.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next(self) -> float:
        """Return the delay before the next attempt, and count the failure."""
        base = min(self.ceiling_s, self.first_s * float(2 ** min(self.failures, 16)))
        self.failures += 1
        return base / 2 + self.rng.uniform(0, base / 2)

    def reset(self) -> None:
        """Start again from the first delay (after a success)."""
        self.failures = 0


@dataclass(frozen=True)
class Outcome:
    """How one link direction ended a ``peer sync --once``."""

    peer: str
    link_id: int
    direction: str
    ok: bool
    moved: int
    error: str | None = None


def lag_seconds(batch: dict[str, Any]) -> float:
    """Return how far behind the batch's head its position lies, in seconds (0 if caught up)."""
    if not batch["remaining"]:
        return 0.0
    return max(0.0, (int(batch["head"]) - int(batch["position"])) / 1_000_000)


def position_in(event_id: str, remote_id: str) -> int:
    """Return the link's collection's position in a stream event id ``ID:US[,ID:US…]``."""
    if not event_id or len(event_id) > 200:
        raise StreamRefused("a stream event's id is missing or longer than 200 characters")
    for part in event_id.split(","):
        cid, sep, us = part.strip().rpartition(":")
        if sep and cid == remote_id and us.isascii() and us.isdigit() and len(us) <= 18:
            return int(us)
    raise StreamRefused("a stream event's id does not hold the position of the link's collection")


def stream_error(data: str) -> PeerFailed:
    """Return the failure an ``error`` event reports (the peer ends the stream after it)."""
    try:
        doc = json.loads(data)
        status, detail = int(doc["status"]), str(doc.get("detail", ""))[:300]
    except (ValueError, TypeError, KeyError):
        return PeerFailed("the peer ended the stream with a malformed error event", permanent=True)
    # 401, 403, 404 will not pass by retrying; a 503 (its database) may.
    return PeerFailed(
        f"the peer ended the stream: {status} {detail}",
        permanent=status in (401, 403, 404),
        status=status,
    )


def check_batch(data: str, event_id: str, remote_id: str, max_items: int) -> dict[str, Any]:
    """Return the batch in an event's data if its shape is the stream's; StreamRefused if not."""
    try:
        batch = json.loads(data)
    except ValueError:
        raise StreamRefused("a batch event's data is not JSON") from None
    ints = ("position", "head", "remaining")
    if (
        not isinstance(batch, dict)
        or not all(isinstance(batch.get(k), int) and batch[k] >= 0 for k in ints)
        or not isinstance(batch.get("objects"), list)
        or not isinstance(batch.get("tombstones", []), list)
        or not isinstance(batch.get("seals", {}), dict)
    ):
        raise StreamRefused("a batch event is not shaped as docs/federation.md says")
    if batch.get("collection") != remote_id:
        raise StreamRefused("a batch event is for another collection than the link's")
    if position_in(event_id, remote_id) != batch["position"]:
        raise StreamRefused("a batch event's id does not hold its position")
    if len(batch["objects"]) + len(batch.get("tombstones", [])) > max_items:
        raise StreamRefused(f"a batch holds more than {max_items} objects and tombstones")
    return batch


def check_answer(answer: Any) -> dict[str, Any]:
    ok = (
        isinstance(answer, dict)
        and all(isinstance(answer.get(k), int) for k in ("accepted", "duplicates"))
        and isinstance(answer.get("refused"), list)
        and all(isinstance(item, dict) for item in answer["refused"])
    )
    if not ok:
        raise PeerFailed(
            "the peer's answer to a push is not shaped as docs/federation.md says", permanent=True
        )
    return dict(answer)
