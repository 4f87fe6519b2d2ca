"""The federation's health as ``varsel peer status`` reports it (docs/federation.md, "The worker").

Per peer and link: state, last success, lag, last error, refusals and the tombstones the peer has
not acknowledged; and the hub organisations that subscribe to this hub's stream.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from varsel.clock import us_to_rfc3339, utcnow
from varsel.federation import lease
from varsel.federation.models import Direction, Peer, PeerLink, Refusal, TrustedHub
from varsel.orgs.models import Organisation, OrgKind
from varsel.sharing.models import Collection, StreamPosition, Tombstone, TombstoneAudience

# How many of a link's latest refusals `peer status` shows.
LATEST_REFUSALS = 5


# How many refusals of pushed versions `peer status` shows.
_INBOUND_REFUSALS = 20


def _iso(moment: Any) -> str | None:
    return f"{moment.isoformat(timespec='seconds')}Z" if moment is not None else None


def pending_tombstones(*, session: Session, org_id: int, collection_id: str, after_us: int) -> int:
    """Return how many tombstones of the collection addressed to ``org_id`` lie after its ack."""
    return int(
        session.execute(
            select(func.count())
            .select_from(Tombstone)
            .where(
                Tombstone.collection_id == collection_id,
                Tombstone.date_added_us > after_us,
                exists(
                    select(TombstoneAudience.tombstone_id).where(
                        TombstoneAudience.tombstone_id == Tombstone.id,
                        TombstoneAudience.org_id == org_id,
                    )
                ),
            )
        ).scalar_one()
    )


def _acked(session: Session, org_id: int, collection_id: str) -> int:
    return int(
        session.execute(
            select(StreamPosition.position_us).where(
                StreamPosition.org_id == org_id, StreamPosition.collection_id == collection_id
            )
        ).scalar_one_or_none()
        or 0
    )


def _link_status(session: Session, peer: Peer, pin: TrustedHub, row: PeerLink) -> dict[str, Any]:
    local = session.get(Collection, row.local_collection_id)
    acked = _acked(session, pin.org_id, row.local_collection_id)
    if row.direction in (Direction.PUSH.value, Direction.BOTH.value):
        acked = max(acked, row.push_position)  # the peer answered 2xx up to there
    latest = session.execute(
        select(Refusal)
        .where(Refusal.link_id == row.id)
        .order_by(Refusal.at.desc())
        .limit(LATEST_REFUSALS)
    ).scalars()
    return {
        "id": row.id,
        "remote_collection": row.remote_collection,
        "remote_collection_id": row.remote_collection_id,
        "local_collection": local.title if local else None,
        "local_collection_id": row.local_collection_id,
        "direction": row.direction,
        "state": row.state,
        "last_success_at": _iso(row.last_success_at),
        "last_error": row.last_error,
        "last_error_at": _iso(row.last_error_at),
        "lag_objects": row.lag_objects,
        "lag_seconds": row.lag_seconds,
        "received": row.received,
        "duplicates": row.duplicates,
        "refused": row.refused,
        "sent": row.sent,
        "tombstones_applied": row.tombstones_applied,
        "pull_position": row.pull_position,
        "push_position": row.push_position,
        "pending_tombstones": pending_tombstones(
            session=session,
            org_id=pin.org_id,
            collection_id=row.local_collection_id,
            after_us=acked,
        ),
        "latest_refusals": [
            {"at": _iso(r.at), "stix_id": r.stix_id, "reason": r.reason} for r in latest
        ],
    }


def status(*, session: Session) -> dict[str, Any]:
    """Return the federation's health as ``peer status --json`` prints it (docs/federation.md)."""
    worker = lease.holder_of(session)
    now = utcnow()
    peers = []
    for peer, pin in session.execute(
        select(Peer, TrustedHub).join(TrustedHub, TrustedHub.name == Peer.name).order_by(Peer.name)
    ).all():
        links = session.execute(
            select(PeerLink).where(PeerLink.peer_id == peer.id).order_by(PeerLink.id)
        ).scalars()
        refused = session.execute(
            select(func.count()).select_from(Refusal).where(Refusal.peer_name == peer.name)
        ).scalar_one()
        peers.append(
            {
                "name": peer.name,
                "url": peer.url,
                "country": peer.country,
                "public_key": pin.public_key,
                "refused": int(refused),
                "links": [_link_status(session, peer, pin, row) for row in links],
            }
        )
    subscribers = []
    rows = session.execute(
        select(StreamPosition, Organisation.name, Collection.title)
        .join(Organisation, Organisation.id == StreamPosition.org_id)
        .join(Collection, Collection.id == StreamPosition.collection_id)
        .where(Organisation.kind == OrgKind.HUB.value)
        .order_by(Organisation.name, Collection.title)
    ).all()
    for position, org_name, title in rows:
        subscribers.append(
            {
                "org": org_name,
                "collection": title,
                "collection_id": position.collection_id,
                "position": position.position_us,
                "position_at": us_to_rfc3339(position.position_us)
                if position.position_us
                else None,
                "updated_at": _iso(position.updated_at),
                "pending_tombstones": pending_tombstones(
                    session=session,
                    org_id=position.org_id,
                    collection_id=position.collection_id,
                    after_us=position.position_us,
                ),
            }
        )
    trusted = session.execute(select(TrustedHub).order_by(TrustedHub.name)).scalars()
    # Refusals of versions pushed here (no link: the sender is an inbound hub organisation,
    # which need not be a peer this hub connects to), newest first.
    inbound = session.execute(
        select(Refusal)
        .where(Refusal.link_id.is_(None))
        .order_by(Refusal.at.desc(), Refusal.id.desc())
        .limit(_INBOUND_REFUSALS)
    ).scalars()
    return {
        "worker": {
            "holder": worker.holder if worker else None,
            "expires_at": _iso(worker.expires_at) if worker else None,
            "running": bool(worker and worker.expires_at >= now),
        },
        "peers": peers,
        "subscribers": subscribers,
        "inbound_refusals": [
            {"peer": r.peer_name, "at": _iso(r.at), "stix_id": r.stix_id, "reason": r.reason}
            for r in inbound
        ],
        "trusted": [
            {"name": t.name, "public_key": t.public_key, "pinned_at": _iso(t.pinned_at)}
            for t in trusted
        ],
    }
