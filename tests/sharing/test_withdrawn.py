"""Withdrawn is withdrawn: once the latest version is not yours to read, no older one is.

Issue 12, item 11, on every path that reads older versions: REST ``/api/v1/objects/{id}``, the
web object page, and TAXII ``match[version]=first|all``, Get Object Versions and the manifest.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.factories import TAXII
from tests.sharing.conftest import World
from tests.web.conftest import sign_in
from varsel.sharing.tlp import TLP

V1, V2, V3 = "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"


def _taxii(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}", "Accept": TAXII, "Content-Type": TAXII}


def _share(client: TestClient, world: World, who: str, obj: dict[str, Any]) -> None:
    response = client.post(
        f"/taxii2/hub/collections/{world.collection_id}/objects/",
        content=f.envelope(obj),
        headers=_taxii(world, who),
    )
    assert response.status_code == 202 and response.json()["success_count"] == 1, response.text


def _withdrawn_from_bob(client: TestClient, world: World) -> str:
    """Share an AMBER object the community reads, then re-mark it RED for Fjordnett alone."""
    amber = f.indicator(modified=V1)
    _share(client, world, "alice", amber)
    _share(
        client,
        world,
        "alice",
        {**amber, "modified": V2, "object_marking_refs": [TLP.RED.stix_id]}
        | {"x_varsel_recipients": ["Fjordnett"]},
    )
    return str(amber["id"])


def _taxii_modified(
    client: TestClient, world: World, who: str, path: str, version: str
) -> tuple[int, list[str]]:
    base = f"/taxii2/hub/collections/{world.collection_id}"
    response = client.get(
        f"{base}/{path}", params={"match[version]": version}, headers=_taxii(world, who)
    )
    if response.status_code != 200:
        return response.status_code, []
    body = response.json()
    found = body.get("objects", []) if "versions" not in body else body["versions"]
    return 200, [o if isinstance(o, str) else o.get("modified", o.get("version")) for o in found]


@pytest.mark.parametrize("version", ["first", "all", V1])
def test_taxii_serves_no_older_version_of_a_withdrawn_object(
    hub: Hub, world: World, version: str
) -> None:
    with TestClient(hub.app) as client:
        oid = _withdrawn_from_bob(client, world)
        assert _taxii_modified(client, world, "bob", f"objects/{oid}/", version) == (404, [])
        listed = _taxii_modified(client, world, "bob", "objects/", version)
        assert listed == (200, [])
        manifest = client.get(
            f"/taxii2/hub/collections/{world.collection_id}/manifest/",
            params={"match[version]": version},
            headers=_taxii(world, "bob"),
        )
        assert manifest.status_code == 200 and "objects" not in manifest.json()
        # The producer still reads its whole history.
        status, mine = _taxii_modified(client, world, "alice", f"objects/{oid}/", version)
        assert status == 200 and V1 in mine


def test_taxii_versions_endpoint_hides_a_withdrawn_object(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        oid = _withdrawn_from_bob(client, world)
        response = client.get(
            f"/taxii2/hub/collections/{world.collection_id}/objects/{oid}/versions/",
            headers=_taxii(world, "bob"),
        )
        assert response.status_code == 404
        mine = client.get(
            f"/taxii2/hub/collections/{world.collection_id}/objects/{oid}/versions/",
            headers=_taxii(world, "alice"),
        )
        assert mine.json()["versions"] == [V1, V2]


def test_rest_and_web_object_pages_hide_a_withdrawn_object(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        oid = _withdrawn_from_bob(client, world)
        auth = {"Authorization": f"Bearer {world.tokens['bob']}"}
        assert client.get(f"/api/v1/objects/{oid}", headers=auth).status_code == 404
        sign_in(client, "bob")
        page = client.get(f"/objects/{oid}")
        assert page.status_code == 404
        assert "Bad address" not in page.text
    with TestClient(hub.app) as client:
        auth = {"Authorization": f"Bearer {world.tokens['alice']}"}
        versions = client.get(f"/api/v1/objects/{oid}", headers=auth).json()["versions"]
        assert [v["tlp"] for v in versions] == ["amber", "red"]


def test_a_version_readable_again_brings_back_the_readable_history(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        oid = _withdrawn_from_bob(client, world)
        _share(client, world, "alice", f.indicator(oid=oid, modified=V3))
        status, seen = _taxii_modified(client, world, "bob", f"objects/{oid}/", "all")
        # The RED version stays Fjordnett's; the AMBER ones are the community's again.
        assert (status, seen) == (200, [V1, V3])
