"""TAXII 2.1 over real HTTP, driven by the OASIS ``taxii2-client``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest
import requests
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from tests import factories as f
from tests.conftest import Hub
from tests.factories import PASSWORD, TAXII
from tests.sharing.conftest import BearerAuth, World
from varsel.orgs import service as orgs
from varsel.sharing.tlp import TLP


def _collection(live: str, world: World, who: str = "alice") -> Collection:
    return Collection(
        f"{live}/taxii2/hub/collections/{world.collection_id}/", auth=BearerAuth(world.tokens[who])
    )


def test_discovery_and_api_root_with_basic_auth(live: str, world: World) -> None:
    server = Server(f"{live}/taxii2/", user="alice", password=PASSWORD)
    assert server.title
    assert [root.url for root in server.api_roots] == [f"{live}/taxii2/hub/"]
    root = server.default
    assert root is not None
    assert root.versions == [TAXII]
    assert root.max_content_length == 2 * 1024 * 1024


def test_collections_report_the_callers_rights(live: str, world: World) -> None:
    member = ApiRoot(f"{live}/taxii2/hub/", auth=BearerAuth(world.tokens["alice"]))
    outsider = ApiRoot(f"{live}/taxii2/hub/", auth=BearerAuth(world.tokens["carol"]))
    (mine,) = member.collections
    (theirs,) = outsider.collections
    assert (mine.id, mine.can_read, mine.can_write) == (world.collection_id, True, True)
    assert (theirs.can_read, theirs.can_write) == (True, False)
    assert mine.media_types == [TAXII]


def test_add_and_read_back_objects_exactly_as_sent(live: str, world: World) -> None:
    coll = _collection(live, world)
    first, second = f.indicator(), f.indicator(value="203.0.113.9")
    # Odd spacing and escapes: the hub must hand back these very bytes.
    raw_second = json.dumps(second, indent=3, ensure_ascii=True).replace(
        '"name": "', '"name":     "\\u0042ad '
    )
    body = '{"objects": [' + json.dumps(first) + ",\n  " + raw_second + "]}"
    status = coll.add_objects(body)
    assert status.status == "complete"
    assert (status.total_count, status.success_count, status.failure_count) == (2, 2, 0)
    assert {s["id"] for s in status.successes} == {first["id"], second["id"]}

    envelope = coll.get_objects()
    assert [o["id"] for o in envelope["objects"]] == [first["id"], second["id"]]
    response = httpx.get(
        f"{live}/taxii2/hub/collections/{world.collection_id}/objects/",
        headers={"Accept": TAXII, "Authorization": f"Bearer {world.tokens['alice']}"},
    )
    assert raw_second in response.text
    assert response.headers["content-type"] == TAXII
    assert "X-TAXII-Date-Added-First" in response.headers
    assert "X-TAXII-Date-Added-Last" in response.headers


def test_status_resource_is_kept(live: str, world: World) -> None:
    coll = _collection(live, world)
    status = coll.add_objects(f.envelope(f.indicator(), {"type": "indicator", "id": "nope"}))
    assert status.failure_count == 1
    root = ApiRoot(f"{live}/taxii2/hub/", auth=BearerAuth(world.tokens["alice"]))
    again = root.get_status(status.id)
    assert again.id == status.id
    assert again.failure_count == 1 and again.success_count == 1
    # Another user cannot read someone else's status.
    with pytest.raises(requests.HTTPError, match="404"):
        ApiRoot(f"{live}/taxii2/hub/", auth=BearerAuth(world.tokens["bob"])).get_status(status.id)


def test_bad_objects_are_rejected_one_by_one(live: str, world: World) -> None:
    good = f.indicator()
    bad_pattern = f.indicator(pattern="[ipv4-addr:value = '1.2.3.4'")
    bad_time = f.indicator(valid_from="2026-13-01T00:00:00Z")
    status = _collection(live, world).add_objects(f.envelope(good, bad_pattern, bad_time, 42))
    assert status.success_count == 1
    assert status.failure_count == 3
    reasons = {fail.get("id", ""): fail["message"] for fail in status.failures}
    assert "pattern" in reasons[bad_pattern["id"]]
    assert "valid_from" in reasons[bad_time["id"]]
    ids = [o["id"] for o in _collection(live, world).get_objects()["objects"]]
    assert ids == [good["id"]]


def test_same_id_and_modified_is_idempotent_and_new_modified_is_a_version(
    live: str, world: World
) -> None:
    coll = _collection(live, world)
    oid = f.stix_id()
    v1 = f.indicator(oid=oid, modified="2026-01-01T00:00:00.000Z")
    v2 = f.indicator(oid=oid, modified="2026-02-01T00:00:00.000Z", value="203.0.113.1")
    coll.add_objects(f.envelope(v1))
    coll.add_objects(f.envelope(v1))
    coll.add_objects(f.envelope(v2))
    versions = coll.object_versions(oid)["versions"]
    assert versions == ["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"]
    assert [o["modified"] for o in coll.get_object(oid)["objects"]] == [v2["modified"]]
    assert [o["modified"] for o in coll.get_object(oid, version="first")["objects"]] == [
        v1["modified"]
    ]
    assert len(coll.get_object(oid, version="all")["objects"]) == 2
    assert [
        o["modified"] for o in coll.get_object(oid, version="2026-01-01T00:00:00Z")["objects"]
    ] == [v1["modified"]]
    # An older version arriving late does not become the latest.
    v0 = f.indicator(oid=oid, created="2025-12-01T00:00:00.000Z")
    coll.add_objects(f.envelope(v0))
    assert [o["modified"] for o in coll.get_objects()["objects"]] == [v2["modified"]]
    assert [o["modified"] for o in coll.get_object(oid, version="first")["objects"]] == [
        v0["modified"]
    ]


def test_filters_by_id_type_spec_version_and_added_after(live: str, world: World) -> None:
    coll = _collection(live, world)
    ind = f.indicator()
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": f.stix_id("malware"),
        "created": "2026-01-01T00:00:00Z",
        "modified": "2026-01-01T00:00:00Z",
        "name": "FjordLock",
        "is_family": True,
    }
    coll.add_objects(f.envelope(ind))
    first_page = httpx.get(
        coll.objects_url,
        headers={"Accept": TAXII, "Authorization": f"Bearer {world.tokens['alice']}"},
    )
    marker = first_page.headers["X-TAXII-Date-Added-Last"]
    coll.add_objects(f.envelope(malware))

    assert [o["id"] for o in coll.get_objects(type="malware")["objects"]] == [malware["id"]]
    assert [o["id"] for o in coll.get_objects(id=ind["id"])["objects"]] == [ind["id"]]
    both = coll.get_objects(type="malware,indicator")["objects"]
    assert {o["id"] for o in both} == {ind["id"], malware["id"]}
    assert [o["id"] for o in coll.get_objects(added_after=marker)["objects"]] == [malware["id"]]
    assert len(coll.get_objects(spec_version="2.1")["objects"]) == 2
    assert "objects" not in coll.get_objects(spec_version="2.0")
    manifest = coll.get_manifest(added_after=marker)["objects"]
    assert [(m["id"], m["version"]) for m in manifest] == [(malware["id"], malware["modified"])]


def test_paging_with_limit_and_next_visits_every_object_once(live: str, world: World) -> None:
    coll = _collection(live, world)
    sent = [f.indicator(value=f"198.51.100.{i}") for i in range(1, 38)]
    coll.add_objects(f.envelope(*sent))
    seen = [
        o["id"]
        for page in as_pages(coll.get_objects, per_request=10)
        for o in page.get("objects", [])
    ]
    assert seen == [o["id"] for o in sent]
    first = coll.get_objects(limit=10)
    assert first["more"] is True and first["next"]


def test_next_cursor_survives_a_restart(live: str, world: World, hub: object) -> None:
    from varsel.api.app import create_app

    coll = _collection(live, world)
    coll.add_objects(f.envelope(*[f.indicator(value=f"198.51.100.{i}") for i in range(5)]))
    page = coll.get_objects(limit=2)
    # A second application instance (another worker, or the same hub restarted) takes the
    # cursor the first one issued.
    other = create_app(hub.settings)  # type: ignore[attr-defined]
    from fastapi.testclient import TestClient

    with TestClient(other) as client:
        response = client.get(
            f"/taxii2/hub/collections/{world.collection_id}/objects/",
            params={"limit": 10, "next": page["next"]},
            headers={"Accept": TAXII, "Authorization": f"Bearer {world.tokens['alice']}"},
        )
    assert response.status_code == 200
    assert len(response.json()["objects"]) == 3
    other.state.engine.dispose()


def test_delete_object_and_versions(live: str, world: World) -> None:
    coll = _collection(live, world)
    oid = f.stix_id()
    coll.add_objects(
        f.envelope(
            f.indicator(oid=oid, modified="2026-01-01T00:00:00.000Z"),
            f.indicator(oid=oid, modified="2026-03-01T00:00:00.000Z"),
        )
    )
    coll.delete_object(oid, version="2026-03-01T00:00:00.000Z")
    assert coll.object_versions(oid)["versions"] == ["2026-01-01T00:00:00.000Z"]
    # The remaining version is now the latest.
    assert len(coll.get_objects()["objects"]) == 1
    # Bob (same community, other organisation) may read but not delete Alice's object.
    with pytest.raises(requests.HTTPError, match="404"):
        _collection(live, world, "bob").delete_object(oid)
    coll.delete_object(oid)
    with pytest.raises(requests.HTTPError, match="404"):
        coll.get_object(oid)


def _call(live: str, method: str, path: str, token: str | None, **kwargs: object) -> httpx.Response:
    headers = {"Accept": TAXII, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.request(method, f"{live}{path}", headers=headers, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no-auth", 401),
        ("bad-token", 401),
        ("wrong-accept", 406),
        ("wrong-content-type", 415),
        ("too-large", 413),
        ("malformed-json", 400),
        ("unknown-collection", 404),
        ("outsider-writes", 403),
        ("bad-limit", 400),
        ("bad-added-after", 400),
        ("forged-next", 400),
        ("unknown-object", 404),
        ("unknown-status", 404),
        ("objects-not-a-list", 400),
        ("nul-in-url", 400),
    ],
)
def test_errors_are_taxii_error_resources(live: str, world: World, case: str, status: int) -> None:
    base = f"/taxii2/hub/collections/{world.collection_id}"
    alice = world.tokens["alice"]
    post = {"headers": {"Content-Type": TAXII}}
    calls = {
        "no-auth": lambda: _call(live, "GET", f"{base}/objects/", None),
        "bad-token": lambda: _call(live, "GET", f"{base}/objects/", "vs_not-a-token"),
        "wrong-accept": lambda: _call(
            live, "GET", f"{base}/objects/", alice, headers={"Accept": "application/xml"}
        ),
        "wrong-content-type": lambda: _call(
            live,
            "POST",
            f"{base}/objects/",
            alice,
            headers={"Content-Type": "application/json"},
            content=f.envelope(f.indicator()),
        ),
        "too-large": lambda: _call(
            live,
            "POST",
            f"{base}/objects/",
            alice,
            content='{"objects": [' + " " * (3 * 1024 * 1024) + "]}",
            **post,
        ),
        "malformed-json": lambda: _call(
            live, "POST", f"{base}/objects/", alice, content='{"objects": [{"type": ', **post
        ),
        "unknown-collection": lambda: _call(
            live, "GET", "/taxii2/hub/collections/nope/objects/", alice
        ),
        "outsider-writes": lambda: _call(
            live,
            "POST",
            f"{base}/objects/",
            world.tokens["carol"],
            content=f.envelope(f.indicator()),
            **post,
        ),
        "bad-limit": lambda: _call(live, "GET", f"{base}/objects/?limit=zero", alice),
        "bad-added-after": lambda: _call(
            live, "GET", f"{base}/objects/?added_after=yesterday", alice
        ),
        "forged-next": lambda: _call(
            live, "GET", f"{base}/objects/?next=AAAAAAAAAAAAAAAAAAAAAA", alice
        ),
        "unknown-object": lambda: _call(live, "GET", f"{base}/objects/{f.stix_id()}/", alice),
        "unknown-status": lambda: _call(live, "GET", "/taxii2/hub/status/nope/", alice),
        "objects-not-a-list": lambda: _call(
            live, "POST", f"{base}/objects/", alice, content='{"objects": {"a": 1}}', **post
        ),
    }
    calls["nul-in-url"] = lambda: _call(live, "GET", f"{base}/objects/?match[id]=a%00b", alice)
    response = calls[case]()
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII
    body = response.json()
    assert body["http_status"] == str(status)
    assert body["title"] and body["description"]


def test_nothing_is_half_written_when_the_body_is_malformed(live: str, world: World) -> None:
    coll = _collection(live, world)
    text = f.envelope(f.indicator())[:-3]
    response = _call(
        live,
        "POST",
        f"/taxii2/hub/collections/{world.collection_id}/objects/",
        world.tokens["alice"],
        headers={"Content-Type": TAXII},
        content=text,
    )
    assert response.status_code == 400
    assert "objects" not in coll.get_objects()


def test_nul_characters_never_reach_the_database(live: str, world: World) -> None:
    coll = _collection(live, world)
    named = f.indicator(name="evil\u0000name")
    red = f.indicator(tlp=TLP.RED, recipients=["Svea\u0000"])
    status = coll.add_objects(f.envelope(named, red))
    assert status.success_count == 1
    assert "unknown recipient" in status.failures[0]["message"]
    assert coll.get_object(named["id"])["objects"][0]["name"] == "evil\u0000name"


def test_tlp_red_needs_named_recipients(live: str, world: World) -> None:
    coll = _collection(live, world)
    unnamed = f.indicator(tlp=TLP.RED)
    named = f.indicator(tlp=TLP.RED, recipients=["Svea"])
    status = coll.add_objects(f.envelope(unnamed, named))
    assert status.success_count == 1
    assert "recipients" in status.failures[0]["message"]
    assert [o["id"] for o in _collection(live, world, "bob").get_objects()["objects"]] == [
        named["id"]
    ]
    # Envelope-level recipients apply to RED objects without their own.
    other = f.indicator(tlp=TLP.RED)
    coll.add_objects(f.envelope(other, x_varsel_recipients=["user:bob"]))
    assert {o["id"] for o in _collection(live, world, "bob").get_objects()["objects"]} == {
        named["id"],
        other["id"],
    }
    unknown = coll.add_objects(f.envelope(f.indicator(tlp=TLP.RED, recipients=["Nobody AS"])))
    assert "unknown recipient" in unknown.failures[0]["message"]


def test_role_and_membership_changes_reach_the_next_request_of_a_token(
    live: str, world: World, hub: Hub
) -> None:
    # The same token over the same kept-alive connection: nothing about the caller may be
    # remembered from one request to the next (the policy's SQL is memoised per role).
    with hub.session() as s:
        admins = f.collection(s, "Admins only", "Nordic", read_roles=["org-admin"])
        s.commit()
    url = f"{live}/taxii2/hub/collections/{admins.id}/"
    Collection(url, auth=BearerAuth(world.tokens["alice"])).add_objects(
        f.envelope(amber := f.indicator(tlp=TLP.AMBER))
    )
    bob = Collection(url, auth=BearerAuth(world.tokens["bob"]))
    assert "objects" not in bob.get_objects()

    def change(action: str) -> None:
        with hub.session() as s:
            if action == "remove":
                orgs.remove_member(session=s, community="Nordic", org="Svea", actor="test")
            else:
                orgs.set_role(session=s, username="bob", role=action, actor="test")
            s.commit()

    change("org-admin")
    assert [o["id"] for o in bob.get_objects()["objects"]] == [amber["id"]]
    assert bob.get_object(amber["id"])["objects"][0]["id"] == amber["id"]
    change("analyst")
    assert "objects" not in bob.get_objects()
    change("org-admin")
    change("remove")
    assert "objects" not in bob.get_objects()
