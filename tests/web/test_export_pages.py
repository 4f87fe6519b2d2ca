"""The exports page and download, and community sighting aggregates on an indicator's page."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, sign_in
from varsel.config import Settings
from varsel.matching import exports
from varsel.orgs import service as orgs
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.tlp import TLP


@pytest.fixture(autouse=True)
def _fresh_exports() -> Iterator[None]:
    # Exports are cached per principal; ids repeat once the database has been emptied.
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


def _outsiders(hub: Hub) -> str:
    """Return a collection only carol's organisation can read."""
    with hub.session() as s:
        f.community(s, "Atlantic", ["Outsider"])
        coll = f.collection(s, "Atlantic feed", "Atlantic", default_tlp="green")
        s.commit()
        return coll.id


def test_the_download_holds_only_what_i_may_read(hub: Hub, world: World) -> None:
    mine = f.indicator(value="198.51.100.1", name="Mine")
    bobs = f.indicator(value="198.51.100.2", name="Bob's")
    red_for_svea = f.indicator(value="198.51.100.3", tlp=TLP.RED, recipients=["Svea"])
    _share(hub, "alice", world.collection_id, mine)
    _share(hub, "bob", world.collection_id, bobs, red_for_svea)
    carols = f.indicator(value="198.51.100.4")
    _share(hub, "carol", _outsiders(hub), carols)
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        response = client.get("/exports/download", params={"format": "plain", "type": "ip"})
        assert response.status_code == 200
        assert response.text.splitlines() == ["198.51.100.1", "198.51.100.2"]
        assert response.headers["content-type"].startswith("text/plain")
        assert (
            response.headers["content-disposition"] == 'attachment; filename="varsel-plain-ip.txt"'
        )
        assert response.headers["etag"].startswith('"')
        assert response.headers["x-content-type-options"] == "nosniff"
        table = client.get("/exports/download", params={"format": "csv"})
        ids = {row["indicator_id"] for row in csv.DictReader(io.StringIO(table.text))}
        assert ids == {mine["id"], bobs["id"]}
        bundle = client.get("/exports/download", params={"format": "stix"})
        assert bundle.headers["content-type"].startswith("application/stix+json")
        assert {o["id"] for o in bundle.json()["objects"]} == {mine["id"], bobs["id"]}
    # Bob, a recipient of the TLP:RED indicator, gets it; carol gets only her own.
    with TestClient(hub.app) as client:
        sign_in(client, "bob")
        text = client.get("/exports/download", params={"format": "plain"}).text
        assert "198.51.100.3" in text and "198.51.100.4" not in text
    with TestClient(hub.app) as client:
        sign_in(client, "carol")
        assert client.get("/exports/download?format=plain").text == "198.51.100.4\n"


def test_an_unchanged_export_answers_304(hub: Hub, world: World) -> None:
    _share(hub, "alice", world.collection_id, f.indicator(value="198.51.100.1"))
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        url = "/exports/download?format=suricata"
        first = client.get(url)
        etag = first.headers["etag"]
        assert "alert ip" in first.text and "198.51.100.1" in first.text
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        assert client.get(url, headers={"If-None-Match": f"W/{etag}"}).status_code == 304
        assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
        _share(hub, "bob", world.collection_id, f.indicator(value="198.51.100.9"))
        changed = client.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and "198.51.100.9" in changed.text
        assert changed.headers["etag"] != etag


BAD_CHOICES: list[tuple[dict[str, Any], str]] = [
    ({"format": "snort"}, "unknown export format &#39;snort&#39;"),
    ({"format": "plain", "type": "mac"}, "unknown export type &#39;mac&#39;"),
    ({"format": "suricata-dataset", "type": ["ip", "domain"]}, "holds one type"),
    ({"format": "suricata-dataset"}, "holds one type"),
]


def test_bad_choices_get_the_form_back_with_400(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        for params, message in BAD_CHOICES:
            response = client.get("/exports/download", params=params)
            assert response.status_code == 400, params
            assert response.headers["content-type"].startswith("text/html")
            assert message in response.text
            assert 'id="export-form"' in response.text
            assert "content-disposition" not in response.headers
        # The form keeps what was chosen.
        kept = client.get("/exports/download", params={"format": "zeek", "type": "mac"})
        assert 'value="zeek" checked' in kept.text


def test_the_page_offers_every_format_and_type(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        page = client.get("/exports")
    assert page.status_code == 200
    for fmt in exports.FORMATS:
        assert f'name="format" value="{fmt}"' in page.text
    for name in exports.TYPES:
        assert f'name="type" value="{name}"' in page.text
    assert "A Suricata dataset holds exactly one type" in page.text
    assert '<a href="/exports" aria-current="page">Exports</a>' in page.text


def test_signed_out_visitors_are_sent_to_sign_in(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        for path in ("/exports", "/exports/download?format=plain"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login?next=%2Fexports")


def _sighting(indicator_id: str, day: str) -> dict[str, Any]:
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f.stix_id("sighting"),
        "created": f"{day}T10:00:00.000Z",
        "modified": f"{day}T10:00:00.000Z",
        "sighting_of_ref": indicator_id,
        "count": 1,
        "first_seen": f"{day}T09:00:00Z",
        "last_seen": f"{day}T09:30:00Z",
        "where_sighted_refs": [f.stix_id("identity")],
    }


def test_an_indicator_page_shows_sightings_only_from_k_organisations(
    hub: Hub, world: World, configure: Callable[..., Settings]
) -> None:
    configure(sighting_k=2)
    with hub.session() as s:
        f.org(s, "Dansk", "DK")
        f.user(s, "dag", "Dansk", password=None)
        orgs.add_member(session=s, community="Nordic", org="Dansk", actor="test")
        for name in ("Fjordnett", "Svea", "Dansk"):
            orgs.vouch_org(session=s, name=name, actor="test")
        s.commit()
    target = f.indicator(value="198.51.100.1")
    _share(hub, "alice", world.collection_id, target)
    first = _sighting(target["id"], "2026-03-01")
    _share(hub, "bob", world.collection_id, first)
    # Alice's own sighting does not count: what she is shown is what others saw.
    _share(hub, "alice", world.collection_id, _sighting(target["id"], "2026-03-02"))
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        page = client.get(f"/objects/{target['id']}")
        assert page.status_code == 200
        # One organisation's sighting alone would name it: no aggregate, and a plain note.
        assert "Sighted by" not in page.text and 'id="few-sightings"' in page.text
        _share(hub, "dag", world.collection_id, _sighting(target["id"], "2026-03-04"))
        page = client.get(f"/objects/{target['id']}")
        assert 'id="few-sightings"' not in page.text
        assert (
            "Sighted by 2 other organisations in 2 countries, first in week 2026-W09 and last"
            " in week 2026-W10" in page.text
        )
        assert "at least 2 organisations other than yours" in page.text
        # Objects other than indicators have no community figures.
        other = client.get(f"/objects/{first['id']}")
        assert other.status_code == 200 and "The community" not in other.text
