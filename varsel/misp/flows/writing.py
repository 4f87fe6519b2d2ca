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

from __future__ import annotations

import enum
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.clock import us_to_rfc3339
from varsel.errors import Forbidden, InvalidInput, NotFound
from varsel.matching import flows as matching
from varsel.misp import convert, service, sharing
from varsel.observables.extract import extract
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import ingest as ingesting
from varsel.sharing import search
from varsel.sharing.envelope import Envelope
from varsel.sharing.ingest.helper import WarningListHelper
from varsel.sharing.models import Collection, OrgIdentity, StixObject
from varsel.sharing.tlp import TLP

# Sharing an event again without what the ingest refused can, in principle, meet a new refusal
# (a recipient removed meanwhile); after this many attempts the event is refused whole.
_ATTEMPTS = 3
_CHUNK = 500


class Status(enum.Enum):
    """What became of one event."""

    NEW = "new"
    VERSION = "version"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


class Refusal(enum.Enum):
    """Why an event was refused whole: its content, its version, or the hub's rules."""

    INVALID = "invalid"
    """Not an event the hub can read (malformed, no uuid, nothing convertible)."""
    STALE = "stale"
    """An older version than the one already here."""
    DENIED = "denied"
    """The hub's rules refused it (another organisation's event, every item refused, …)."""


class NoteKind(enum.Enum):
    """Why an item of an event is named in the report."""

    LOSS = "not converted"
    REFUSED = "refused"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Note:
    """One item of an event not converted, refused, or stored with a warning, and why."""

    kind: NoteKind
    item: str | None
    """The attribute's, object's, report's or sighting's uuid; None for the event itself."""
    what: str
    reason: str


@dataclass
class EventOutcome:
    """What became of one MISP event, with a note for every item not stored as sent."""

    uuid: str
    info: str
    status: Status
    reason: str | None = None
    """Why the event was refused (or left unchanged); None when it was stored."""
    refusal: Refusal | None = None
    """What kind of refusal, when the event was refused."""
    attributes: int = 0
    """How many attributes the event held (object attributes included)."""
    stored: int = 0
    """How many objects were newly stored (the grouping included)."""
    notes: list[Note] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        """Return whether the event, or any item of it, was refused."""
        return self.status is Status.REFUSED or any(n.kind is NoteKind.REFUSED for n in self.notes)

    def as_json(self) -> dict[str, Any]:
        """Return the outcome as plain JSON (the import report, the MISP API's ``errors``)."""
        return {
            "uuid": self.uuid,
            "info": self.info,
            "status": self.status.value,
            "reason": self.reason,
            "refusal": self.refusal.value if self.refusal is not None else None,
            "attributes": self.attributes,
            "stored": self.stored,
            "notes": [
                {"kind": n.kind.value, "item": n.item, "what": n.what, "reason": n.reason}
                for n in self.notes
            ],
        }


def event_body(event: Any) -> Mapping[str, Any] | None:
    """Return the event object of ``{"Event": {…}}`` or of a bare event; None if neither."""
    if isinstance(event, Mapping) and isinstance(event.get("Event"), Mapping):
        inner: Mapping[str, Any] = event["Event"]
        return inner
    return event if isinstance(event, Mapping) else None


def describe(event: Any) -> tuple[str, str]:
    """Return an event's uuid and info as far as they can be read ("?" where not)."""
    body = event_body(event)
    if body is None:
        return "?", ""
    uid, info = body.get("uuid"), body.get("info")
    return (uid if isinstance(uid, str) and uid else "?"), (info if isinstance(info, str) else "")


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
    uid, _ = describe(event)
    known = (
        _latest_version(session, collection, principal, f"grouping--{uid}") if uid != "?" else None
    )
    converted = convert_event(
        event,
        mapping=mapping if mapping is not None else service.mapping_of(session),
        default=TLP(collection.default_tlp),
        producer=principal.org_name,
        known=known,
    )
    return share_converted(
        session=session,
        principal=principal,
        collection=collection,
        converted=converted,
        warnings_helper=warnings_helper,
    )


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
    known: int | None = None,
) -> Prepared:
    """Return ``event`` converted, each item placed for ``producer`` (pure: a worker may run it).

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
        converted = convert.event_to_stix(event, place=place)
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
        Note(NoteKind.LOSS, loss.item, loss.what, loss.reason) for loss in done.losses
    )
    grouping_id = f"grouping--{done.uuid}"
    grouping = next((o for o in done.objects if o.get("id") == grouping_id), None)
    if grouping is None:
        outcome.status, outcome.reason = Status.REFUSED, "the converter made no grouping of it"
        outcome.refusal = Refusal.INVALID
        return outcome

    known = _latest_version(session, collection, principal, grouping_id)
    if known is not None:
        if done.timestamp == known:
            outcome.status = Status.UNCHANGED
            outcome.reason = f"this version of the event, timestamp {known}, is already here"
            return outcome
        if done.timestamp < known:
            outcome.status, outcome.refusal = Status.REFUSED, Refusal.STALE
            outcome.reason = (
                f"a newer version of this event, timestamp {known}, is already here "
                f"(this one has timestamp {done.timestamp})"
            )
            return outcome
        outcome.status = Status.VERSION

    members = _speaking_for_itself(session, principal, done.objects, grouping_id, outcome)
    _share(session, principal, collection, grouping, members, outcome, warnings_helper)
    return outcome


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


def _share(
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


@dataclass(frozen=True, slots=True)
class SightingOutcome:
    """A MISP sighting stored as a hub sighting: its id, the indicator's and when."""

    sighting_id: str
    indicator_id: str
    attribute_uuid: str
    at: str
    stored: bool
    """False when the same sighting was shared before (nothing new stored)."""


