"""Exports narrowed by TLP, collection and age, on the web page and the sensors' API URLs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, sign_in
from varsel.clock import now_us
from varsel.matching import exports
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP

DAY_US = 86_400_000_000


@pytest.fixture(autouse=True)
def _fresh_exports() -> Iterator[None]:
    exports.cache_clear()
    yield
    exports.cache_clear()


def _share(hub: Hub, username: str, collection_id: str, *objects: dict[str, Any]) -> None:
    with hub.session() as s:
        result = ingesting.ingest(
            session=s,
            collection=sharing.get_collection(session=s, collection_id=collection_id),
            principal=f.principal(s, username),
            body=f.envelope(*objects),
        )
        s.commit()
    assert not result.failures, result.failures


@pytest.fixture
def spread(hub: Hub, world: World) -> dict[str, Any]:
    """Four indicators alice may read: CLEAR, GREEN, AMBER (one 40 days old) in two collections."""
    with hub.session() as s:
        second = f.collection(s, "Phishing", "Nordic", default_tlp="green", alias="phishing").id
        s.commit()
    clear = f.indicator(value="198.51.100.1", tlp=TLP.CLEAR)
    green = f.indicator(value="198.51.100.2", tlp=TLP.GREEN)
    amber = f.indicator(value="198.51.100.3", tlp=TLP.AMBER)
    old = f.indicator(value="198.51.100.4", tlp=TLP.AMBER)
    _share(hub, "alice", world.collection_id, clear, amber, old)
    _share(hub, "bob", second, green)
    with hub.session() as s:
        s.execute(
            update(StixObject)
            .where(StixObject.stix_id == old["id"])
            .values(date_added_us=now_us() - 40 * DAY_US)
        )
        s.commit()
    return {"second": second}


def _plain(client: TestClient, url: str, **params: Any) -> list[str]:
    response = client.get(url, params={"type": "ip", **params})
    assert response.status_code == 200, response.text
    return sorted(response.text.splitlines())


def test_the_api_export_takes_tlp_collection_and_age(
    hub: Hub, world: World, spread: dict[str, Any]
) -> None:
    with TestClient(hub.app) as client:
        client.headers["Authorization"] = f"Bearer {world.tokens['alice']}"
        url = "/api/v1/exports/plain"
        every = _plain(client, url)
        assert every == [f"198.51.100.{i}" for i in (1, 2, 3, 4)]
        assert _plain(client, url, tlp="amber") == ["198.51.100.3", "198.51.100.4"]
        assert _plain(client, url, tlp="clear,green") == ["198.51.100.1", "198.51.100.2"]
        assert _plain(client, url, tlp=["clear", "green"]) == ["198.51.100.1", "198.51.100.2"]
        assert _plain(client, url, collection="phishing") == ["198.51.100.2"]
        assert _plain(client, url, collection=spread["second"]) == ["198.51.100.2"]
        assert _plain(client, url, max_age="30d") == [
            "198.51.100.1",
            "198.51.100.2",
            "198.51.100.3",
        ]
        assert _plain(client, url, since="2000-01-01") == every
        assert _plain(client, url, tlp="amber", max_age="30d") == ["198.51.100.3"]
        # ETags: a filtered export has its own, and it still answers 304 when unchanged.
        full = client.get(url, params={"type": "ip"})
        narrow = client.get(url, params={"type": "ip", "tlp": "amber"})
        assert full.headers["etag"] != narrow.headers["etag"]
        again = client.get(
            url,
            params={"type": "ip", "tlp": "amber"},
            headers={"If-None-Match": narrow.headers["etag"]},
        )
        assert again.status_code == 304
        # A new AMBER indicator changes the AMBER export's ETag, not a CLEAR one's.
        clear_tag = client.get(url, params={"type": "ip", "tlp": "clear"}).headers["etag"]
        _share(hub, "alice", world.collection_id, f.indicator(value="198.51.100.9", tlp=TLP.AMBER))
        changed = client.get(
            url,
            params={"type": "ip", "tlp": "amber"},
            headers={"If-None-Match": narrow.headers["etag"]},
        )
        assert changed.status_code == 200
        assert "198.51.100.9" in changed.text
        same = client.get(
            url, params={"type": "ip", "tlp": "clear"}, headers={"If-None-Match": clear_tag}
        )
        assert same.status_code == 304
        # Bad filters are refused with a reason, never a 500 and never an empty export.
        assert client.get(url, params={"tlp": "purple"}).status_code == 400
        assert client.get(url, params={"max_age": "forever"}).status_code == 400
        assert client.get(url, params={"since": "yesterday"}).status_code == 400
        assert client.get(url, params={"collection": "no-such"}).status_code == 404


def test_a_collection_i_may_not_see_is_not_found(hub: Hub, world: World) -> None:
    with hub.session() as s:
        f.community(s, "Atlantic", ["Outsider"])
        hidden = f.collection(s, "Atlantic feed", "Atlantic", default_tlp="green").id
        s.commit()
    with TestClient(hub.app) as client:
        client.headers["Authorization"] = f"Bearer {world.tokens['alice']}"
        response = client.get("/api/v1/exports/plain", params={"collection": hidden})
        assert response.status_code == 404
        unknown = client.get("/api/v1/exports/plain", params={"collection": "nothing-here"})
        assert response.json()["detail"].replace(hidden, "X") == unknown.json()["detail"].replace(
            "nothing-here", "X"
        )


def test_the_web_export_page_filters_and_shows_the_sensor_url(
    hub: Hub, world: World, spread: dict[str, Any]
) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        page = client.get("/exports")
        assert page.status_code == 200
        assert 'name="tlp" value="amber"' in page.text
        assert 'name="max_age"' in page.text
        assert '<details class="filters-fold" id="export-filters">' in page.text
        chosen = client.get(
            "/exports", params={"format": "plain", "type": "ip", "tlp": "amber", "max_age": "30d"}
        )
        assert '<details class="filters-fold" id="export-filters" open>' in chosen.text
        assert "api/v1/exports/plain?type=ip&amp;tlp=amber&amp;max_age=30d" in chosen.text
        body = _plain(client, "/exports/download", format="plain", tlp="amber", max_age="30d")
        assert body == ["198.51.100.3"]
        assert _plain(client, "/exports/download", format="plain", collection="phishing") == [
            "198.51.100.2"
        ]
        download = client.get(
            "/exports/download", params={"format": "plain", "type": "ip", "tlp": "amber"}
        )
        unchanged = client.get(
            "/exports/download",
            params={"format": "plain", "type": "ip", "tlp": "amber"},
            headers={"If-None-Match": download.headers["etag"]},
        )
        assert unchanged.status_code == 304
        # A bad filter re-renders the page with the choices kept and the reason shown.
        bad = client.get(
            "/exports/download", params={"format": "csv", "tlp": "amber", "max_age": "soon"}
        )
        assert bad.status_code == 400
        assert "max_age" in bad.text
        assert 'value="amber" checked' in bad.text
        assert '<option value="soon" selected>' in bad.text
