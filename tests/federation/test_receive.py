"""Receiving a peer's batch: seals and tombstones verified against pinned keys, versions stored
under their origin's hub organisation with the provenance's TLP and recipients (both databases).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories as f
from tests.conftest import Hub
from tests.federation.batches import batch, hub_key, tombstone, trust, version
from varsel import config
from varsel.audit.models import AuditEvent
from varsel.errors import InvalidInput
from varsel.federation import receive
from varsel.federation.models import Refusal
from varsel.policy import Action, restrict
from varsel.provenance.keys import HubKey
from varsel.sharing.models import Recipient, Seal, StixObject, Tombstone, TombstoneAudience
from varsel.sharing.tlp import TLP

HERE = "hub-b"
V1, V2 = "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"


@dataclass
class World:
    """Hub B: CERT-B (bob) and Other-B (olga) in community Nordic; origin hub-a is pinned."""

    hub: Hub
    key: HubKey
    collection_id: str
    hub_a: int
    hub_c: int
    hub_d: int

    def session(self) -> Session:
        return self.hub.session()

    def apply(self, doc: Any, session: Session | None = None) -> receive.ReceiveResult:
        """Apply ``doc`` as a pull from hub-a would, and commit."""
        own = session is None
        s = session or self.session()
        try:
            from varsel.sharing.models import Collection

            coll = s.get(Collection, self.collection_id)
            assert coll is not None
            result = receive.apply_batch(
                s, collection=coll, sender=None, peer_name="hub-a", link_id=None, batch=doc
            )
            s.commit()
            return result
        finally:
            if own:
                s.close()


@pytest.fixture
def world(hub: Hub, configure: Callable[..., config.Settings]) -> Iterator[World]:
    configure(hub_name=HERE)
    key = hub_key("hub-a")
    with hub.session() as s:
        f.org(s, "CERT-B", "NO")
        f.org(s, "Other-B", "NO")
        f.user(s, "bob", "CERT-B", password=None)
        f.user(s, "olga", "Other-B", password=None)
        hub_a = trust(s, key)
        hub_c = f.org(s, "hub-c", "DK", kind="hub")
        hub_d = f.org(s, "hub-d", "FI", kind="hub")
        f.community(s, "Nordic", ["CERT-B", "Other-B", "hub-a", "hub-c"])
        coll = f.collection(s, "Shared", "Nordic", default_tlp="amber")
        s.commit()
        yield World(hub, key, coll.id, hub_a, hub_c, hub_d)


def _rows(world: World) -> list[StixObject]:
    with world.session() as s:
        return list(s.execute(select(StixObject).order_by(StixObject.id)).scalars())


def _reads(world: World, username: str, stix_id: str) -> bool:
    with world.session() as s:
        query = restrict(
            select(StixObject.id).where(StixObject.stix_id == stix_id),
            f.principal(s, username),
            Action.READ,
        )
        return s.execute(query).first() is not None


def _count(world: World, model: Any) -> int:
    with world.session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_signed_batch_is_stored_under_the_origin_with_its_provenance(world: World) -> None:
    amber = f.indicator(modified=V1)
    red = f.indicator(value="203.0.113.9")
    sent = [
        version(amber, origin="hub-a"),
        version(
            red,
            origin="hub-a",
            tlp="red",
            recipients=["CERT-B@hub-b", "SOC@hub-c", "Nobody@hub-b", "X@hub-zz"],
        ),
    ]
    doc = batch(world.key, sent)
    result = world.apply(doc)
    assert (result.accepted, result.duplicates, result.refused, result.tombstones) == (2, 0, [], 0)
    assert sorted(result.dropped_recipients) == ["Nobody@hub-b", "X@hub-zz"]
    assert result.as_json() == {"accepted": 2, "duplicates": 0, "refused": [], "tombstones": 0}

    rows = {r.stix_id: r for r in _rows(world)}
    seal_id = next(iter(doc["seals"]))
    for obj, (raw, prov) in zip((amber, red), sent, strict=True):
        row = rows[obj["id"]]
        assert (row.raw, row.provenance, row.seal_id) == (raw, prov, seal_id)
        assert (row.origin_hub, row.producer_org_id, row.shared_by_user_id) == (
            "hub-a",
            world.hub_a,
            None,
        )
    assert rows[amber["id"]].tlp == "amber" and rows[red["id"]].tlp == "red"
    with world.session() as s:
        kept = s.get(Seal, seal_id)
        assert kept is not None and kept.signature == doc["seals"][seal_id]["signature"]
        recipients = {
            (r.org_id, r.user_id, r.remote)
            for r in s.execute(
                select(Recipient).where(Recipient.object_pk == rows[red["id"]].id)
            ).scalars()
        }
        cert_b = f.principal(s, "bob").org_id
    assert recipients == {(cert_b, None, None), (world.hub_c, None, "SOC")}
    # The provenance decides who reads, at this hub: the community reads AMBER, the named
    # recipient alone reads RED.
    assert _reads(world, "olga", amber["id"]) and _reads(world, "bob", amber["id"])
    assert _reads(world, "bob", red["id"]) and not _reads(world, "olga", red["id"])


def test_a_version_from_a_share_at_the_origin_is_received_byte_for_byte(
    world: World, configure: Callable[..., config.Settings], tmp_path: Any
) -> None:
    """Share through the real ingest as hub-a, carry its seal and rows over, apply as hub-b."""
    with world.session() as s:
        # Played by this database for a moment: hub-a's key and name, a local producer.
        configure(hub_name="hub-a", data_dir=tmp_path)
        from varsel.provenance import keys
        from varsel.sharing import ingest

        origin_key = keys.current(tmp_path, "hub-a")
        f.org(s, "CERT-A", "SE")
        f.user(s, "anna", "CERT-A", password=None)
        f.community(s, "At-A", ["CERT-A"])
        at_a = f.collection(s, "At A", "At-A")
        obj = f.indicator(tlp=TLP.GREEN)
        ingest.ingest(
            session=s, collection=at_a, principal=f.principal(s, "anna"), body=f.envelope(obj)
        )
        row = s.execute(select(StixObject).where(StixObject.stix_id == obj["id"])).scalar_one()
        signed = s.get(Seal, row.seal_id)
        assert signed is not None
        doc = {
            "seals": {
                signed.id: {
                    "id": signed.id,
                    "origin": signed.origin_hub,
                    "manifest": signed.manifest,
                    "signature": signed.signature,
                }
            },
            "objects": [{"raw": row.raw, "provenance": row.provenance, "seal": signed.id}],
            "tombstones": [],
        }
        s.rollback()
    configure(hub_name=HERE)
    with world.session() as s:
        from varsel.federation.models import TrustedHub

        pinned = s.get(TrustedHub, "hub-a")
        assert pinned is not None
        pinned.public_key = origin_key.public
        s.commit()
    result = world.apply(doc)
    assert (result.accepted, result.refused) == (1, [])
    (stored,) = _rows(world)
    assert stored.raw == doc["objects"][0]["raw"] and stored.tlp == "green"
    assert json.loads(stored.provenance or "")["producer"] == "CERT-A"


def _refused_only(world: World, result: receive.ReceiveResult, reason: str) -> None:
    assert result.accepted == 0 and result.refused and _rows(world) == []
    assert all(r.reason.startswith(reason) for r in result.refused), result.refused
    assert _count(world, Seal) == 0
    with world.session() as s:
        kept = [(i, r) for i, r in s.execute(select(Refusal.stix_id, Refusal.reason))]
        assert kept == [(r.id, r.reason) for r in result.refused]
        assert all(p == "hub-a" for p in s.execute(select(Refusal.peer_name)).scalars())
        (event,) = s.execute(
            select(AuditEvent).where(AuditEvent.action == "federation.refused")
        ).scalars()
        details = json.loads(event.details) if isinstance(event.details, str) else event.details
        assert details["count"] == len(result.refused)
        assert "signature" not in json.dumps(details)


def test_a_tampered_version_is_refused(world: World) -> None:
    obj = f.indicator()
    raw, prov = version(obj, origin="hub-a")
    doc = batch(world.key, [(raw.replace("198.51.100.7", "192.0.2.1"), prov)], signed=[(raw, prov)])
    result = world.apply(doc)
    _refused_only(world, result, receive.TAMPERED)
    assert result.refused[0].id == obj["id"]


def test_a_widened_provenance_is_refused_as_tampered(world: World) -> None:
    raw, prov = version(f.indicator(), origin="hub-a", tlp="red", recipients=["CERT-B@hub-b"])
    _, wider = version(json.loads(raw), origin="hub-a", tlp="clear")
    result = world.apply(batch(world.key, [(raw, wider)], signed=[(raw, prov)]))
    _refused_only(world, result, receive.TAMPERED)


def test_a_seal_signed_by_another_key_is_refused_as_forged(world: World) -> None:
    impostor = hub_key("hub-a")  # claims to be hub-a, holds another key
    result = world.apply(batch(impostor, [version(f.indicator(), origin="hub-a")]))
    _refused_only(world, result, receive.FORGED)


def test_an_origin_without_a_pinned_key_is_refused(world: World) -> None:
    stranger = hub_key("hub-x")
    result = world.apply(batch(stranger, [version(f.indicator(), origin="hub-x")]))
    _refused_only(world, result, receive.UNKNOWN_ORIGIN)


def test_a_provenance_naming_another_origin_than_its_seal_is_refused(world: World) -> None:
    result = world.apply(batch(world.key, [version(f.indicator(), origin="hub-c")]))
    _refused_only(world, result, receive.TAMPERED)


def test_a_version_first_stored_here_is_dropped_as_a_loop(world: World) -> None:
    own = hub_key(HERE)
    result = world.apply(batch(own, [version(f.indicator(), origin=HERE)]))
    assert (result.accepted, result.duplicates, result.refused) == (0, 1, [])
    assert _rows(world) == [] and _count(world, Refusal) == 0


def test_a_version_received_twice_is_counted_as_a_duplicate(world: World) -> None:
    sent = [version(f.indicator(), origin="hub-a"), version(f.indicator(), origin="hub-a")]
    assert world.apply(batch(world.key, sent)).accepted == 2
    again = world.apply(batch(world.key, sent))
    assert (again.accepted, again.duplicates, again.refused) == (0, 2, [])
    assert len(_rows(world)) == 2


def test_invalid_stix_and_unknown_levels_are_refused_one_by_one(world: World) -> None:
    good = version(f.indicator(), origin="hub-a")
    bad = version({"type": "indicator", "id": "indicator--nope"}, origin="hub-a")
    odd_tlp = version(f.indicator(), origin="hub-a", tlp="TLP:PURPLE")
    secret = version(f.indicator(), origin="hub-a", classification=["NO", 9, "TOPPHEMMELIG"])
    result = world.apply(batch(world.key, [good, bad, odd_tlp, secret]))
    assert result.accepted == 1
    reasons = sorted(r.reason.split(":")[0] for r in result.refused)
    assert reasons == [
        "a classification this hub does not know",
        "invalid STIX",
        "unknown TLP 'TLP",
    ]


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"objects": {}},
        {"seals": []},
        {"objects": [{"raw": 1}]},
        {"objects": [{"raw": "{}", "provenance": "{}", "seal": "hub-a/none"}]},
        {"seals": {"hub-a/1": {"id": "hub-a/2", "origin": "a", "manifest": "", "signature": ""}}},
        {"seals": {"hub-a/1": {"id": "hub-a/1"}}},
        {"tombstones": ["x"]},
        {"objects": [{"raw": "{\u0000}", "provenance": None, "seal": None}]},
    ],
)
def test_a_malformed_batch_is_refused_whole_and_writes_nothing(world: World, doc: Any) -> None:
    good = batch(world.key, [version(f.indicator(), origin="hub-a")])
    mixed = {**good, **doc} if isinstance(doc, dict) else doc
    if isinstance(doc, dict) and "objects" in doc and isinstance(doc["objects"], list):
        mixed["objects"] = good["objects"] + doc["objects"]
    with pytest.raises(InvalidInput):
        world.apply(mixed)
    assert _rows(world) == [] and _count(world, Refusal) == 0


def _received(world: World, *objs: dict[str, Any]) -> None:
    sent = [version(o, origin="hub-a") for o in objs]
    assert world.apply(batch(world.key, sent)).accepted == len(objs)


def test_a_tombstone_of_the_origin_deletes_and_is_kept_for_this_hubs_audience(
    world: World,
) -> None:
    v1 = f.indicator(modified=V1)
    v2 = {**v1, "modified": V2}
    other = f.indicator()
    _received(world, v1, v2, other)
    # Only V1 goes: V2 stays the latest.
    stone = tombstone(world.key, v1["id"], versions=[V1])
    result = world.apply(batch(world.key, [], tombstones=[stone]))
    assert (result.tombstones, result.refused) == (1, [])
    left = [(r.stix_id, r.version, r.is_latest, r.is_first) for r in _rows(world)]
    assert sorted(left) == sorted([(v1["id"], V2, True, True), (other["id"], V1, True, True)])
    with world.session() as s:
        (kept,) = s.execute(select(Tombstone)).scalars()
        assert json.loads(kept.document) == stone
        assert (kept.origin_hub, kept.reason, kept.stix_id) == ("hub-a", "deleted", v1["id"])
        audience = set(s.execute(select(TombstoneAudience.org_id)).scalars())
    # hub-c reads the community's AMBER here; hub-a (the origin) is not told back, hub-d
    # never read it.
    assert audience == {world.hub_c}

    # Every version, and idempotent by the document's id.
    everything = tombstone(world.key, v1["id"])
    assert world.apply(batch(world.key, [], tombstones=[everything])).tombstones == 1
    assert [r.stix_id for r in _rows(world)] == [other["id"]]
    again = world.apply(batch(world.key, [], tombstones=[everything]))
    assert (again.tombstones, again.duplicates) == (0, 1)
    assert _count(world, Tombstone) == 2


def test_a_tombstone_not_signed_by_its_origin_is_refused(world: World) -> None:
    obj = f.indicator()
    _received(world, obj)
    for forged in (
        tombstone(hub_key("hub-a"), obj["id"]),  # another key claiming hub-a
        tombstone(hub_key("hub-c"), obj["id"], origin="hub-c"),  # an origin never pinned
    ):
        result = world.apply(batch(world.key, [], tombstones=[forged]))
        assert result.tombstones == 0 and len(result.refused) == 1
    # Signed by hub-a, but the signed fields were changed afterwards.
    changed = {**tombstone(world.key, f.stix_id()), "stix_id": obj["id"]}
    result = world.apply(batch(world.key, [], tombstones=[changed]))
    assert [r.reason for r in result.refused] == [receive.FORGED]
    assert [r.stix_id for r in _rows(world)] == [obj["id"]]
    assert _count(world, Tombstone) == 0 and _count(world, Refusal) == 3


def test_a_tombstone_deletes_only_what_its_origin_first_stored(world: World) -> None:
    """A hub-c tombstone cannot delete hub-a's versions, even for the same id."""
    obj = f.indicator()
    _received(world, obj)
    key_c = hub_key("hub-c-origin")
    with world.session() as s:
        trust(s, key_c, "DK")
        s.commit()
    result = world.apply(batch(world.key, [], tombstones=[tombstone(key_c, obj["id"])]))
    assert result.tombstones == 1
    assert [r.stix_id for r in _rows(world)] == [obj["id"]]


def test_a_malformed_tombstone_is_refused_and_kept_as_such(world: World) -> None:
    nul = {**tombstone(world.key, f.stix_id()), "stix_id": "indicator--\x00"}
    long = {**tombstone(world.key, f.stix_id()), "stix_id": "x" * 400}
    odd = tombstone(world.key, f.stix_id(), reason="because")
    result = world.apply(batch(world.key, [], tombstones=[nul, long, odd]))
    assert result.tombstones == 0
    reasons = [r.reason.split(":")[0] for r in result.refused]
    assert reasons == [receive.FORGED, "invalid tombstone", "invalid tombstone"]
    with world.session() as s:
        kept = list(s.execute(select(Refusal.stix_id).order_by(Refusal.id)).scalars())
    assert kept[0] == "indicator--\ufffd" and len(kept[1] or "") == 300
