"""The Federation page: hub-admins only, every number from the tables, every name escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from tests import factories as f
from tests.conftest import Hub
from tests.federation import _ops_world
from tests.federation._ops_world import HUB_B, KEY_A, OpsWorld
from tests.web.conftest import sign_in
from varsel.federation.queries import fingerprint
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


def _esc(text: str) -> str:
    return str(escape(text))


def _row(page: str, attribute: str, value: str) -> str:
    match = re.search(rf'<tr {attribute}="{re.escape(value)}">(.*?)</tr>', page, re.S)
    assert match, f"no row {attribute}={value}"
    return match.group(1)


def test_a_hub_admin_sees_key_peers_links_and_pending(
    hub: Hub, client: TestClient, world: OpsWorld
) -> None:
    keys.create(hub.settings.data_dir)
    public = keys.current(hub.settings.data_dir, hub.settings.hub_name).public
    sign_in(client, "root")
    page = client.get("/admin/federation")
    assert page.status_code == 200
    text = page.text
    # This hub's name and its key in a read-only field to copy, with the fingerprint.
    assert f'<code id="hub-name">{_esc(hub.settings.hub_name)}</code>' in text
    assert f'<input id="hub-key" class="mono" readonly value="{public}"' in text
    assert fingerprint(public) in text
    assert fingerprint(KEY_A) in text  # the pinned key of the peer
    assert "host-1:4242" in text  # the worker's lease
    link = _row(text, "data-link", str(world.link_id))
    for shown in ("hub-a", "backoff", "42", "12.5", "120 received", "7 duplicates", "tampered"):
        assert shown in link, shown
    assert world.last_success.strftime("%Y-%m-%d %H:%M:%S") in link
    # The newest three refusals of the link, not the oldest; the unlinked one separately.
    assert "invalid STIX" in link and "forged: bad seal" in link
    assert "pushed junk" not in link and "pushed junk" in text
    idle = _row(text, "data-link", str(world.idle_link_id))
    assert "5 sent" in idle and "—" in idle
    # Two of hub-b's three tombstones are beyond the position it acknowledged.
    inbound = _row(text, "data-hub", _esc(HUB_B))
    assert '<td class="pending">2</td>' in inbound
    assert world.collection_title not in inbound  # escaped, see below
    assert _esc(world.collection_title) in inbound
    assert _row(text, "data-hub", "hub-c").count('<td class="pending">0</td>') == 1
    # The lag chart draws the measured link only.
    assert 'id="lag-chart"' in text and "<svg" in text


def test_names_errors_and_urls_are_escaped(client: TestClient, world: OpsWorld) -> None:
    sign_in(client, "root")
    text = client.get("/admin/federation").text
    for raw in ("<script>alert(1)</script>", "<img src=x>", "<b>bold</b>", "?x=<script>"):
        assert raw not in text, raw
    assert _esc("<script>alert(1)</script>") in text
    assert _esc("connection refused <img src=x>") in text
    assert _esc(HUB_B) in text


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_others_are_refused(client: TestClient, world: OpsWorld, who: str) -> None:
    sign_in(client, who)
    page = client.get("/admin/federation")
    assert page.status_code == 403
    assert "hub-a.example" not in page.text


def test_a_peer_hubs_user_is_refused_even_as_hub_admin(hub: Hub, client: TestClient) -> None:
    with hub.session() as s:
        f.org(s, "hub-x", "SE", kind="hub")
        f.user(s, "x-admin", "hub-x", role="hub-admin")
        s.commit()
    sign_in(client, "x-admin")
    assert client.get("/admin/federation").status_code == 403


def test_anonymous_is_sent_to_sign_in(client: TestClient, world: OpsWorld) -> None:
    page = client.get("/admin/federation", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")


def test_the_admin_pages_link_to_it_for_hub_admins_only(
    client: TestClient, world: OpsWorld
) -> None:
    sign_in(client, "root")
    assert 'href="/admin/federation"' in client.get("/admin").text
    assert 'href="/admin/federation"' in client.get("/admin/users").text
    client.cookies.clear()
    sign_in(client, "bob")
    assert 'href="/admin/federation"' not in client.get("/admin").text
    assert 'href="/admin/federation"' not in client.get("/admin/users").text


def test_an_empty_hub_renders(hub: Hub, client: TestClient) -> None:
    with hub.session() as s:
        f.org(s, "Ops", "NO")
        f.user(s, "root", "Ops", role="hub-admin")
        s.commit()
    sign_in(client, "root")
    page = client.get("/admin/federation")
    assert page.status_code == 200
    assert "No peers" in page.text and "No links" in page.text
    assert 'id="lag-chart"' not in page.text
