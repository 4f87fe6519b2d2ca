"""MISP event ⇄ STIX 2.1 objects, with CIRCL's ``misp-stix`` as the converter (docs/misp.md).

Pure functions: no database, no policy. :func:`event_to_stix` turns one MISP event (the JSON a
MISP instance exports, ``{"Event": {…}}`` or the bare event) into the STIX objects the hub
stores, each placed (TLP 2.0 marking, recipients) by the ``place`` callback the caller passes —
the hub's mapping of MISP's distribution, sharing groups and ``tlp:*`` tags
(:mod:`varsel.misp.sharing`). Everything it cannot convert is named in ``losses``; nothing is
dropped silently. :func:`stix_to_event` is the way back, for the objects a reader may see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def event_to_stix(event: Mapping[str, Any], *, place: Placer) -> Converted:
    """Return ``event`` as STIX 2.1 objects, each placed by ``place``; name every loss.

    Raises :class:`varsel.errors.InvalidInput` (with the reason) only when the event as a whole
    cannot be read (not an object, no uuid, no info …); a bad attribute is a :class:`Loss`.
    """
    raise NotImplementedError("issue 16: varsel.misp.convert")


def stix_to_event(
    grouping: Mapping[str, Any], members: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Return the MISP event (``{"Event": {…}}``) of ``grouping`` and the ``members`` one reads.

    ``members`` are the objects of ``grouping.object_refs`` (and their relationships, sightings
    and notes) the reader may read, as stored; distribution and ``tlp:*`` tags come from their
    TLP 2.0 markings through :func:`varsel.misp.sharing.misp_scope`, never broader.
    """
    raise NotImplementedError("issue 16: varsel.misp.convert")
