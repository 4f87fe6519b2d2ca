"""Tombstones: signed notices that versions were deleted or withdrawn, for the hubs that read them.

A tombstone is made where versions first stored here stop being readable by a peer hub that
could read them (docs/federation.md, "Tombstones"): the producer deleted them (``deleted``), a
new version narrowed who may read the object (``withdrawn``) or an administrator purged them
(``purged``). Its *audience* is the organisations of kind ``hub`` that could read what it
withdraws, decided by the one read policy (:func:`audience`); with no such organisation there is
nobody to tell and nothing is written, so a hub without peers pays one small query at most.

A tombstone takes its ``date_added_us`` from its collection's counter, under the same row lock
as a share (``ingest._store.store``), so a stream resumed at any position delivers objects and
tombstones in the order they happened. On PostgreSQL the same transaction notifies
``varsel_feed`` with the collection's id, which wakes the streams of every server process.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection as Many
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from varsel import config
from varsel.audit import service as audit
from varsel.clock import now_us, us_to_rfc3339, utcnow
from varsel.errors import Forbidden, NotFound
from varsel.orgs.models import Organisation, OrgKind, Role
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.provenance import keys, seal
from varsel.sharing import feed
from varsel.sharing.models import Collection, StixObject, Tombstone, TombstoneAudience

DOCUMENT_TYPE = "varsel-tombstone"
REASONS = frozenset({"deleted", "withdrawn", "removed", "purged"})
_CHUNK = 500
# No user has id 0: a hub organisation's reader matches no user recipient.
_NOBODY = 0


def hub_readers(session: Session) -> list[Principal]:
    """Return a reader for each organisation of kind ``hub``, as the policy sees a peer hub."""
    rows = session.execute(
        select(Organisation.id, Organisation.name, Organisation.country)
        .where(Organisation.kind == OrgKind.HUB.value)
        .order_by(Organisation.id)
    )
    return [
        Principal(
            user_id=_NOBODY,
            username=f"hub:{name}",
            org_id=org_id,
            org_name=name,
            country=country,
            role=Role.ANALYST,
            hub=True,
        )
        for org_id, name, country in rows
    ]


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _reads_any(session: Session, reader: Principal, pks: Sequence[int]) -> bool:
    for chunk in _chunks(pks):
        query = restrict(select(StixObject.id).where(StixObject.id.in_(chunk)), reader, Action.READ)
        if session.execute(query.limit(1)).first() is not None:
            return True
    return False


def audience(session: Session, object_pks: Iterable[int], *, exclude: Many[int] = ()) -> set[int]:
    """Return the hub organisations (but ``exclude``) that may read any of these rows now."""
    pks = sorted(set(object_pks))
    if not pks:
        return set()
    return {
        reader.org_id
        for reader in hub_readers(session)
        if reader.org_id not in exclude and _reads_any(session, reader, pks)
    }


def next_position(session: Session, collection_id: str) -> int:
    """Lock the collection's row as a share does and return its next ``date_added_us``."""
    session.execute(
        update(Collection)
        .where(Collection.id == collection_id)
        .values(last_added_us=Collection.last_added_us)
    )
    last = session.execute(
        select(Collection.last_added_us).where(Collection.id == collection_id)
    ).scalar_one()
    position = max(now_us(), last + 1)
    session.execute(
        update(Collection).where(Collection.id == collection_id).values(last_added_us=position)
    )
    return position


