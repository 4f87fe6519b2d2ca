"""Read-only views of federation: peers, links, refusals, tombstones not yet acknowledged.

One function, :func:`overview`, reads everything an operator looks at — the web page
``/admin/federation``, ``/metrics`` and ``varsel peer status`` — in one short read transaction,
and returns plain frozen dataclasses, so every interface shows the same numbers. It writes
nothing (not even the hub key: a hub without one shows none).

These are operator views of the hub's own configuration, not intelligence: they name no object's
content, only ids and counts. They are for hub-admins and the local operator; the callers check
that (the web page and ``/metrics`` admit hub-admins only).

*Pending tombstones* of a hub organisation are the tombstones whose audience includes it and whose
position in their collection is beyond what that organisation acknowledged: on the stream
(``stream_positions``; docs/federation.md, "The stream") or, where this hub pushes the
collection to it, by accepting the push (the link's ``push_position``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from varsel import config
from varsel.clock import utcnow
from varsel.config import Settings
from varsel.errors import Misconfigured
from varsel.federation.models import Direction, Lease, Peer, PeerLink, Refusal, TrustedHub
from varsel.orgs.models import Organisation, OrgKind
from varsel.provenance import keys
from varsel.sharing.models import (
    Collection,
    StixObject,
    StreamPosition,
    Tombstone,
    TombstoneAudience,
)

# How many of the newest refusals are listed per link (and per peer for refusals without one).
LATEST_REFUSALS = 3
# The newest refusals read at all: enough for LATEST_REFUSALS per link on any real hub.
_REFUSALS_READ = 500
WORKER_LEASE = "federation-worker"


def fingerprint(public_key: str) -> str:
    """Return the OpenSSH-style fingerprint of a base64 Ed25519 key (``SHA256:…``).

    Short enough to read out on a telephone when two operators check the key they pinned.
    A key that is not base64 has no fingerprint (``"?"``): it is shown, never trusted.
    """
    try:
        raw = base64.b64decode(public_key.strip(), validate=True)
    except (binascii.Error, ValueError):
        return "?"
    digest = hashlib.sha256(raw).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class PeerView:
    """A peer this hub connects to, with the key it pinned for it."""

    id: int
    name: str
    url: str
    country: str | None
    public_key: str
    fingerprint: str
    ca_bundle: str | None
    created_at: datetime


@dataclass(frozen=True)
class RefusalView:
    """A version or tombstone a peer sent that this hub refused, and why."""

    peer: str
    link_id: int | None
    stix_id: str | None
    reason: str
    at: datetime


@dataclass(frozen=True)
class LinkView:
    """A remote collection mapped onto a local one: checkpoint, health and counters."""

    id: int
    peer: str
    remote_collection: str
    remote_collection_id: str | None
    local_collection_id: str
    local_collection_title: str
    direction: str
    state: str
    pull_position: str | None
    push_position: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    received: int
    duplicates: int
    refused: int
    sent: int
    tombstones_applied: int
    lag_objects: int | None
    lag_seconds: float | None
    latest_refusals: tuple[RefusalView, ...]


@dataclass(frozen=True)
class AckView:
    """How far a hub organisation has acknowledged one collection's stream."""

    collection_id: str
    collection_title: str
    position_us: int
    updated_at: datetime


@dataclass(frozen=True)
class InboundHub:
    """An organisation of kind ``hub`` here: a peer that reads from (or pushes to) this hub."""

    org_id: int
    name: str
    country: str
    acknowledged: tuple[AckView, ...]
    pending_tombstones: int
    # The oldest pending tombstone's age in seconds (None when nothing is pending).
    oldest_pending_seconds: float | None


@dataclass(frozen=True)
class TrustedView:
    """An origin whose key this hub pinned; ``peered`` when it is also a peer."""

    name: str
    fingerprint: str
    pinned_at: datetime
    pinned_by: str
    peered: bool


@dataclass(frozen=True)
class LeaseView:
    """Who holds the federation worker's lease, and until when."""

    holder: str
    expires_at: datetime
    held: bool