def share_sighting(
    *,
    session: Session,
    principal: Principal,
    collection: Collection | None,
    attribute_uuid: str | None,
    value: str | None = None,
    key: str,
    seen_at: int | None,
) -> list[SightingOutcome]:
    """Share a MISP sighting of an attribute, or of a value, as hub sightings of indicators.

    By ``attribute_uuid``: the indicator ``indicator--<attribute uuid>`` (as the converter
    names an attribute with ``to_ids``, or its object's). By ``value`` (MISP's sighting of every
    attribute with that value): each indicator that names it exactly. Only indicators
    ``principal`` may read are sighted. Sightings go into ``collection`` (the organisation's
    MISP collection), or else into each indicator's own collection where the principal may
    write, through the matching domain's share of sightings (never less restrictive than the
    indicator; ``objects.share`` audited). ``key`` (the MISP sighting's uuid) makes sending the
    same sighting twice store it once. Raises NotFound, Forbidden or InvalidInput.
    """
    if attribute_uuid is not None:
        ids = [f"indicator--{attribute_uuid}"]
        wanted = f"attribute {attribute_uuid}"
    else:
        ids = _indicators_naming(session, principal, value or "")
        wanted = f"value {value!r}"
    readable = matching.readable_indicators(session=session, principal=principal, ids=ids)
    if not readable:
        raise NotFound(
            f"no attribute with to_ids that you may read has the {wanted}: a sighting is "
            "shared of an indicator"
        )
    at = us_to_rfc3339((seen_at if seen_at is not None else int(time.time())) * 1_000_000)
    out: list[SightingOutcome] = []
    for indicator_id in sorted(readable):
        target = collection or _writable_home(session, principal, indicator_id)
        level = TLP(target.default_tlp)
        if level is TLP.RED:
            # A sighting of a RED indicator is RED anyway (share_sighted); of any other, the
            # strictest level a sighting may take unaddressed.
            level = TLP.AMBER_STRICT
        shared = matching.share_sighted(
            session=session,
            principal=principal,
            sighted=[matching.Sighted(indicator_id, 1, at, at)],
            collection=target,
            tlp=level,
            key=f"misp:{key}",
            at=at,
        )
        if shared.failures:
            raise Forbidden(shared.failures[0].message or "the hub refused the sighting")
        for sid in shared.shared or shared.present:
            uid = indicator_id.partition("--")[2]
            out.append(SightingOutcome(sid, indicator_id, uid, at, bool(shared.shared)))
    if not out:
        raise NotFound(f"no attribute with to_ids that you may read has the {wanted}")
    return out


def _writable_home(session: Session, principal: Principal, indicator_id: str) -> Collection:
    """Return a collection holding the indicator that ``principal`` may write to."""
    home = session.execute(
        restrict(select(Collection), principal, Action.WRITE)
        .join(StixObject, StixObject.collection_id == Collection.id)
        .where(StixObject.stix_id == indicator_id, StixObject.is_latest.is_(True))
        .limit(1)
    ).scalar()
    if home is None:
        raise Forbidden(
            "no collection is set for your organisation's MISP events (a hub administrator "
            "sets one with 'varsel misp set-collection ORG COLLECTION'), and you may not "
            "write where the indicator is"
        )
    return home


def _indicators_naming(session: Session, principal: Principal, value: str) -> list[str]:
    """Return the readable indicators that name ``value`` exactly (the hub's look-up)."""
    found = extract(value)
    if len(found) != 1:
        raise InvalidInput(
            f"{value!r} is not one address, domain, URL, e-mail address or file hash; name the "
            "sighted attribute by its uuid instead"
        )
    (known,) = search.lookup(session=session, principal=principal, found=found)
    return sorted(
        {m.hit.stix_id for m in known.mentions if m.via is None and m.hit.type == "indicator"}
    )
