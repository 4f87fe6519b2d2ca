"""Federation end to end, with real hub processes (issue #14, docs/federation.md).

The chain A → B → C (C on PostgreSQL) is connected exactly as the issue's simplest federation:
at A, organisation ``hub-b`` (kind hub) is a member of A's community with a user and a token; at
B, ``varsel peer add hub-a … --public-key "$(varsel hub id | cut -d' ' -f2)"`` and ``varsel peer
link hub-a --remote <A's collection> --local <B's collection> --direction pull``; the same from
B to C, and C pins A's key with ``varsel peer trust``. Each test shares its own objects, so the
module's tests share the three hubs; the one that stops B and the one that SIGKILLs it come
last. Stars and meshes get four hubs of their own.

Waits have deadlines; "never arrives" is checked after a later object (a sentinel) has arrived
over the same link: the stream sends in order, so what was not sent before it was never sent.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.federation import harness as h
from tests.federation.conftest import Chain
from varsel.provenance import keys, seal

pytestmark = pytest.mark.federation

ARRIVAL = 30.0  # seconds any single delivery may take before a test gives up


def _arrives(hub: h.Hub, collection: str, stix_id: str, timeout: float = ARRIVAL) -> None:
    h.wait_until(
        lambda: hub.copies(stix_id, collection) > 0,
        timeout=timeout,
        message=lambda: f"{stix_id} at {hub.name}\n{hub.log_tail(15)}",
    )


def _gone(hub: h.Hub, stix_id: str, timeout: float = ARRIVAL) -> None:
    h.wait_until(
        lambda: hub.copies(stix_id) == 0,
        timeout=timeout,
        message=lambda: f"{stix_id} deleted at {hub.name}\n{hub.log_tail(15)}",
    )


def _sentinel_through(chain: Chain, *, to_c: bool = True) -> str:
    """Share a CLEAR object after what a test shared and wait until it is at B (and C)."""
    (sid,) = chain.share(h.indicator(tlp="clear"))
    _arrives(chain.b, chain.from_a, sid)
    if to_c:
        _arrives(chain.c, chain.from_b, sid)
    return sid


# TLP across hubs --------------------------------------------------------------------------


def test_clear_reaches_every_organisation_at_c(chain: Chain) -> None:
    (sid,) = chain.share(h.indicator(tlp="clear"))
    _arrives(chain.c, chain.from_b, sid)
    assert sid in chain.at_b("OUT-B")
    assert sid in chain.at_c("ORG-C1")
    assert sid in chain.at_c("OUT-C")
    assert chain.b.copies(sid) == 1 and chain.c.copies(sid) == 1


def test_green_reaches_bs_community_members_and_not_outsiders(chain: Chain) -> None:
    green, amber = chain.share(h.indicator(tlp="green"), h.indicator(tlp="amber"))
    for sid in (green, amber):
        _arrives(chain.b, chain.from_a, sid)
        _arrives(chain.c, chain.from_b, sid)
        assert sid in chain.at_b("ORG-B1")
        assert sid in chain.at_b("ORG-B2")
        assert sid not in chain.at_b("OUT-B")
        # hub-c is a member of B's community: B's administrators delegated to C's.
        assert sid in chain.at_c("ORG-C1")
        assert sid not in chain.at_c("OUT-C")


@pytest.mark.parametrize("level", ["amber+strict", "red"])
def test_strict_and_red_cross_only_to_the_named_organisation(chain: Chain, level: str) -> None:
    (named,) = chain.share(h.indicator(tlp=level, recipients=["ORG-B1@hub-b"]))
    _arrives(chain.b, chain.from_a, named)
    assert named in chain.at_b("ORG-B1")
    assert named not in chain.at_b("ORG-B2")
    assert named not in chain.at_b("OUT-B")
    _sentinel_through(chain)
    # C's hub organisation at B was not named: C is never sent it.
    assert chain.c.copies(named) == 0
    # B kept the recipient: ORG-B1 named locally, nobody else.
    recipients = chain.b.sql(
        "SELECT o.name FROM recipients r JOIN stix_objects s ON s.id = r.object_pk "
        "JOIN organisations o ON o.id = r.org_id WHERE s.stix_id = :s",
        s=named,
    )
    assert [r[0] for r in recipients] == ["ORG-B1"]


@pytest.mark.parametrize(
    "obj",
    [
        {"tlp": "red", "recipients": ["A-OTHER"]},
        {"tlp": "amber+strict"},
        {"tlp": "amber+strict", "recipients": ["A-OTHER@hub-a"]},
    ],
    ids=["red-to-a-local-org", "amber-strict-community", "amber-strict-named-at-a"],
)
def test_a_version_no_one_at_b_may_read_is_never_sent(chain: Chain, obj: dict[str, Any]) -> None:
    (private,) = chain.share(h.indicator(**obj))
    assert private in {i for i, _ in chain.a.readable(chain.tokens["CERT-A"], chain.intel)}
    _sentinel_through(chain)
    assert chain.b.rows_of(private) == []
    assert chain.c.rows_of(private) == []


# Provenance -------------------------------------------------------------------------------


def _producer_text(stix_id: str) -> str:
    # Spacing, key order and escapes no serialiser would reproduce: only the producer's bytes
    # themselves can match.
    return (
        '{ "id":"' + stix_id + '",  "type" : "indicator","spec_version":"2.1",'
        '"created":"2026-02-03T04:05:06.000Z","modified" :"2026-02-03T04:05:06.000Z",'
        '"name":"Fj\\u00f8rd  address \\/ 203.0.113.9","pattern_type":"stix",'
        '"pattern":"[ipv4-addr:value = \'203.0.113.9\']","valid_from":"2026-02-03T04:05:06Z",'
        '"object_marking_refs":["' + h.TLP_IDS["green"] + '"]}'
    )


def test_provenance_the_producers_bytes_and_as_signature_at_b_and_c(chain: Chain) -> None:
    sid = f"indicator--{uuid.uuid4()}"
    text = _producer_text(sid)
    chain.a.share_text(chain.tokens["CERT-A"], chain.intel, '{"objects":[' + text + "]}")
    _arrives(chain.c, chain.from_b, sid)

    # A plain TAXII client reads the producer's STIX, byte for byte, at every hub.
    for hub, coll, org in ((chain.b, chain.from_a, "ORG-B1"), (chain.c, chain.from_b, "ORG-C1")):
        body = hub.read_object_text(chain.tokens[org], coll, sid)
        assert body is not None and text in body, (hub.name, body)
        assert "x_varsel" not in body and "signature" not in body

    (origin_row,) = chain.a.rows_of(sid)
    seal_id = origin_row.seal_id
    assert seal_id.startswith("hub-a/")
    (signed,) = chain.a.sql(
        "SELECT id, origin_hub, manifest, signature FROM seals WHERE id = :i", i=seal_id
    )
    public = keys.parse_public(chain.a.hub_id()[1])
    for hub in (chain.b, chain.c):
        (row,) = hub.rows_of(sid)
        assert row.raw == text
        assert row.origin_hub == "hub-a"
        assert row.seal_id == seal_id  # relays never re-sign
        assert row.provenance == origin_row.provenance
        (stored,) = hub.sql(
            "SELECT id, origin_hub, manifest, signature FROM seals WHERE id = :i", i=seal_id
        )
        assert tuple(stored) == tuple(signed)
        # The stored seal is A's signature over what B and C store.
        assert seal.verify_seal(seal.Seal(*stored), public)
        assert seal.digest(row.provenance, row.raw) in seal.Seal(*stored).digests
        prov = json.loads(row.provenance)
        assert prov["origin"] == "hub-a" and prov["producer"] == "CERT-A"
        assert prov["tlp"] in ("TLP:GREEN", "green")


def _rogue_seal(origin: str, digests: list[str]) -> dict[str, str]:
    rogue = keys.HubKey(name=origin, private=Ed25519PrivateKey.generate())
    return seal.make_seal(rogue, f"{origin}/{uuid.uuid4()}", digests).to_json()


def _find(doc: Any, predicate: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(doc, dict):
        if predicate(doc):
            found.append(doc)
        for value in doc.values():
            found += _find(value, predicate)
    elif isinstance(doc, list):
        for value in doc:
            found += _find(value, predicate)
    return found


def _batch(
    collection: str,
    seals: list[dict[str, str]],
    objects: list[dict[str, Any]],
    tombstones: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "collection": collection,
        "position": 0,
        "head": 0,
        "remaining": 0,
        "seals": {s["id"]: s for s in seals},
        "objects": objects,
        "tombstones": tombstones or [],
    }


def test_forged_and_tampered_versions_and_a_forged_tombstone_are_refused(chain: Chain) -> None:
    b = chain.b
    # hub-a pushes to B as hub-a's user at B (a push link's credentials): a hub user.
    b.add_member("B-Community", "hub-a")
    pusher = b.add_reader("hub-a", "hub-a-pusher")
    (genuine,) = chain.share(h.indicator(tlp="clear"))
    _arrives(b, chain.from_a, genuine)
    refused_before = b.sql("SELECT count(*) FROM federation_refusals")[0][0]

    # Forged: a version claiming origin hub-a, sealed with a key A never had.
    forged_obj = h.indicator(tlp="clear")
    forged_raw = json.dumps(forged_obj)
    forged_prov = seal.provenance(origin="hub-a", producer="CERT-A", tlp="TLP:CLEAR")
    forged_seal = _rogue_seal("hub-a", [seal.digest(forged_prov, forged_raw)])
    # Tampered: A's genuine seal and provenance, the raw changed after sealing.
    (row,) = chain.a.rows_of(genuine)
    (real_seal,) = chain.a.sql(
        "SELECT id, origin_hub, manifest, signature FROM seals WHERE id = :i", i=row.seal_id
    )
    # A new id too, so that the version is new at B: only the digest can refuse it.
    tampered_id = f"indicator--{uuid.uuid4()}"
    tampered_raw = row.raw.replace(genuine, tampered_id).replace("Bad address", "Harmless")
    assert tampered_id in tampered_raw and "Harmless" in tampered_raw
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    batch = _batch(
        chain.from_a,
        [forged_seal, seal.Seal(*real_seal).to_json()],
        [
            {
                "raw": forged_raw,
                "provenance": forged_prov,
                "seal": forged_seal["id"],
                "date_added": now,
            },
            {
                "raw": tampered_raw,
                "provenance": row.provenance,
                "seal": real_seal[0],
                "date_added": now,
            },
        ],
    )
    response = b.push_batch(pusher, chain.from_a, batch)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 0
    reasons = {r["id"]: r["reason"] for r in answer["refused"]}
    assert "forged" in reasons[forged_obj["id"]]
    assert "tampered" in reasons[tampered_id]
    assert b.rows_of(forged_obj["id"]) == []
    assert b.rows_of(tampered_id) == []
    assert [r.raw for r in b.rows_of(genuine)] == [row.raw]

    # A tombstone for a real version, signed by anyone but the origin, is refused too.
    doc = {
        "type": "varsel-tombstone",
        "id": f"hub-a/{uuid.uuid4()}",
        "origin": "hub-a",
        "stix_id": genuine,
        "versions": None,
        "reason": "deleted",
        "issued": now,
    }
    rogue = keys.HubKey(name="hub-a", private=Ed25519PrivateKey.generate())
    doc["signature"] = seal.sign_tombstone(rogue, doc)
    response = b.push_batch(pusher, chain.from_a, _batch(chain.from_a, [], [], [doc]))
    assert response.status_code == 200, response.text
    assert response.json()["tombstones"] == 0
    assert b.copies(genuine) == 1

    # Audited, counted, and shown with the reason in `varsel peer status`.
    assert b.sql("SELECT count(*) FROM federation_refusals")[0][0] >= refused_before + 3
    assert b.sql("SELECT count(*) FROM audit_events WHERE action = 'federation.refused'")[0][0] >= 2
    status = b.peer_status()
    shown = {
        d["stix_id"]: d["reason"] for d in _find(status, lambda d: "stix_id" in d and "reason" in d)
    }
    assert "forged" in shown.get(forged_obj["id"], ""), status
    assert "tampered" in shown.get(tampered_id, ""), status


# Real time --------------------------------------------------------------------------------


def test_a_share_at_a_is_readable_at_b_within_a_second(chain: Chain) -> None:
    hops: list[float] = []
    two_hops: list[float] = []
    for _ in range(5):
        obj = h.indicator(tlp="clear")
        chain.a.share(chain.tokens["CERT-A"], chain.intel, obj)
        acked = time.monotonic()
        reached_b = reached_c = None
        deadline = acked + 10
        while (reached_b is None or reached_c is None) and time.monotonic() < deadline:
            if reached_b is None and chain.b.read_object_text(
                chain.tokens["OUT-B"], chain.from_a, obj["id"]
            ):
                reached_b = time.monotonic() - acked
            if reached_c is None and chain.c.read_object_text(
                chain.tokens["OUT-C"], chain.from_b, obj["id"]
            ):
                reached_c = time.monotonic() - acked
            time.sleep(0.02)
        assert reached_b is not None and reached_c is not None, "not delivered within 10 s"
        hops.append(reached_b)
        two_hops.append(reached_c)
    # Medians: one slow moment of a shared machine must not fail the run; five slow ones do.
    assert statistics.median(hops) <= 1.0, hops
    assert statistics.median(two_hops) <= 2.0, two_hops


# Withdrawal -------------------------------------------------------------------------------


def test_a_producers_delete_travels_as_a_tombstone_to_b_and_c(chain: Chain) -> None:
    (sid,) = chain.share(h.indicator(tlp="green"))
    _arrives(chain.c, chain.from_b, sid)
    chain.a.delete(chain.tokens["CERT-A"], chain.intel, sid)
    _gone(chain.b, sid)
    _gone(chain.c, sid)
    assert sid not in chain.at_b("ORG-B1") and sid not in chain.at_c("ORG-C1")
    documents = [
        json.loads(r[0])
        for r in chain.c.sql("SELECT document FROM tombstones WHERE stix_id = :s", s=sid)
    ]
    assert documents and all(d["origin"] == "hub-a" and d["reason"] == "deleted" for d in documents)
    public = keys.parse_public(chain.a.hub_id()[1])
    assert all(seal.verify_tombstone(d, public) for d in documents)


def test_narrowing_to_red_withdraws_the_version_at_b_and_c(chain: Chain) -> None:
    first = h.indicator(tlp="amber", modified="2026-03-01T00:00:00.000Z")
    sid = first["id"]
    chain.share(first)
    _arrives(chain.c, chain.from_b, sid)
    narrowed = {
        **first,
        "modified": "2026-03-02T00:00:00.000Z",
        "object_marking_refs": [h.TLP_IDS["red"]],
        "x_varsel_recipients": ["A-OTHER"],
    }
    chain.share(narrowed)
    _gone(chain.b, sid)
    _gone(chain.c, sid)
    reasons = {r[0] for r in chain.b.sql("SELECT reason FROM tombstones WHERE stix_id = :s", s=sid)}
    assert reasons == {"withdrawn"}
    assert len(chain.a.rows_of(sid)) == 2


def test_peer_status_json_shape(chain: Chain) -> None:
    _sentinel_through(chain)
    status = chain.b.peer_status()
    (peer,) = [p for p in status["peers"] if p["name"] == "hub-a"]
    assert peer["url"].rstrip("/") == chain.a.api_root_url.rstrip("/")
    assert peer["public_key"] == chain.a.hub_id()[1]
    (link,) = peer["links"]
    assert link["direction"] == "pull"
    assert link["local_collection_id"] == chain.from_a
    assert link["remote_collection"] == chain.intel
    for key in (
        "state",
        "last_success_at",
        "last_error",
        "lag_objects",
        "lag_seconds",
        "received",
        "duplicates",
        "refused",
        "pending_tombstones",
        "latest_refusals",
    ):
        assert key in link, key
    assert link["received"] >= 1
    assert link["last_success_at"] is not None
    h.wait_until(
        lambda: chain.b.peer_status()["peers"][0]["links"][0]["lag_objects"] == 0,
        timeout=ARRIVAL,
        message="lag 0 at B",
    )
    # At C, A is trusted (pinned) without being a peer.
    trusted = {t["name"] for t in chain.c.peer_status()["trusted"]}
    assert {"hub-a", "hub-b"} <= trusted


# Outages ----------------------------------------------------------------------------------


def test_a_tombstone_issued_while_b_is_down_arrives_after_it_restarts(chain: Chain) -> None:
    (sid,) = chain.share(h.indicator(tlp="green"))
    _arrives(chain.c, chain.from_b, sid)
    with h.stopped(chain.b):
        chain.a.delete(chain.tokens["CERT-A"], chain.intel, sid)
        assert chain.b.copies(sid) == 1  # B is down: it still holds it
    _gone(chain.b, sid, timeout=60)
    _gone(chain.c, sid, timeout=60)


def test_b_killed_mid_sync_of_5000_objects_keeps_every_object_exactly_once(chain: Chain) -> None:
    tag = f"bulk-{uuid.uuid4().hex[:8]}"
    total = 5000
    chain.b.stop()
    try:
        for start in range(0, total, 500):
            batch = [
                h.indicator(
                    tlp="clear",
                    name=f"{tag} {n}",
                    value=f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",
                )
                for n in range(start, start + 500)
            ]
            chain.a.share(chain.tokens["CERT-A"], chain.intel, *batch)
    finally:
        chain.b.start()
    # Kill B with SIGKILL once it has some, but not all, of them.
    h.wait_until(
        lambda: chain.b.count_named(chain.from_a, tag)[0] > 0,
        timeout=60,
        interval=0.01,
        message="the first objects at B",
    )
    got_before_kill = chain.b.count_named(chain.from_a, tag)[0]
    chain.b.kill()
    chain.b.start()
    h.wait_until(
        lambda: chain.b.count_named(chain.from_a, tag)[1] == total,
        timeout=120,
        interval=0.5,
        message=lambda: f"{total} at B (have {chain.b.count_named(chain.from_a, tag)})",
    )
    h.wait_until(
        lambda: chain.c.count_named(chain.from_b, tag)[1] == total,
        timeout=120,
        interval=0.5,
        message=lambda: f"{total} at C (have {chain.c.count_named(chain.from_b, tag)})",
    )
    time.sleep(2)  # anything repeated after the catch-up would show now
    assert chain.b.count_named(chain.from_a, tag) == (total, total), got_before_kill
    assert chain.c.count_named(chain.from_b, tag) == (total, total)


# Stars and meshes -------------------------------------------------------------------------


def _mesh_hubs(fed: h.Federation) -> list[h.Hub]:
    names = ["hub-w", "hub-x", "hub-y", "hub-z"]
    hubs = fed.start(names)

    def local(hub: h.Hub) -> tuple[str, str, str]:
        producer = f"CERT-{hub.name[-1].upper()}"
        ids, tokens = hub.populate(
            orgs={producer: "csirt"},
            users={"producer": producer},
            communities={"Mesh": [producer]},
            collections={"Star": ("Mesh", "green"), "Full": ("Mesh", "green")},
        )
        return ids["Star"], ids["Full"], tokens["producer"]

    setup = h.parallel(*(lambda hub=hub: local(hub) for hub in hubs))
    for hub, (star, mesh, token) in zip(hubs, setup, strict=True):
        hub.extra_env["STAR"], hub.extra_env["FULL"], hub.extra_env["TOKEN"] = star, mesh, token

    # Every hub admits every other and registers it as a peer (links come per topology).
    def admit_all(up: h.Hub) -> dict[tuple[str, str], str]:
        return {(up.name, d.name): h.admit_hub(up, d, "Mesh") for d in hubs if d is not up}

    tokens: dict[tuple[str, str], str] = {}
    for found in h.parallel(*(lambda up=up: admit_all(up) for up in hubs)):
        tokens.update(found)
    h.parallel(
        *(
            lambda down=down: [
                h.add_peer(down, up, tokens[(up.name, down.name)]) for up in hubs if up is not down
            ]
            for down in hubs
        )
    )
    return hubs


def _coll(hub: h.Hub, which: str) -> str:
    return hub.extra_env[which]


def _share_each(hubs: list[h.Hub], which: str, per_hub: int) -> dict[str, str]:
    origin = {}
    for hub in hubs:
        objects = [h.indicator(tlp=("clear", "green", "amber")[n % 3]) for n in range(per_hub)]
        hub.share(hub.extra_env["TOKEN"], _coll(hub, which), *objects)
        origin.update({o["id"]: hub.name for o in objects})
    return origin


def _exactly_once_everywhere(hubs: list[h.Hub], which: str, origin: dict[str, str]) -> None:
    total = len(origin)
    for hub in hubs:
        h.wait_until(
            lambda hub=hub: hub.count_rows(_coll(hub, which)) >= total,
            timeout=60,
            message=lambda hub=hub: (
                f"{total} objects at {hub.name} ({hub.count_rows(_coll(hub, which))})"
            ),
        )
    time.sleep(2)
    for hub in hubs:
        rows = hub.sql(
            "SELECT stix_id, count(*), min(origin_hub) FROM stix_objects "
            "WHERE collection_id = :c GROUP BY stix_id",
            c=_coll(hub, which),
        )
        assert {r[0] for r in rows} == set(origin), hub.name
        assert all(r[1] == 1 for r in rows), [r for r in rows if r[1] != 1]
        for stix_id, _, row_origin in rows:
            # Never returned to its origin: at the origin the one row is its own (origin_hub
            # is None for a version first stored here), elsewhere it names the origin.
            assert (row_origin or hub.name) == origin[stix_id], (hub.name, stix_id, row_origin)


def _transferred(hubs: list[h.Hub], which: str) -> int:
    total = 0
    for hub in hubs:
        (row,) = hub.sql(
            "SELECT coalesce(sum(received + duplicates), 0) FROM peer_links "
            "WHERE local_collection_id = :c",
            c=_coll(hub, which),
        )
        total += int(row[0])
    return total


def test_star_then_full_mesh_of_four_each_version_once_per_hub(federation: h.Federation) -> None:
    hubs = _mesh_hubs(federation)
    centre, leaves = hubs[0], hubs[1:]
    # Star: the centre pulls from every leaf, every leaf from the centre.
    for leaf in leaves:
        h.link(centre, leaf, _coll(leaf, "STAR"), _coll(centre, "STAR"))
        h.link(leaf, centre, _coll(centre, "STAR"), _coll(leaf, "STAR"))
    star_origin = _share_each(hubs, "STAR", 12)
    _exactly_once_everywhere(hubs, "STAR", star_origin)

    # Full mesh: every hub pulls from every other. Operators add links one at a time: each hub
    # first pulls from one other, and its worker connects, before the rest are added — a
    # stream opened then must not keep relaying what later links bring directly.
    for n, down in enumerate(hubs):
        up = hubs[(n + 1) % len(hubs)]
        h.link(down, up, _coll(up, "FULL"), _coll(down, "FULL"))
    time.sleep(3)
    for n, down in enumerate(hubs):
        for up in hubs:
            if up is not down and up is not hubs[(n + 1) % len(hubs)]:
                h.link(down, up, _coll(up, "FULL"), _coll(down, "FULL"))
    mesh_origin = _share_each(hubs, "FULL", 25)
    _exactly_once_everywhere(hubs, "FULL", mesh_origin)
    needed = len(mesh_origin) * (len(hubs) - 1)
    amplification = _transferred(hubs, "FULL") / needed
    assert 1.0 <= amplification <= 1.1, amplification
    # No hub holds a copy of its own versions that came back from a peer.
    for hub in hubs:
        returned = hub.sql("SELECT count(*) FROM stix_objects WHERE origin_hub = :o", o=hub.name)[
            0
        ][0]
        assert returned == 0, hub.name
