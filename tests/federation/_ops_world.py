"""A hub with federation rows written straight into its tables, for the operator views' tests.

The worker, stream and receive path are other parts' work; these tests check what the views
make of the rows those parts write (``peer_links``, ``federation_refusals``, tombstones and
their audience, ``stream_positions``, the lease).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tests import factories as f
from varsel.clock import utcnow
from varsel.federation.models import Lease, Peer, PeerLink, Refusal, TrustedHub
from varsel.sharing.models import StreamPosition, Tombstone, TombstoneAudience

# Two distinct Ed25519 public keys (base64 of 32 bytes).
KEY_A = "baN4m57dpHuewUrti6UHuuywQLZ/wIwht26MKINqpZM="
KEY_C = "MJE7pSNTMYRhoLjIwylTPCxrNX6oohzL2o7RBSQQ2Rk="
HUB_B = 'hub-b "quoted" \\ <b>bold</b>'  # an inbound hub organisation with an awkward name


@dataclass
class OpsWorld:
    """Names and ids the tests assert on."""

    collection_id: str
    collection_title: str
    link_id: int
    idle_link_id: int
    last_success: datetime
    tokens: dict[str, str]


def _tombstone(session: Session, collection_id: str, position: int, org_ids: list[int]) -> None:
    row = Tombstone(
        collection_id=collection_id,
        stix_id=f.stix_id(),
        origin_hub="hub-test",
        reason="deleted",
        date_added_us=position,
        document=json.dumps({"type": "varsel-tombstone"}),
        created_at=utcnow() - timedelta(minutes=5),
    )
    session.add(row)
    session.flush()
    for org_id in org_ids:
        session.add(TombstoneAudience(tombstone_id=row.id, org_id=org_id))


def build(session: Session) -> OpsWorld:
    """Create orgs, users, a peer with two links, refusals, tombstones and acknowledgements."""
    now = utcnow()
    f.org(session, "Fjordnett", "NO")
    f.org(session, "Svea", "SE")
    hub_a_org = f.org(session, "hub-a", "DK", kind="hub")
    hub_b_org = f.org(session, HUB_B, "SE", kind="hub")
    f.user(session, "root", "Fjordnett", role="hub-admin")
    f.user(session, "bob", "Svea", role="org-admin")
    f.user(session, "alice", "Fjordnett")
    f.user(session, "peer-b", HUB_B)
    f.community(session, "Nordic", ["Fjordnett", "Svea", HUB_B])
    coll = f.collection(session, "Nordic <indicators>", "Nordic")
    tokens = {name: f.token(session, name) for name in ("root", "bob", "alice", "peer-b")}

    session.add(
        TrustedHub(name="hub-a", public_key=KEY_A, org_id=hub_a_org, pinned_at=now, pinned_by="op")
    )
    hub_c_org = f.org(session, "hub-c", "FI", kind="hub")
    session.add(
        TrustedHub(name="hub-c", public_key=KEY_C, org_id=hub_c_org, pinned_at=now, pinned_by="op")
    )
    session.flush()
    peer = Peer(
        name="hub-a",
        url="https://hub-a.example/taxii2/hub/?x=<script>",
        token_file="/nonexistent/peers/hub-a.token",
        country="DK",
        ca_bundle=None,
        created_at=now,
    )
    session.add(peer)
    session.flush()
    last_success = (now - timedelta(seconds=30)).replace(microsecond=0)
    link = PeerLink(
        peer_id=peer.id,
        remote_collection="<script>alert(1)</script>",
        remote_collection_id="5b1e8a53-6a6f-4c56-9a4f-0d8cfd2e6c11",
        local_collection_id=coll.id,
        direction="pull",
        pull_position="1700000000000000",
        push_position=0,
        state="backoff",
        last_success_at=last_success,
        last_error="connection refused <img src=x>",
        last_error_at=now,
        received=120,
        duplicates=7,
        refused=2,
        sent=0,
        tombstones_applied=3,
        lag_objects=42,
        lag_seconds=12.5,
        created_at=now,
        updated_at=now,
    )
    idle = PeerLink(
        peer_id=peer.id,
        remote_collection="Other",
        local_collection_id=coll.id,
        direction="push",
        push_position=0,
        state="new",
        received=0,
        duplicates=0,
        refused=0,
        sent=5,
        tombstones_applied=0,
        created_at=now,
        updated_at=now,
    )
    session.add_all([link, idle])
    session.flush()
    for index, reason in enumerate(["forged: bad seal <x>", "tampered", "invalid STIX"]):
        session.add(
            Refusal(
                peer_name="hub-a",
                link_id=link.id,
                stix_id=f.stix_id(),
                reason=reason,
                at=now - timedelta(seconds=10 - index),
            )
        )
    session.add(Refusal(peer_name="hub-a", link_id=None, reason="pushed junk", at=now))
    # Three tombstones for hub-b at positions 100, 200, 300; it acknowledged 150: two pending.
    for position in (100, 200, 300):
        _tombstone(session, coll.id, position, [hub_b_org])
    _tombstone(session, coll.id, 400, [hub_a_org])
    session.add(
        StreamPosition(org_id=hub_b_org, collection_id=coll.id, position_us=150, updated_at=now)
    )
    lease_end = now + timedelta(seconds=30)
    session.add(Lease(name="federation-worker", holder="host-1:4242", expires_at=lease_end))
    session.flush()
    return OpsWorld(
        collection_id=coll.id,
        collection_title=coll.title,
        link_id=link.id,
        idle_link_id=idle.id,
        last_success=last_success,
        tokens=tokens,
    )