@dataclass(frozen=True)
class FederationOverview:
    """Everything an operator reads about this hub's federation, read at one moment."""

    hub_name: str
    # None until the hub's key exists (``varsel init`` creates it) or while it cannot be read.
    public_key: str | None
    key_problem: str | None
    peers: tuple[PeerView, ...]
    links: tuple[LinkView, ...]
    inbound: tuple[InboundHub, ...]
    trusted: tuple[TrustedView, ...]
    # Refusals ever recorded, per peer name.
    refusals_by_peer: dict[str, int]
    # The newest refusals not tied to a link (a push, or a link removed since), per peer.
    unlinked_refusals: dict[str, tuple[RefusalView, ...]]
    lease: LeaseView | None
    objects_stored: int
    tombstones_stored: int
    read_at: datetime

    @property
    def public_fingerprint(self) -> str | None:
        """Return the fingerprint of this hub's public key, if it has one."""
        return fingerprint(self.public_key) if self.public_key else None

    @property
    def refusals_total(self) -> int:
        """Return how many refusals were recorded, from every peer."""
        return sum(self.refusals_by_peer.values())

    def pending_by_hub(self) -> dict[str, int]:
        """Return the pending tombstones per hub organisation name."""
        return {hub.name: hub.pending_tombstones for hub in self.inbound}


def _public_key(settings: Settings) -> tuple[str | None, str | None]:
    """Return (the hub's public key, or None; what is wrong with its key file, or None)."""
    # Read only: a page or a scrape never creates the key (keys.current would).
    if not keys.key_path(settings.data_dir).exists():
        return None, None
    try:
        return keys.current(settings.data_dir, settings.hub_name).public, None
    except (Misconfigured, OSError, ValueError) as exc:
        # Shown to the hub-admin, not raised: monitoring must go on while the key is fixed.
        return None, exc.message if isinstance(exc, Misconfigured) else type(exc).__name__


def _refusal(row: Refusal) -> RefusalView:
    return RefusalView(
        peer=row.peer_name, link_id=row.link_id, stix_id=row.stix_id, reason=row.reason, at=row.at
    )


def _peers(session: Session) -> list[PeerView]:
    rows = session.execute(
        select(Peer, TrustedHub.public_key)
        .join(TrustedHub, TrustedHub.name == Peer.name)
        .order_by(Peer.name)
    )
    return [
        PeerView(
            id=peer.id,
            name=peer.name,
            url=peer.url,
            country=peer.country,
            public_key=key,
            fingerprint=fingerprint(key),
            ca_bundle=peer.ca_bundle,
            created_at=peer.created_at,
        )
        for peer, key in rows
    ]


def _links(session: Session, latest: dict[int, list[RefusalView]]) -> list[LinkView]:
    rows = session.execute(
        select(PeerLink, Peer.name, Collection.title)
        .join(Peer, Peer.id == PeerLink.peer_id)
        .join(Collection, Collection.id == PeerLink.local_collection_id)
        .order_by(Peer.name, PeerLink.id)
    )
    return [
        LinkView(
            id=link.id,
            peer=peer,
            remote_collection=link.remote_collection,
            remote_collection_id=link.remote_collection_id,
            local_collection_id=link.local_collection_id,
            local_collection_title=title,
            direction=link.direction,
            state=link.state,
            pull_position=link.pull_position,
            push_position=link.push_position or 0,
            last_success_at=link.last_success_at,
            last_error=link.last_error,
            last_error_at=link.last_error_at,
            received=link.received or 0,
            duplicates=link.duplicates or 0,
            refused=link.refused or 0,
            sent=link.sent or 0,
            tombstones_applied=link.tombstones_applied or 0,
            lag_objects=link.lag_objects,
            lag_seconds=link.lag_seconds,
            latest_refusals=tuple(latest.get(link.id, ())),
        )
        for link, peer, title in rows
    ]


