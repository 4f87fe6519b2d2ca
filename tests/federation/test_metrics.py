"""/metrics: Prometheus text read from the database at scrape time, for hub-admins' tokens only."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import update

from tests import factories as f
from tests.conftest import Hub
from tests.federation import _ops_world
from tests.federation._ops_world import HUB_B, OpsWorld
from varsel.federation import queries
from varsel.federation.models import PeerLink
from varsel.provenance import keys


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    with TestClient(hub.app) as c:
        yield c


@pytest.fixture
def world(hub: Hub) -> OpsWorld:
    with hub.session() as s:
        built = _ops_world.build(s)
        s.commit()
        return built


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _one(samples: list[Sample], name: str, **labels: str) -> float:
    found = [
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_anonymous_and_bad_tokens_get_401(client: TestClient, world: OpsWorld) -> None:
    for headers in ({}, _bearer("vs_not-a-token"), {"Authorization": "Token abc"}):
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 401, headers
        assert "Bearer" in answer.headers["www-authenticate"]
        assert "varsel_federation" not in answer.text


def test_a_password_is_refused_even_a_hub_admins(client: TestClient, world: OpsWorld) -> None:
    basic = base64.b64encode(f"root:{f.PASSWORD}".encode()).decode()
    answer = client.get("/metrics", headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 401
    assert "varsel_federation" not in answer.text


@pytest.mark.parametrize("who", ["alice", "bob", "peer-b"])
def test_other_roles_and_peer_hubs_get_403(client: TestClient, world: OpsWorld, who: str) -> None:
    answer = client.get("/metrics", headers=_bearer(world.tokens[who]))
    assert answer.status_code == 403
    assert "varsel_federation" not in answer.text


def test_a_peer_hubs_user_is_refused_even_as_hub_admin(hub: Hub, client: TestClient) -> None:
    with hub.session() as s:
        f.org(s, "hub-x", "SE", kind="hub")
        f.user(s, "x-admin", "hub-x", role="hub-admin", password=None)
        token = f.token(s, "x-admin")
        s.commit()
    assert client.get("/metrics", headers=_bearer(token)).status_code == 403


def test_an_empty_hub_answers_parseable_text(hub: Hub, client: TestClient) -> None:
    with hub.session() as s:
        f.org(s, "Ops", "NO")
        f.user(s, "root", "Ops", role="hub-admin", password=None)
        token = f.token(s, "root")
        s.commit()
    answer = client.get("/metrics", headers=_bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples = _samples(answer.text)
    assert _one(samples, "varsel_objects_stored") == 0
    assert _one(samples, "varsel_federation_peers") == 0
    assert _one(samples, "varsel_hub_info", hub=hub.settings.hub_name) == 1
    assert not [s for s in samples if s.name.startswith("varsel_federation_link_")]


def test_links_peers_refusals_and_pending_tombstones(client: TestClient, world: OpsWorld) -> None:
    answer = client.get("/metrics", headers=_bearer(world.tokens["root"]))
    assert answer.status_code == 200, answer.text
    samples = _samples(answer.text)
    link = {
        "peer": "hub-a",
        "link": str(world.link_id),
        "local_collection": world.collection_id,
        "direction": "pull",
    }
    idle = {**link, "link": str(world.idle_link_id), "direction": "push"}
    assert _one(samples, "varsel_federation_link_lag_objects", **link) == 42
    assert _one(samples, "varsel_federation_link_lag_seconds", **link) == 12.5
    assert _one(samples, "varsel_federation_link_received_objects_total", **link) == 120
    assert _one(samples, "varsel_federation_link_duplicate_objects_total", **link) == 7
    assert _one(samples, "varsel_federation_link_refused_objects_total", **link) == 2
    assert _one(samples, "varsel_federation_link_tombstones_applied_total", **link) == 3
    assert _one(samples, "varsel_federation_link_sent_objects_total", **idle) == 5
    assert _one(samples, "varsel_federation_link_state", **link, state="backoff") == 1
    assert _one(samples, "varsel_federation_link_state", **idle, state="new") == 1
    assert _one(
        samples, "varsel_federation_link_last_success_timestamp_seconds", **link
    ) == pytest.approx(world.last_success.replace(tzinfo=UTC).timestamp())
    # Never measured: absent, not a zero that would read as "caught up".
    assert not [
        s
        for s in samples
        if s.name == "varsel_federation_link_lag_objects" and s.labels["link"] == idle["link"]
    ]
    # hub-b acknowledged position 150 of tombstones at 100, 200 and 300.
    assert _one(samples, "varsel_federation_pending_tombstones", peer=HUB_B) == 2
    assert _one(samples, "varsel_federation_pending_tombstones", peer="hub-a") == 1
    assert _one(samples, "varsel_federation_pending_tombstones", peer="hub-c") == 0
    assert _one(samples, "varsel_federation_pending_tombstones_oldest_seconds", peer=HUB_B) > 200
    assert _one(samples, "varsel_federation_refusals_total", peer="hub-a") == 4
    assert _one(samples, "varsel_federation_peers") == 1
    assert _one(samples, "varsel_federation_tombstones_stored") == 4
    assert _one(samples, "varsel_federation_worker_lease_held", holder="host-1:4242") == 1


def test_every_scrape_reads_the_database_afresh(
    hub: Hub, client: TestClient, world: OpsWorld
) -> None:
    headers = _bearer(world.tokens["root"])
    before = _samples(client.get("/metrics", headers=headers).text)
    assert _one(before, "varsel_federation_link_lag_objects", link=str(world.link_id)) == 42
    with hub.session() as s:
        s.execute(update(PeerLink).where(PeerLink.id == world.link_id).values(lag_objects=0))
        s.commit()
    after = _samples(client.get("/metrics", headers=headers).text)
    assert _one(after, "varsel_federation_link_lag_objects", link=str(world.link_id)) == 0


def test_the_overview_reads_the_key_and_never_makes_one(hub: Hub, tmp_path: Path) -> None:
    settings = dataclasses.replace(hub.settings, data_dir=tmp_path, hub_name="hub-q")
    with hub.session() as s:
        empty = queries.overview(session=s, settings=settings)
        assert (empty.public_key, empty.key_problem) == (None, None)
        assert not keys.key_path(tmp_path).exists()
        keys.create(tmp_path)
        keys.key_path(tmp_path).chmod(0o644)
        loose = queries.overview(session=s, settings=settings)
        assert loose.public_key is None and "chmod 600" in (loose.key_problem or "")
        keys.key_path(tmp_path).chmod(0o600)
        good = queries.overview(session=s, settings=settings)
    assert good.public_key == keys.load(tmp_path, "hub-q").public
    assert good.public_fingerprint == queries.fingerprint(good.public_key)
    assert good.hub_name == "hub-q"


def test_a_scrape_over_real_http(live: str, world: OpsWorld) -> None:
    """As Prometheus scrapes: a GET with the token over a socket, text it can parse."""
    answer = httpx.get(f"{live}/metrics", headers=_bearer(world.tokens["root"]), timeout=10)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    samples = _samples(answer.text)
    assert _one(samples, "varsel_federation_link_lag_objects", link=str(world.link_id)) == 42
    assert httpx.get(f"{live}/metrics", timeout=10).status_code == 401


def test_a_push_the_peer_accepted_acknowledges_its_tombstones(
    hub: Hub, client: TestClient, world: OpsWorld
) -> None:
    """hub-a is pushed the collection (link 2): a push_position past its tombstone acks it."""
    headers = _bearer(world.tokens["root"])

    def pending_at_hub_a(push_position: int) -> float:
        with hub.session() as s:
            s.execute(
                update(PeerLink)
                .where(PeerLink.id == world.idle_link_id)
                .values(push_position=push_position)
            )
            s.commit()
        samples = _samples(client.get("/metrics", headers=headers).text)
        return _one(samples, "varsel_federation_pending_tombstones", peer="hub-a")

    assert pending_at_hub_a(350) == 1  # its tombstone is at 400
    assert pending_at_hub_a(400) == 0
    # A pull link does not acknowledge anything for the peer it pulls from.
    with hub.session() as s:
        idle = update(PeerLink).where(PeerLink.id == world.idle_link_id)
        s.execute(idle.values(direction="pull"))
        s.commit()
    samples = _samples(client.get("/metrics", headers=headers).text)
    assert _one(samples, "varsel_federation_pending_tombstones", peer="hub-a") == 1
