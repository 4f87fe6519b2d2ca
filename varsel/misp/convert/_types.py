"""The values the conversion hands back: what became STIX, and what did not and why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from varsel.misp.sharing import Placement, Scope


@dataclass(frozen=True, slots=True)
class Loss:
    """Something of a MISP event that did not become STIX, and why."""

    event: str
    """The event's uuid."""
    item: str | None
    """The attribute's, object's, event report's or sighting's uuid; None for the event itself."""
    what: str
    """What it was, for people: ``attribute ip-dst 203.0.113.7``, ``galaxy cluster …``."""
    reason: str
    partial: bool = False
    """The item was converted and is stored, but misp-stix does not carry all of it back."""


@dataclass(slots=True)
class Converted:
    """One MISP event as STIX 2.1 objects ready for :func:`varsel.sharing.ingest.ingest`."""

    uuid: str
    """The event's uuid; the event is the STIX ``grouping`` ``grouping--<uuid>``."""
    timestamp: int
    """The event's ``timestamp`` (seconds since the epoch): the grouping's ``modified``."""
    objects: list[dict[str, Any]] = field(default_factory=list)
    """The grouping first, then the objects it refers to (markings included)."""
    losses: list[Loss] = field(default_factory=list)
    attributes: int = 0
    """How many attributes the event had (object attributes included)."""


Placer = Callable[[Scope], Placement]
"""Decides an item's TLP level and recipients from its MISP distribution, sharing group and tags."""

Combiner = Callable[[Placement, Placement], Placement]
"""Places an item (first) under its parent (second): readable only by whom both let read."""