def _pending(session: Session, now: datetime) -> dict[int, tuple[int, float | None]]:
    """Return, per hub organisation id, its pending tombstones and the oldest one's age.

    A hub organisation acknowledges a collection's tombstones on the stream
    (``stream_positions``) or, where this hub pushes that collection to it, by accepting the
    push (the link's ``push_position``); either acknowledgement counts.
    """
    pushed = (
        select(
            TrustedHub.org_id.label("org_id"),
            PeerLink.local_collection_id.label("collection_id"),
            func.max(PeerLink.push_position).label("position_us"),
        )
        .join(Peer, Peer.name == TrustedHub.name)
        .join(PeerLink, PeerLink.peer_id == Peer.id)
        .where(PeerLink.direction.in_((Direction.PUSH.value, Direction.BOTH.value)))
        .group_by(TrustedHub.org_id, PeerLink.local_collection_id)
        .subquery()
    )
    streamed = and_(
        StreamPosition.org_id == TombstoneAudience.org_id,
        StreamPosition.collection_id == Tombstone.collection_id,
    )
    by_push = and_(
        pushed.c.org_id == TombstoneAudience.org_id,
        pushed.c.collection_id == Tombstone.collection_id,
    )
    rows = session.execute(
        select(TombstoneAudience.org_id, func.count(), func.min(Tombstone.created_at))
        .join(Tombstone, Tombstone.id == TombstoneAudience.tombstone_id)
        .outerjoin(StreamPosition, streamed)
        .outerjoin(pushed, by_push)
        .where(
            Tombstone.date_added_us > func.coalesce(StreamPosition.position_us, 0),
            Tombstone.date_added_us > func.coalesce(pushed.c.position_us, 0),
        )
        .group_by(TombstoneAudience.org_id)
    )
    return {
        org_id: (int(count), (now - oldest).total_seconds() if oldest else None)
        for org_id, count, oldest in rows
    }


def _inbound(session: Session, now: datetime) -> list[InboundHub]:
    orgs = session.scalars(
        select(Organisation)
        .where(Organisation.kind == OrgKind.HUB.value)
        .order_by(Organisation.name)
    ).all()
    acks: dict[int, list[AckView]] = defaultdict(list)
    rows = session.execute(
        select(StreamPosition, Collection.title)
        .join(Collection, Collection.id == StreamPosition.collection_id)
        .join(Organisation, Organisation.id == StreamPosition.org_id)
        .where(Organisation.kind == OrgKind.HUB.value)
        .order_by(Collection.title)
    )
    for position, title in rows:
        acks[position.org_id].append(
            AckView(
                collection_id=position.collection_id,
                collection_title=title,
                position_us=position.position_us,
                updated_at=position.updated_at,
            )
        )
    pending = _pending(session, now)
    return [
        InboundHub(
            org_id=org.id,
            name=org.name,
            country=org.country,
            acknowledged=tuple(acks.get(org.id, ())),
            pending_tombstones=pending.get(org.id, (0, None))[0],
            oldest_pending_seconds=pending.get(org.id, (0, None))[1],
        )
        for org in orgs
    ]


def _trusted(session: Session) -> list[TrustedView]:
    peered = set(session.scalars(select(Peer.name)))
    return [
        TrustedView(
            name=row.name,
            fingerprint=fingerprint(row.public_key),
            pinned_at=row.pinned_at,
            pinned_by=row.pinned_by,
            peered=row.name in peered,
        )
        for row in session.scalars(select(TrustedHub).order_by(TrustedHub.name))
    ]


def _lease(session: Session, now: datetime) -> LeaseView | None:
    row = session.get(Lease, WORKER_LEASE)
    if row is None:
        return None
    return LeaseView(holder=row.holder, expires_at=row.expires_at, held=row.expires_at > now)


def overview(*, session: Session, settings: Settings | None = None) -> FederationOverview:
    """Return this hub's federation as an operator sees it (reads only)."""
    settings = settings or config.current()
    now = utcnow()
    public_key, key_problem = _public_key(settings)
    newest = session.scalars(select(Refusal).order_by(Refusal.id.desc()).limit(_REFUSALS_READ))
    per_link: dict[int, list[RefusalView]] = defaultdict(list)
    unlinked: dict[str, list[RefusalView]] = defaultdict(list)
    for row in newest:
        bucket = per_link[row.link_id] if row.link_id is not None else unlinked[row.peer_name]
        if len(bucket) < LATEST_REFUSALS:
            bucket.append(_refusal(row))
    counts = session.execute(
        select(Refusal.peer_name, func.count())
        .group_by(Refusal.peer_name)
        .order_by(Refusal.peer_name)
    )
    return FederationOverview(
        hub_name=settings.hub_name,
        public_key=public_key,
        key_problem=key_problem,
        peers=tuple(_peers(session)),
        links=tuple(_links(session, per_link)),
        inbound=tuple(_inbound(session, now)),
        trusted=tuple(_trusted(session)),
        refusals_by_peer={name: int(n) for name, n in counts},
        unlinked_refusals={name: tuple(rows) for name, rows in unlinked.items()},
        lease=_lease(session, now),
        objects_stored=int(session.scalar(select(func.count()).select_from(StixObject)) or 0),
        tombstones_stored=int(session.scalar(select(func.count()).select_from(Tombstone)) or 0),
        read_at=now,
    )
