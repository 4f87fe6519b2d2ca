"""Share one MISP event into a collection as a principal: convert, decide the version, ingest.

What is atomic: **the event**. Its grouping and every object it refers to are written in one
savepoint of the caller's transaction, through :func:`varsel.sharing.ingest.ingest` (the same
warning lists, producer rule, markings and audit as every share). An attribute the ingest
refuses (a warning-list hit in refuse mode, a recipient that does not exist …) is named in the
outcome and left out of the grouping's ``object_refs``, so the stored event names only what was
stored; when that happens the first attempt is rolled back to the savepoint and the event is
shared again without what was refused, so no refused object is ever half-referenced. When the
grouping itself is refused, or nothing of the event could be stored, the savepoint is rolled
back and the event is refused whole: nothing of it is written.

Versions follow MISP's ``timestamp`` (the grouping's ``modified``): a known event with a newer
timestamp becomes a new version; an equal one stores nothing (``unchanged``); an older one is
refused with the reason. Only the sharer's own series counts: an event another organisation
shared is refused by the ingest's producer rule, whatever its timestamp.

Nothing of the MISP event decides who the producer is: the caller's organisation shares it, and
a ``created_by_ref`` naming an identity not registered to that organisation (MISP's ``Orgc``)
is left out, with a note, rather than letting one organisation speak as another.
"""

from varsel.misp.flows.writing._event import (
    Prepared,
    community_of,
    convert_event,
    event_home,
    settled_before_converting,
    share_converted,
    share_event,
)
from varsel.misp.flows.writing._outcome import (
    EventOutcome,
    Note,
    NoteKind,
    Refusal,
    Status,
    describe,
    event_body,
)
from varsel.misp.flows.writing._sightings import SightingOutcome, share_sighting

__all__ = [
    "EventOutcome",
    "Note",
    "NoteKind",
    "Prepared",
    "Refusal",
    "SightingOutcome",
    "Status",
    "community_of",
    "convert_event",
    "describe",
    "event_body",
    "event_home",
    "settled_before_converting",
    "share_converted",
    "share_event",
    "share_sighting",
]
