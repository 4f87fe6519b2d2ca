"""The "Connect your MISP" page: feed URLs of what I may see, the settings, no token shown."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import sign_in
from varsel.misp import service
from varsel.policy.principal import local_operator


def test_connect_page(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.org(s, "Svea", "SE")
        f.user(s, "alice", "Fjordnett")
        f.user(s, "carol", "Svea")
        f.community(s, "Nordic", ["Fjordnett"])
        f.community(s, "Baltic", ["Svea"])
        nordic = f.collection(s, "Nordic indicators", "Nordic")
        baltic = f.collection(s, "Baltic indicators", "Baltic")
        token = f.token(s, "alice")
        s.commit()
        nordic_id, baltic_id = nordic.id, baltic.id
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        page = client.get("/connect/misp")
        assert page.status_code == 200
        html = page.text
        assert f"http://testserver/misp/feeds/{nordic_id}" in html
        assert baltic_id not in html and "Baltic indicators" not in html  # not hers to see
        assert '<code id="misp-api-url">http://testserver/misp</code>' in html
        assert 'href="/admin/tokens"' in html
        assert token not in html  # a token is never shown again
        assert "varsel misp set-collection" in html  # the landing collection is not set yet
        assert 'href="/connect/misp"' in client.get("/account").text
    with hub.session() as s:
        service.set_collection(
            session=s, principal=local_operator(), org="Fjordnett", collection=nordic_id
        )
        s.commit()
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        html = client.get("/connect/misp").text
        assert '<dd id="misp-landing">Nordic indicators</dd>' in html
        # Signed out, the page asks for a sign-in like every other.
    with TestClient(hub.app) as anonymous:
        assert anonymous.get("/connect/misp", follow_redirects=False).status_code in (302, 303)
