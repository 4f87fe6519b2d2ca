"""The matching API on both databases: observables, exports with ETags, k-anonymous aggregates."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.matching.conftest import World, pattern_indicator
from varsel.audit.models import AuditEvent
from varsel.config import ConfigError, Settings
from varsel.matching.flows import identity_id
from varsel.orgs import service as orgs
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP

HASH = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(world.hub.app) as c:
        yield c


def auth(world: World, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[user]}"}


def _indicators(world: World) -> dict[str, dict[str, object]]:
    made = {
        "ip": pattern_indicator(
            "[network-traffic:dst_ref.value = '198.51.100.7']", name='Bad "host"; beware'
        ),
        "cidr": pattern_indicator("[ipv4-addr:value = '203.0.113.0/24']"),
        "sub": pattern_indicator("[domain-name:value LIKE '%.evil.example']"),
        "url": pattern_indicator("[url:value = 'http://evil.example/a%20b|c']"),
        "hash": pattern_indicator(f"[file:hashes.'SHA-256' = '{HASH}']"),
        "mail": pattern_indicator("[email-addr:value = 'eve@evil.example']"),
    }
    world.share("alice", *made.values())
    return made


def test_match_a_batch_of_observables(world: World, client: TestClient) -> None:
    made = _indicators(world)
    body = {
        "observables": [
            "203.0.113.9",
            {"value": "X.Evil.Example.", "type": "domain"},
            {"value": "198.51.100.7", "type": "ip"},
            "nothing.example",
            HASH.upper(),
        ]
    }
    got = client.post("/api/v1/match", json=body, headers=auth(world, "bob"))
    assert got.status_code == 200, got.text
    pairs = {(m["observable"], m["indicator_id"]) for m in got.json()["matches"]}
    # 198.51.100.7 is a destination-only indicator: an observable of unknown side misses it.
    assert pairs == {
        ("203.0.113.9", made["cidr"]["id"]),
        ("X.Evil.Example.", made["sub"]["id"]),
        (HASH.upper(), made["hash"]["id"]),
    }
    assert (
        client.post("/api/v1/match", json=body, headers=auth(world, "carol")).json()["matches"]
        == []
    )
    too_many = {"observables": ["1.1.1.1"] * 1001}
    assert (
        client.post("/api/v1/match", json=too_many, headers=auth(world, "bob")).status_code == 400
    )
    assert client.post("/api/v1/match", json=body).status_code == 401


def test_exports_in_every_format(world: World, client: TestClient) -> None:
    made = _indicators(world)

    def get(fmt: str, **params: object) -> Any:
        return client.get(f"/api/v1/exports/{fmt}", params=params, headers=auth(world, "bob"))

    rules = get("suricata").text
    assert "alert ip any any -> [198.51.100.7] any" in rules
    assert "alert ip [203.0.113.0/24] any <> any any" in rules
    assert 'dns.query; content:".evil.example"; nocase; endswith;' in rules
    assert 'content:"/a%20b|7C|c"' in rules and "filesha256:varsel-sha256.txt" in rules
    assert 'msg:"VARSEL Bad host beware"' in rules
    sids = [line.split("sid:")[1].split(";")[0] for line in rules.splitlines() if "sid:" in line]
    assert len(sids) == len(set(sids)) and all(3_000_000_000 <= int(s) < 2**32 for s in sids)

    intel = get("zeek").text.splitlines()
    assert intel[0].startswith("# 1 subdomain indicators left out")
    assert intel[1] == "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url"
    assert f"{HASH}\tIntel::FILE_HASH\tvarsel" in "\n".join(intel)
    assert "evil.example/a%20b|c\tIntel::URL" in "\n".join(intel)

    assert get("plain", type="cidr").text == "203.0.113.0/24\n"
    assert get("plain", type=["ip", "sha256"]).text == f"198.51.100.7\n{HASH}\n"
    rows = list(csv.DictReader(io.StringIO(get("csv").text)))
    assert {(r["type"], r["direction"]) for r in rows if r["type"] == "ip"} == {("ip", "dst")}
    dataset = get("suricata-dataset", type="domain").text
    assert dataset == ""  # the only domain indicator is a subdomain one
    assert get("suricata-dataset").status_code == 400
    bundle = get("stix").json()
    assert bundle["type"] == "bundle"
    assert {o["id"] for o in bundle["objects"]} == {o["id"] for o in made.values()}
    assert get("pdf").status_code == 400 and get("plain", type="ipv5").status_code == 400
    carol = client.get("/api/v1/exports/plain", headers=auth(world, "carol"))
    assert carol.status_code == 200 and carol.text == ""


def test_etags_answer_304_until_something_readable_changes(
    world: World, client: TestClient
) -> None:
    _indicators(world)
    first = client.get("/api/v1/exports/suricata", headers=auth(world, "bob"))
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"] == "private, no-cache"
    again = client.get(
        "/api/v1/exports/suricata", headers={**auth(world, "bob"), "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other_format = client.get(
        "/api/v1/exports/zeek", headers={**auth(world, "bob"), "If-None-Match": etag}
    )
    assert other_format.status_code == 200
    # Something bob cannot read changes nothing for him...
    world.share(
        "alice",
        pattern_indicator(
            "[domain-name:value = 'secret.example']", tlp=TLP.RED, recipients=["Dansk"]
        ),
    )
    assert (
        client.get(
            "/api/v1/exports/suricata", headers={**auth(world, "bob"), "If-None-Match": etag}
        ).status_code
        == 304
    )
    # ...but a new readable indicator changes the body and the ETag.
    world.share("dag", pattern_indicator("[domain-name:value = 'new.example']"))
    changed = client.get(
        "/api/v1/exports/suricata", headers={**auth(world, "bob"), "If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "new.example" in changed.text


def _red_export_events(world: World) -> list[dict[str, Any]]:
    with world.hub.session() as s:
        red = select(AuditEvent).where(AuditEvent.action == "objects.read.red")
        events = s.scalars(red.order_by(AuditEvent.id)).all()
        return [{"actor": e.actor, "target": e.target, **json.loads(e.details)} for e in events]


def test_handing_out_red_indicators_in_an_export_is_audited(
    world: World, client: TestClient
) -> None:
    _indicators(world)
    for_bob = pattern_indicator(
        "[domain-name:value = 'red.example']", tlp=TLP.RED, recipients=["Svea"]
    )
    not_for_bob = pattern_indicator(
        "[domain-name:value = 'other.example']", tlp=TLP.RED, recipients=["Dansk"]
    )
    world.share("alice", for_bob, not_for_bob)
    before = len(_red_export_events(world))
    first = client.get("/api/v1/exports/plain", headers=auth(world, "bob"))
    assert first.status_code == 200 and "red.example" in first.text
    assert "other.example" not in first.text
    events = _red_export_events(world)[before:]
    assert [(e["target"], e["objects"]) for e in events] == [
        ("export:varsel-plain.txt", [for_bob["id"]])
    ]
    assert events[0]["actor"].startswith("bob")
    # A sensor polling with the ETag is handed nothing, and nothing is recorded.
    etag = first.headers["etag"]
    again = client.get(
        "/api/v1/exports/plain", headers={**auth(world, "bob"), "If-None-Match": etag}
    )
    assert again.status_code == 304
    assert len(_red_export_events(world)) == before + 1
    # An export of types that leave the RED indicator out records nothing either.
    ips = client.get("/api/v1/exports/plain", params={"type": "ip"}, headers=auth(world, "bob"))
    assert ips.status_code == 200 and "red.example" not in ips.text
    assert len(_red_export_events(world)) == before + 1
    # dag cannot read bob's RED indicator; his export holds only his own.
    dag = client.get("/api/v1/exports/stix", headers=auth(world, "dag"))
    assert dag.status_code == 200
    assert _red_export_events(world)[-1]["objects"] == [not_for_bob["id"]]


def _sighting(world: World, user: str, indicator_id: str, day: str, tlp: TLP = TLP.AMBER) -> None:
    org = {
        "alice": "Fjordnett",
        "bob": "Svea",
        "dag": "Dansk",
        "eero": "Suomi",
        "carol": "Outsider",
    }[user]
    obj = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f.stix_id("sighting"),
        "created": f"{day}T10:00:00.000Z",
        "modified": f"{day}T10:00:00.000Z",
        "sighting_of_ref": indicator_id,
        "count": 2,
        "first_seen": f"{day}T09:00:00Z",
        "last_seen": f"{day}T09:30:00Z",
        "where_sighted_refs": [identity_id(org)],
        "object_marking_refs": [tlp.stix_id],
    }
    if tlp is TLP.RED:
        obj["x_varsel_recipients"] = ["Fjordnett"]
    world.share(user, obj, collection=world.sightings)


def test_aggregates_need_k_organisations_and_cannot_be_differenced(
    world: World, client: TestClient, configure: Callable[..., Settings]
) -> None:
    made = _indicators(world)
    target = made["ip"]["id"]
    url = "/api/v1/sightings/aggregates"
    with world.hub.session() as s:
        for org in ("Fjordnett", "Svea", "Dansk", "Suomi"):
            orgs.vouch_org(session=s, name=org, actor="test")
        s.commit()
    _sighting(world, "alice", target, "2026-03-01")
    _sighting(world, "alice", target, "2026-03-02")  # one organisation, twice
    _sighting(world, "bob", target, "2026-03-03")
    _sighting(world, "dag", target, "2026-03-04", tlp=TLP.RED)  # RED never counts
    assert client.get(url, headers=auth(world, "eero")).json() == {"k": 3, "aggregates": []}
    # Differencing by contributor attributes is refused outright.
    for params in ({"country": "SE"}, {"sector": "energy"}, {"since": "2026-03-02"}):
        refused = client.get(url, params=params, headers=auth(world, "eero"))
        assert refused.status_code == 400, params
    # Eero's own sighting never counts toward k (tests/matching/test_aggregates_collusion.py).
    _sighting(world, "eero", target, "2026-03-05")
    assert client.get(url, headers=auth(world, "eero")).json() == {"k": 3, "aggregates": []}
    _sighting(world, "dag", target, "2026-03-05")
    shown = client.get(url, headers=auth(world, "eero")).json()["aggregates"]
    assert shown == [
        {
            "indicator_id": target,
            "organisations": 3,
            "countries": 3,
            "first_week": "2026-W09",
            "last_week": "2026-W10",
        }
    ]
    # Narrowing by indicator gives the same whole-population figure, never a subset of orgs.
    narrowed = client.get(url, params={"indicator": target}, headers=auth(world, "eero"))
    assert narrowed.json()["aggregates"] == shown
    # Carol may not read the indicator, so she sees no aggregate of it.
    assert client.get(url, headers=auth(world, "carol")).json()["aggregates"] == []
    configure(sighting_k=4)
    assert client.get(url, headers=auth(world, "eero")).json() == {"k": 4, "aggregates": []}
    with pytest.raises(ConfigError, match="VARSEL_SIGHTING_K must be at least 2"):
        configure(sighting_k=1)  # refused when the hub starts (tests/test_config.py)


def test_a_lone_sighting_never_leaks(world: World, client: TestClient) -> None:
    made = _indicators(world)
    _sighting(world, "bob", made["hash"]["id"], "2026-03-01")
    for user in ("alice", "bob", "dag", "carol"):
        for params in ({}, {"indicator": made["hash"]["id"]}):
            body = client.get(
                "/api/v1/sightings/aggregates", params=params, headers=auth(world, user)
            ).json()
            assert body["aggregates"] == [], (user, params)
    listed = client.get("/api/v1/exports", headers=auth(world, "bob")).json()
    assert "suricata" in [x["format"] for x in listed["formats"]]
    assert listed["types"][0] == "ip" and json.dumps(listed)


def test_a_membership_swap_never_reuses_a_stale_matcher(world: World, client: TestClient) -> None:
    # carol's organisation leaves two communities and joins two others: she may read as many
    # indicators as before, the newest of them the same, and (consecutive row ids a < b < c < d)
    # a + d == b + c. A cache keyed by count, newest date and sum of ids reused her old matcher
    # and went on matching what she may no longer read.
    values = {name: f"192.0.2.{n}" for n, name in enumerate("abcde", start=1)}
    with world.hub.session() as s:
        for name in "abcde":
            f.community(s, f"Swap {name}", ["Fjordnett"])
            f.collection(s, f"Swap {name}", f"Swap {name}", alias=f"swap-{name}")
        for name in "ade":
            orgs.add_member(session=s, community=f"Swap {name}", org="Outsider")
        s.commit()
    ids = {}
    for name in "abcde":  # one share per collection, in this order: e is the newest row
        obj = pattern_indicator(f"[ipv4-addr:value = '{values[name]}']")
        world.share("alice", obj, collection=f"swap-{name}")
        ids[name] = obj["id"]
    with world.hub.session() as s:
        row = {
            name: s.execute(
                select(StixObject.id).where(StixObject.stix_id == ids[name])
            ).scalar_one()
            for name in "abcd"
        }
    assert row["a"] + row["d"] == row["b"] + row["c"], row  # the collision the test needs

    def matched() -> set[str]:
        body = {"observables": list(values.values())}
        got = client.post("/api/v1/match", json=body, headers=auth(world, "carol"))
        assert got.status_code == 200, got.text
        return {m["indicator_id"] for m in got.json()["matches"]}

    assert matched() == {ids["a"], ids["d"], ids["e"]}
    with world.hub.session() as s:
        for name in "ad":
            orgs.remove_member(session=s, community=f"Swap {name}", org="Outsider")
        for name in "bc":
            orgs.add_member(session=s, community=f"Swap {name}", org="Outsider")
        s.commit()
    assert matched() == {ids["b"], ids["c"], ids["e"]}
