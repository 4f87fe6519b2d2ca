"""A collection as a MISP feed: ``manifest.json``, ``hashes.csv``, ``<uuid>.json``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.orm import Session

from varsel.misp.flows.reading._catalog import (
    _ANALYSIS,
    _THREAT_LEVEL,
    EventMeta,
    catalog,
    collection_for_feed,
)
from varsel.misp.flows.reading._convert import (
    FeedFile,
    _file,
    day_manifest_entry,
    event_file,
    events,
    one_event,
)
from varsel.misp.flows.reading._search import _flat
from varsel.policy.principal import Principal


def feed_manifest(*, session: Session, principal: Principal, collection_id: str) -> FeedFile:
    """Return ``manifest.json`` of a collection's feed: what the reader may read in it."""
    collection = collection_for_feed(
        session=session, principal=principal, collection_id=collection_id
    )
    metas = catalog(session=session, principal=principal, collection=collection)
    manifest: dict[str, Any] = {m.uuid: day_manifest_entry(m) for m in metas if not m.container}
    # Containers are converted for what they say of themselves (info, tags); day events not.
    boxes = [m for m in metas if m.container is not None]
    for meta, event in zip(
        boxes, events(session=session, principal=principal, metas=boxes), strict=True
    ):
        body = event["Event"]
        manifest[meta.uuid] = {
            "Orgc": {"name": body["Orgc"]["name"], "uuid": body["Orgc"]["uuid"]},
            "Tag": [
                {k: t[k] for k in ("name", "colour") if k in t}
                for t in body.get("Tag") or []
                if isinstance(t, dict)
            ],
            "info": body.get("info", meta.info),
            "date": body.get("date", meta.date),
            "analysis": int(body.get("analysis", _ANALYSIS)),
            "threat_level_id": int(body.get("threat_level_id", _THREAT_LEVEL)),
            "timestamp": meta.timestamp,
        }
    return _file(json.dumps(manifest, sort_keys=True), "application/json")


def feed_hashes(
    *, session: Session, principal: Principal, collection_id: str
) -> tuple[list[EventMeta], FeedFile]:
    """Return ``hashes.csv``: ``md5(value),event uuid`` per attribute value (each part of a
    composite ``a|b`` value on a line of its own), as MISP's feed generator writes it; and
    the events it hashed (their TLP:RED values are audited as read)."""
    collection = collection_for_feed(
        session=session, principal=principal, collection_id=collection_id
    )
    metas = catalog(session=session, principal=principal, collection=collection)
    lines: list[str] = []
    for event in events(session=session, principal=principal, metas=metas):
        event_uuid = event["Event"]["uuid"]
        for attribute in _flat(event):
            value = str(attribute.get("value", ""))
            parts = value.split("|") if "|" in str(attribute.get("type", "")) else [value]
            for part in parts:
                lines.append(f"{hashlib.md5(part.encode()).hexdigest()},{event_uuid}\n")
    return metas, _file("".join(lines), "text/csv")


def feed_event(
    *, session: Session, principal: Principal, collection_id: str, event_uuid: str
) -> tuple[EventMeta, FeedFile]:
    """Return ``<uuid>.json`` of a collection's feed; NotFound as for an unknown event."""
    collection_for_feed(session=session, principal=principal, collection_id=collection_id)
    meta, event = one_event(
        session=session, principal=principal, ref=event_uuid, collection_id=collection_id
    )
    return meta, event_file(meta, event)
