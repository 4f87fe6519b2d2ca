"""The event's ingest in one savepoint, leaving out whole MISP items the hub refuses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from varsel.misp.flows.writing._outcome import EventOutcome, Note, NoteKind, Refusal, Status
from varsel.policy.principal import Principal
from varsel.sharing import ingest as ingesting
from varsel.sharing.envelope import Envelope
from varsel.sharing.ingest.helper import WarningListHelper
from varsel.sharing.models import Collection

# Sharing an event again without what the ingest refused can, in principle, meet a new refusal
# (a recipient removed meanwhile); after this many attempts the event is refused whole.
_ATTEMPTS = 3


def share_whole(
    session: Session,
    principal: Principal,
    collection: Collection,
    grouping: dict[str, Any],
    members: list[dict[str, Any]],
    outcome: EventOutcome,
    warnings_helper: WarningListHelper | None,
) -> None:
    """Ingest the grouping and its members in one savepoint; leave out what is refused.

    The unit left out is the MISP item: when the ingest refuses one object made of an attribute
    (its indicator, say), every object made of that attribute (same uuid) goes too, with the
    relationships and sightings that name them and the observables only they referred to.
    """
    grouping = {k: v for k, v in grouping.items() if k != "created_by_ref"}
    by_id = {str(m.get("id")): m for m in members}
    refused: dict[str, str] = {}  # object id -> the ingest's reason
    dropped: set[str] = set()
    for _attempt in range(_ATTEMPTS):
        kept = [m for m in members if str(m.get("id")) not in dropped]
        refs = [r for r in grouping.get("object_refs", []) if r not in dropped]
        if not refs:
            outcome.status, outcome.refusal = Status.REFUSED, Refusal.DENIED
            outcome.reason = "nothing of the event could be stored (each item's reason follows)"
            break
        objects = [{**grouping, "object_refs": refs}, *kept]
        savepoint = session.begin_nested()
        try:
            result = ingesting.ingest(
                session=session,
                collection=collection,
                principal=principal,
                body=Envelope(
                    objects=[(json.dumps(o, separators=(",", ":")), o) for o in objects],
                    properties={},
                ),
                warnings_helper=warnings_helper,
            )
        except BaseException:
            savepoint.rollback()
            raise
        failed = {f.id or "": f.message or "refused" for f in result.failures}
        if grouping["id"] in failed:
            savepoint.rollback()
            outcome.status, outcome.refusal = Status.REFUSED, Refusal.DENIED
            outcome.reason = failed[grouping["id"]]
            break
        if failed:
            # Rolled back and shared again without them: the grouping must not name them.
            savepoint.rollback()
            refused.update(failed)
            dropped = _with_dependants(members, set(refused))
            continue
        savepoint.commit()
        outcome.stored = sum(1 for s in result.successes if s.message != "already present")
        outcome.notes.extend(
            Note(NoteKind.WARNING, _item(s.id), _what(by_id.get(s.id or "")), s.message)
            for s in result.successes
            if s.message and s.message.startswith("warning:")
        )
        break
    else:
        outcome.status, outcome.refusal = Status.REFUSED, Refusal.DENIED
        outcome.reason = "the hub kept refusing parts of the event; nothing of it was stored"
    # One line per MISP item refused (its indicator, observation, … share its uuid) …
    items: dict[str, str] = {}
    for oid, reason in refused.items():
        if _item(oid) not in items:
            items[_item(oid) or oid] = reason
            outcome.notes.append(Note(NoteKind.REFUSED, _item(oid), _what(by_id.get(oid)), reason))
    # … and one per object left out because it needed one of them, unless all it linked was
    # of refused items (the converter's own link between an indicator and its observation).
    if outcome.status is not Status.REFUSED:
        outcome.notes.extend(
            Note(
                NoteKind.REFUSED,
                _item(oid),
                _what(by_id.get(oid)),
                "left out with " + _why(oid, by_id, refused),
            )
            for oid in sorted(dropped)
            if _item(oid) not in items
            and oid != grouping["id"]
            and not _within(by_id.get(oid, {}), items)
        )


_REFS = ("source_ref", "target_ref", "sighting_of_ref")


def _with_dependants(members: list[dict[str, Any]], refused: set[str]) -> set[str]:
    """Return ``refused`` with every object made of the same MISP items, and what needs them."""
    items = {oid.partition("--")[2] for oid in refused}
    out = {str(m.get("id")) for m in members if str(m.get("id")).partition("--")[2] in items}
    out |= refused
    out |= {
        str(m.get("id"))
        for m in members
        if any(m.get(key) in out for key in _REFS)
        or any(ref in out for ref in m.get("where_sighted_refs", ()) or ())
    }
    # Observables that only left-out objects referred to.
    wanted_by_kept = {
        ref
        for m in members
        if str(m.get("id")) not in out
        for ref in m.get("object_refs", ()) or ()
    }
    out |= {
        ref
        for m in members
        if str(m.get("id")) in out
        for ref in m.get("object_refs", ()) or ()
        if ref not in wanted_by_kept
    }
    return out


def _within(obj: Mapping[str, Any], items: Mapping[str, str]) -> bool:
    """Return whether everything ``obj`` refers to is of the refused items (said already)."""
    refs = [obj.get(key) for key in _REFS if obj.get(key)]
    refs += list(obj.get("object_refs", ()) or ())
    return bool(refs) and all(_item(str(r)) in items for r in refs)


def _why(oid: str, by_id: Mapping[str, Mapping[str, Any]], refused: Mapping[str, str]) -> str:
    """Return which refused object an object was left out with."""
    obj = by_id.get(oid, {})
    for key in _REFS:
        if obj.get(key) in refused:
            return str(obj[key])
    same = next((r for r in refused if r.partition("--")[2] == oid.partition("--")[2]), None)
    return same or next(iter(refused), "a refused object")


def _item(stix_id: str | None) -> str | None:
    """Return the MISP uuid behind a STIX id the converter made (``type--uuid``)."""
    return stix_id.partition("--")[2] or stix_id if stix_id else None


def _what(obj: Mapping[str, Any] | None) -> str:
    """Return a short description of a converted object for the report."""
    if obj is None:
        return "object"
    kind = str(obj.get("type", "object"))
    label = obj.get("name") or obj.get("pattern") or obj.get("value") or ""
    return f"{kind} {label}".strip()[:300]
