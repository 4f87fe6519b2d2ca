"""The events a principal may read, as MISP events (docs/misp.md, "Reading, feeds and sync").

An *event* is one of:

- a STIX ``grouping`` (a MISP event shared into the hub is ``grouping--<event uuid>``) or a
  hub-native ``report``, with the members of its ``object_refs`` in its collection that the
  reader may read; the event's uuid is the container's;
- the *day event* of the objects of a collection that no container the reader may read names:
  one per (collection, producing organisation, UTC day of ``date_added``), its uuid
  ``uuid5(DAY_NAMESPACE, "<collection id>/<organisation id>/<YYYY-MM-DD>")``, so that
  everything in a collection is reachable as MISP events. Day events are made in the
  collections the reader may see (an unlisted community's collection is need-to-know).

Every row comes from a query through :func:`varsel.policy.restrict`: a reader sees the members
it may read and no event whose container it may not read; an event it may not read is answered
exactly like one that does not exist (:class:`varsel.errors.NotFound`).

An event's ``timestamp`` is the latest ``modified`` of its container and readable members (a
new version of any of them is a newer event, which is what MISP's pull compares); a day event's
is its latest ``date_added``, since objects join it as they arrive.

Conversion to MISP JSON is :func:`varsel.misp.convert.stix_to_event`; converted events are
cached per (event, readable member versions), so a feed polled again costs the queries alone.
"""

from __future__ import annotations

from varsel.misp.flows.reading._catalog import (
    CONTAINERS,
    DAY_NAMESPACE,
    ORG_NAMESPACE,
    EventMeta,
    catalog,
    collection_for_feed,
    day_uuid,
    misp_id,
    org_uuid,
    readable_collections,
)
from varsel.misp.flows.reading._convert import (
    FeedFile,
    audit_red,
    cache_clear,
    event_file,
    events,
    one_event,
)
from varsel.misp.flows.reading._feeds import feed_event, feed_hashes, feed_manifest
from varsel.misp.flows.reading._search import (
    Query,
    attributes_csv,
    attributes_text,
    index,
    parse_query,
    search_attributes,
    search_events,
)

__all__ = [
    "CONTAINERS",
    "DAY_NAMESPACE",
    "ORG_NAMESPACE",
    "EventMeta",
    "FeedFile",
    "Query",
    "attributes_csv",
    "attributes_text",
    "audit_red",
    "cache_clear",
    "catalog",
    "collection_for_feed",
    "day_uuid",
    "event_file",
    "events",
    "feed_event",
    "feed_hashes",
    "feed_manifest",
    "index",
    "misp_id",
    "one_event",
    "org_uuid",
    "parse_query",
    "readable_collections",
    "search_attributes",
    "search_events",
]
