"""Read MISP events from files, feed directories and archives; share them or post them.

:func:`read_events` walks the paths ``varsel misp import`` (and the ``/share/misp`` page) is
given and yields one :class:`Item` per event, or per thing that could not be read, in order:

- a MISP event JSON file: ``{"Event": {…}}``, a list of them, or ``{"response": [...]}`` (what
  MISP's ``events/restSearch`` answers);
- a directory in MISP feed layout: ``manifest.json`` (event uuid → summary), ``hashes.csv`` and
  one ``<uuid>.json`` per event, read in the manifest's order;
- a ``.gz`` of an event file, a ``.tar.gz``/``.tgz`` of a feed directory, or a ``.zip`` of
  either (a zip with a ``manifest.json`` is read as a feed; otherwise every ``.json`` in it).

Archives are streamed, one member at a time; no archive is loaded whole, and each file or member
is bounded (``max_bytes``, decompressed): a larger one is an :class:`Item` with the reason, and
the import goes on with the next. Nothing is skipped silently: every path, member or list
element that is not an event becomes an item with its reason.

:func:`share_items` shares the events as a local principal (one savepoint and one ingest per
event, :func:`varsel.misp.flows.writing.share_event`); :func:`post_event` sends one to another
hub's ``/misp/events/add`` and reads its answer into the same outcome.
"""

from varsel.misp.flows.importing._files import DEFAULT_MAX_BYTES, Item, events_in, read_events
from varsel.misp.flows.importing._remote import outcome_of, post_event
from varsel.misp.flows.importing._sharing import share_items, unreadable

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Item",
    "events_in",
    "outcome_of",
    "post_event",
    "read_events",
    "share_items",
    "unreadable",
]