def document_text(document: dict[str, Any]) -> str:
    """Return a tombstone document as it is stored and travels (canonical JSON)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def store(
    session: Session, *, collection_id: str, document: dict[str, Any], audience: Iterable[int]
) -> int:
    """Store a signed tombstone in a collection, ordered with its objects; return its row id.

    Used for the tombstones this hub issues and for those it relays (the origin's document,
    unchanged, with this hub's own audience).
    """
    position = next_position(session, collection_id)
    row_id = session.execute(
        insert(Tombstone)
        .values(
            collection_id=collection_id,
            stix_id=document["stix_id"],
            origin_hub=document["origin"],
            reason=document["reason"],
            date_added_us=position,
            document=document_text(document),
            created_at=utcnow(),
        )
        .returning(Tombstone.id)
    ).scalar_one()
    orgs = sorted(set(audience))
    if orgs:
        session.execute(
            insert(TombstoneAudience), [{"tombstone_id": row_id, "org_id": o} for o in orgs]
        )
    feed.announce(session, collection_id)
    return int(row_id)


def issue(
    session: Session,
    *,
    collection_id: str,
    stix_id: str,
    versions: list[str] | None,
    reason: str,
    audience: Iterable[int],
) -> dict[str, Any] | None:
    """Sign and store this hub's tombstone; return its document, or None when nobody hears it.

    ``versions`` is None for every version of ``stix_id`` first stored here, else the
    ``modified`` values withdrawn.
    """
    orgs = set(audience)
    if not orgs:
        return None
    if reason not in REASONS:
        raise ValueError(f"unknown tombstone reason {reason!r}")
    settings = config.current()
    key = keys.current(settings.data_dir, settings.hub_name)
    document: dict[str, Any] = {
        "type": DOCUMENT_TYPE,
        "id": f"{key.name}/{uuid.uuid4()}",
        "origin": key.name,
        "stix_id": stix_id,
        "versions": versions,
        "reason": reason,
        "issued": us_to_rfc3339(now_us()),
    }
    document["signature"] = seal.sign_tombstone(key, document)
    store(session, collection_id=collection_id, document=document, audience=orgs)
    return document


def refresh_series_flags(
    session: Session, collection_id: str, stix_id: str, producer_id: int
) -> None:
    """Set ``is_latest`` and ``is_first`` again on what is left of one series."""
    rows = session.execute(
        select(StixObject.id, StixObject.version_key)
        .where(
            StixObject.collection_id == collection_id,
            StixObject.stix_id == stix_id,
            StixObject.producer_org_id == producer_id,
        )
        .order_by(StixObject.version_key)
    ).all()
    if not rows:
        return
    session.execute(
        update(StixObject)
        .where(StixObject.id.in_([r[0] for r in rows]))
        .values(is_latest=False, is_first=False)
    )
    session.execute(update(StixObject).where(StixObject.id == rows[-1][0]).values(is_latest=True))
    session.execute(update(StixObject).where(StixObject.id == rows[0][0]).values(is_first=True))


def delete_versions(
    session: Session, *, collection_id: str, stix_id: str, pks: Sequence[int]
) -> int:
    """Delete these versions of ``stix_id`` and mend the flags of every series they were in."""
    if not pks:
        return 0
    producers = {
        p
        for chunk in _chunks(sorted(pks))
        for (p,) in session.execute(
            select(StixObject.producer_org_id).where(StixObject.id.in_(chunk)).distinct()
        )
    }
    for chunk in _chunks(sorted(pks)):
        session.execute(delete(StixObject).where(StixObject.id.in_(chunk)))
    for producer in sorted(producers):
        refresh_series_flags(session, collection_id, stix_id, producer)
    return len(pks)


def withdrawn_versions(session: Session, pks: Sequence[int]) -> list[str] | None:
    """Return the ``modified`` values of these rows for a tombstone, or None for "all of them".

    A version without ``modified`` or ``created`` is versioned by its date_added, which each hub
    hands out itself: it cannot be named to another hub, so such a tombstone names no versions.
    """
    found: set[str] = set()
    for chunk in _chunks(sorted(pks)):
        for version, version_key in session.execute(
            select(StixObject.version, StixObject.version_key).where(StixObject.id.in_(chunk))
        ):
            if version_key == "":
                return None
            found.add(version)
    return sorted(found)


def local_pks(session: Session, pks: Sequence[int]) -> list[int]:
    """Return which of these rows were first stored here (this hub is their origin)."""
    return [
        pk
        for chunk in _chunks(sorted(pks))
        for (pk,) in session.execute(
            select(StixObject.id).where(StixObject.id.in_(chunk), StixObject.origin_hub.is_(None))
        )
    ]


@dataclass
class Narrowing:
    """The peer hubs that read the latest versions a share is about to replace.

    Taken before the share demotes them (:meth:`watch`) and compared after it stored the new
    latest versions (:meth:`withdraw`): a hub organisation that read the old latest version
    of a series and may not read the new one is sent a ``withdrawn`` tombstone for the older
    versions, since the policy now hides every one of them from it ("withdrawn is withdrawn").
    """

    readers: dict[str, set[int]]  # stix_id -> hub organisations that read its latest version
    principals: dict[int, Principal]

    @classmethod
    def watch(cls, session: Session, *, latest_pks: Iterable[int]) -> Narrowing | None:
        """Return who reads these latest versions first stored here, or None if no peer hub."""
        pks = sorted(set(latest_pks))
        if not pks:
            return None
        hubs = hub_readers(session)
        if not hubs:
            return None
        readers: dict[str, set[int]] = {}
        for reader in hubs:
            for chunk in _chunks(pks):
                query = restrict(
                    select(StixObject.stix_id).where(
                        StixObject.id.in_(chunk), StixObject.origin_hub.is_(None)
                    ),
                    reader,
                    Action.READ,
                )
                for (stix_id,) in session.execute(query):
                    readers.setdefault(stix_id, set()).add(reader.org_id)
        if not readers:
            return None
        return cls(readers, {r.org_id: r for r in hubs})

    def withdraw(self, session: Session, *, collection_id: str, producer_org_id: int) -> int:
        """Issue a ``withdrawn`` tombstone for each series some peer hub no longer reads."""
        ids = sorted(self.readers)
        still: dict[int, set[str]] = {}
        for org_id in sorted({o for orgs in self.readers.values() for o in orgs}):
            query = restrict(
                select(StixObject.stix_id).where(
                    StixObject.collection_id == collection_id,
                    StixObject.producer_org_id == producer_org_id,
                    StixObject.stix_id.in_(ids),
                    StixObject.is_latest.is_(True),
                ),
                self.principals[org_id],
                Action.READ,
            )
            still[org_id] = set(session.execute(query).scalars())
        issued = 0
        for stix_id in ids:
            lost = {o for o in self.readers[stix_id] if stix_id not in still[o]}
            if not lost:
                continue
            older = list(
                session.execute(
                    select(StixObject.id).where(
                        StixObject.collection_id == collection_id,
                        StixObject.producer_org_id == producer_org_id,
                        StixObject.stix_id == stix_id,
                        StixObject.is_latest.is_(False),
                        StixObject.origin_hub.is_(None),
                    )
                ).scalars()
            )
            if issue(
                session,
                collection_id=collection_id,
                stix_id=stix_id,
                versions=withdrawn_versions(session, older),
                reason="withdrawn",
                audience=lost,
            ):
                issued += 1
        return issued


def purge(
    session: Session, *, principal: Principal, stix_id: str, collection: str | None = None
) -> dict[str, int]:
    """Delete every version of ``stix_id`` (in ``collection``, or everywhere): hub-admins only.

    Returns ``{collection id: versions deleted}``. The versions first stored here are withdrawn
    from the peer hubs that could read them with a ``purged`` tombstone; copies received from
    other hubs are deleted here only (only their origin can sign a tombstone for them).
    """
    if principal.role is not Role.HUB_ADMIN:
        raise Forbidden("only a hub administrator may purge objects")
    if collection is not None:
        found = session.execute(
            restrict(select(Collection.id), principal, Action.READ).where(
                or_(
                    Collection.id == collection,
                    Collection.alias == collection,
                    Collection.title == collection,
                )
            )
        ).scalar_one_or_none()
        if found is None:
            raise NotFound(f"no collection {collection!r}")
        collection_ids = [found]
    else:
        collection_ids = list(
            session.execute(
                select(StixObject.collection_id)
                .where(StixObject.stix_id == stix_id)
                .distinct()
                .order_by(StixObject.collection_id)
            ).scalars()
        )
    deleted: dict[str, int] = {}
    tombstones = 0
    for collection_id in collection_ids:
        pks = list(
            session.execute(
                select(StixObject.id).where(
                    StixObject.collection_id == collection_id, StixObject.stix_id == stix_id
                )
            ).scalars()
        )
        if not pks:
            continue
        hearers = audience(session, local_pks(session, pks))
        delete_versions(session, collection_id=collection_id, stix_id=stix_id, pks=pks)
        deleted[collection_id] = len(pks)
        if issue(
            session,
            collection_id=collection_id,
            stix_id=stix_id,
            versions=None,
            reason="purged",
            audience=hearers,
        ):
            tombstones += 1
    if not deleted:
        raise NotFound(f"no versions of {stix_id} to purge")
    audit.record(
        session=session,
        actor=principal.label,
        action="objects.purge",
        target=stix_id,
        details={"collections": deleted, "tombstones": tombstones},
    )
    return deleted
