"""One MISP event: converted (pure), its version decided, shared (varsel.misp.flows.writing)."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.errors import InvalidInput
from varsel.misp import convert, service, sharing
from varsel.misp.flows.writing._ingesting import share_whole
from varsel.misp.flows.writing._outcome import (
    EventOutcome,
    Note,
    NoteKind,
    Refusal,
    Status,
    describe,
    event_body,
)
from varsel.orgs.models import CommunityMember, Organisation
from varsel.policy.principal import Principal
from varsel.sharing.ingest.helper import WarningListHelper
from varsel.sharing.models import Collection, OrgIdentity, StixObject
from varsel.sharing.tlp import TLP


def share_event(
    *,
    session: Session,
    principal: Principal,
    collection: Collection,
    event: Any,
    mapping: sharing.Mapping | None = None,
    warnings_helper: WarningListHelper | None = None,
) -> EventOutcome:
    """Share one MISP event into ``collection`` as ``principal``; report every item not stored.

    ``mapping`` is the hub's MISP sharing mapping (read once per import and passed in; read
    here when None). Writes in a savepoint of the caller's transaction; the caller commits.
    Raises :class:`varsel.errors.Forbidden` when ``principal`` may not write ``collection``.
    """
    early = settled_before_converting(
        session=session, principal=principal, collection=collection, event=event
    )
    if early is not None:
        return early
    uid, _ = describe(event)
    known = (
        _latest_version(session, collection, principal, f"grouping--{uid}") if uid != "?" else None
    )
    converted = convert_event(
        event,
        mapping=mapping if mapping is not None else service.mapping_of(session),
        default=TLP(collection.default_tlp),
        producer=principal.org_name,
        community=community_of(session, collection),
        known=known,
    )
    return share_converted(
        session=session,
        principal=principal,
        collection=collection,
        converted=converted,
        warnings_helper=warnings_helper,
    )


def community_of(session: Session, collection: Collection) -> frozenset[str]:
    """Return the names of the organisations in ``collection``'s community (who read GREEN)."""
    names = session.scalars(
        select(Organisation.name)
        .join(CommunityMember, CommunityMember.org_id == Organisation.id)
        .where(CommunityMember.community_id == collection.community_id)
    )
    return frozenset(names)


@dataclass
class Prepared:
    """One event converted (no database needed): what :func:`share_converted` stores."""

    uuid: str
    info: str
    converted: convert.Converted | None
    refusal: str | None = None


def convert_event(
    event: Any,
    *,
    mapping: sharing.Mapping,
    default: TLP,
    producer: str,
    community: frozenset[str],
    known: int | None = None,
) -> Prepared:
    """Return ``event`` converted, each item placed for ``producer`` (pure: a worker may run it).

    ``community`` names the member organisations of the collection's community
    (:func:`community_of`): an item is placed under its event or object with
    :func:`varsel.misp.sharing.within`, which needs them to keep only readers both allow.

    Missing timestamps are set as a MISP server sets them (:func:`_stamp_missing`), past
    ``known``, the timestamp of the latest version here when the caller knows it.
    """
    uid, info = describe(event)
    body = event_body(event)
    if body is None:
        return Prepared(uid, info, None, "not a MISP event: expected a JSON object")
    _stamp_missing(body, known)

    def place(scope: sharing.Scope) -> sharing.Placement:
        # The producer is whoever shares, never what the event says of itself.
        return sharing.place(replace(scope, producer=producer), mapping, default=default)

    try:
        converted = convert.event_to_stix(
            event,
            place=place,
            combine=functools.partial(sharing.within, community=community, producer=producer),
        )
    except InvalidInput as exc:
        return Prepared(uid, info, None, exc.message)
    return Prepared(converted.uuid, info, converted)


def share_converted(
    *,
    session: Session,
    principal: Principal,
    collection: Collection,
    converted: Prepared,
    warnings_helper: WarningListHelper | None = None,
) -> EventOutcome:
    """Store an event :func:`convert_event` converted: decide its version, then ingest it."""
    if converted.converted is None:
        return EventOutcome(
            converted.uuid, converted.info, Status.REFUSED, converted.refusal, Refusal.INVALID
        )
    done = converted.converted
    outcome = EventOutcome(done.uuid, converted.info, Status.NEW, attributes=done.attributes)
    outcome.notes.extend(
        Note(NoteKind.PARTIAL if loss.partial else NoteKind.LOSS, loss.item, loss.what, loss.reason)
        for loss in done.losses
    )
    grouping_id = f"grouping--{done.uuid}"
    grouping = next((o for o in done.objects if o.get("id") == grouping_id), None)
    if grouping is None:
        outcome.status, outcome.reason = Status.REFUSED, "the converter made no grouping of it"
        outcome.refusal = Refusal.INVALID
        return outcome

    known = _latest_version(session, collection, principal, grouping_id)
    if known is not None:
        if _settle_version(outcome, done.timestamp, known):
            return outcome
        outcome.status = Status.VERSION

    members = _speaking_for_itself(session, principal, done.objects, grouping_id, outcome)
    share_whole(session, principal, collection, grouping, members, outcome, warnings_helper)
    return outcome


def _settle_version(outcome: EventOutcome, timestamp: int, known: int) -> bool:
    """Mark ``outcome`` unchanged or stale when ``timestamp`` is not past ``known``; say so."""
    if timestamp == known:
        outcome.status = Status.UNCHANGED
        outcome.reason = f"this version of the event, timestamp {known}, is already here"
        return True
    if timestamp < known:
        outcome.status, outcome.refusal = Status.REFUSED, Refusal.STALE
        outcome.reason = (
            f"a newer version of this event, timestamp {known}, is already here "
            f"(this one has timestamp {timestamp})"
        )
        return True
    return False


def settled_before_converting(
    *, session: Session, principal: Principal, collection: Collection, event: Any
) -> EventOutcome | None:
    """Return the outcome of an event already here at its timestamp or later, unconverted.

    Converting is most of an import's work, and a feed fetched again holds mostly events the
    hub has: those whose own ``timestamp`` is not past the sharer's latest version here are
    answered as :func:`share_converted` would (unchanged, or refused as stale) without it.
    Anything else — no uuid, no valid timestamp, not known here — returns None: convert it.
    """
    uid, info = describe(event)
    body = event_body(event)
    if uid == "?" or body is None or not _has_timestamp(body):
        return None
    known = _latest_version(session, collection, principal, f"grouping--{uid}")
    if known is None:
        return None
    outcome = EventOutcome(uid, info, Status.NEW, attributes=_attribute_count(body))
    return outcome if _settle_version(outcome, int(body["timestamp"]), known) else None


def _attribute_count(body: Mapping[str, Any]) -> int:
    objects = [o for o in _listed(body.get("Object")) if isinstance(o, Mapping)]
    return len(_listed(body.get("Attribute"))) + sum(
        len(_listed(o.get("Attribute"))) for o in objects
    )


def _stamp_missing(body: Mapping[str, Any], known: int | None) -> bool:
    """Give an event, and its attributes and objects, the timestamps MISP would; say if any.

    A MISP server sets ``timestamp`` itself when a client leaves it out (PyMISP does, for what
    it edited): the event gets the current time, past its latest version here, and each item
    without one gets the event's.
    """
    if not isinstance(body, dict):
        return False
    changed = False
    if not _has_timestamp(body):
        now = int(time.time())
        body["timestamp"] = str(max(now, known + 1) if known is not None else now)
        changed = True
    stamp = body["timestamp"]
    # Only what has the shape of MISP's lists: anything else is the converter's to refuse.
    items: list[Any] = _listed(body.get("Attribute"))
    for obj in _listed(body.get("Object")):
        if isinstance(obj, dict):
            items.append(obj)
            items.extend(_listed(obj.get("Attribute")))
    for item in items:
        if isinstance(item, dict) and not _has_timestamp(item):
            item["timestamp"] = stamp
            changed = True
    return changed


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _has_timestamp(item: Mapping[str, Any]) -> bool:
    value = item.get("timestamp")
    return isinstance(value, int | str) and str(value).isdigit() and int(value) > 0


def _latest_version(
    session: Session, collection: Collection, principal: Principal, grouping_id: str
) -> int | None:
    """Return the timestamp of the sharer's latest version of the event here, or None."""
    version = session.execute(
        select(StixObject.version).where(
            StixObject.collection_id == collection.id,
            StixObject.stix_id == grouping_id,
            StixObject.producer_org_id == principal.org_id,
            StixObject.is_latest.is_(True),
        )
    ).scalar()
    if version is None:
        return None
    return int(datetime.fromisoformat(version.replace("Z", "+00:00")).timestamp())


def _speaking_for_itself(
    session: Session,
    principal: Principal,
    objects: list[dict[str, Any]],
    grouping_id: str,
    outcome: EventOutcome,
) -> list[dict[str, Any]]:
    """Return the event's objects but the grouping, without creators the sharer is not.

    MISP names the event's creator organisation (``Orgc``); the hub lets an object name as its
    creator only an identity registered to the sharer's organisation (the ingest refuses any
    other). Rather than refuse every attribute, the foreign creator is left out and said so.
    """
    mine = set(
        session.execute(
            select(OrgIdentity.identity_id).where(OrgIdentity.org_id == principal.org_id)
        ).scalars()
    )
    foreign = {
        o["created_by_ref"]
        for o in objects
        if isinstance(o.get("created_by_ref"), str) and o["created_by_ref"] not in mine
    }
    members = []
    for obj in objects:
        if obj.get("id") in foreign:
            continue
        if obj.get("created_by_ref") in foreign:
            obj = {k: v for k, v in obj.items() if k != "created_by_ref"}
        members.append(obj)
    names = sorted(
        str(o.get("name") or o["id"]) for o in objects if o.get("id") in foreign
    ) or sorted(foreign)
    if foreign:
        outcome.notes.append(
            Note(
                NoteKind.LOSS,
                None,
                "creator " + ", ".join(names),
                f"not an identity registered to {principal.org_name}; "
                "shared as your organisation's, without created_by_ref",
            )
        )
    return [m for m in members if m.get("id") != grouping_id]


def event_home(*, session: Session, principal: Principal, event_uuid: str) -> Collection | None:
    """Return the collection holding the sharer's organisation's latest version of an event."""
    return session.execute(
        select(Collection)
        .join(StixObject, StixObject.collection_id == Collection.id)
        .where(
            StixObject.stix_id == f"grouping--{event_uuid}",
            StixObject.producer_org_id == principal.org_id,
            StixObject.is_latest.is_(True),
        )
        .order_by(StixObject.date_added_us.desc())
        .limit(1)
    ).scalar()
