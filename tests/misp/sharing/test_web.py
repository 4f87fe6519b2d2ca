"""``/admin/misp``: org-admins set their organisation's collection, hub-admins map sharing groups
and narrow ceilings; refusals come back beside the field with the value kept, and CSRF holds."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import post_form, sign_in
from varsel.audit.models import AuditEvent
from varsel.misp import service
from varsel.sharing.tlp import TLP

GROUP = "0b6f0f3e-7d1c-4f6a-9c2e-1a2b3c4d5e6f"
PAGE = "/admin/misp"


@pytest.fixture
def coll_id(hub: Hub) -> str:
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.org(s, "Svea", "SE")
        f.org(s, "Outsider", "US")
        f.user(s, "alice", "Fjordnett")
        f.user(s, "bob", "Svea", role="org-admin")
        f.user(s, "olga", "Outsider", role="org-admin")
        f.user(s, "root", "Fjordnett", role="hub-admin")
        f.community(s, "Nordic", ["Fjordnett", "Svea"])
        coll = f.collection(s, "Indicators", "Nordic")
        s.commit()
        return coll.id


def _client(hub: Hub, username: str) -> TestClient:
    client = TestClient(hub.app)
    sign_in(client, username)
    return client


def _landing(hub: Hub, org: str) -> str | None:
    with hub.session() as s:
        found = service.collection_for(s, service.orgs.get_org(session=s, name=org).id)
        return found.id if found is not None else None


def _post(client: TestClient, action: str, data: dict[str, Any]) -> Any:
    return post_form(client, PAGE, action, data)


def test_an_org_admin_sets_its_own_organisations_collection(hub: Hub, coll_id: str) -> None:
    bob = _client(hub, "bob")
    page = bob.get(PAGE)
    assert page.status_code == 200
    assert 'href="/admin/misp" aria-current="page"' in page.text
    assert f'<option value="{coll_id}"' in page.text
    # Hub-admins' forms are not offered.
    assert "/admin/misp/groups" not in page.text and "/admin/misp/ceilings" not in page.text
    # The organisation is the caller's own, whatever the form says.
    done = _post(bob, "/admin/misp/collection", {"org": "Fjordnett", "collection": coll_id})
    assert done.status_code == 303
    assert _landing(hub, "Svea") == coll_id
    assert _landing(hub, "Fjordnett") is None
    assert "Indicators" in bob.get(done.headers["location"]).text
    for action, data in (
        ("/admin/misp/groups", {"uuid": GROUP, "name": "x", "recipients": "Svea"}),
        ("/admin/misp/ceilings", {"ceiling-3": "red"}),
    ):
        assert _post(bob, action, data).status_code == 403
    with hub.session() as s:
        assert s.execute(
            select(AuditEvent.actor).where(AuditEvent.action.like("misp.%"))
        ).scalars().all() == ["bob@Svea"]


def test_an_organisation_outside_the_community_cannot_land_there(hub: Hub, coll_id: str) -> None:
    olga = _client(hub, "olga")
    page = olga.get(PAGE)
    assert "No collection your organisation may share to." in page.text
    refused = _post(olga, "/admin/misp/collection", {"collection": coll_id})
    assert refused.status_code == 404
    assert 'id="m-collection-error"' in refused.text
    assert _landing(hub, "Outsider") is None
    # An analyst has no administration at all.
    assert _client(hub, "alice").get(PAGE).status_code == 403


def test_a_hub_admin_refused_an_organisation_that_may_not_write(hub: Hub, coll_id: str) -> None:
    root = _client(hub, "root")
    refused = _post(root, "/admin/misp/collection", {"org": "Outsider", "collection": coll_id})
    assert refused.status_code == 403
    assert 'id="m-collection-error"' in refused.text and "may not write" in refused.text
    assert _landing(hub, "Outsider") is None
    assert (
        _post(root, "/admin/misp/collection", {"org": "Svea", "collection": coll_id}).status_code
        == 303
    )
    assert _landing(hub, "Svea") == coll_id


def test_a_hub_admin_maps_sharing_groups(hub: Hub, coll_id: str) -> None:
    root = _client(hub, "root")
    bad = _post(
        root,
        "/admin/misp/groups",
        {"uuid": "not-a-uuid", "name": "Nordic energy", "recipients": ["Svea", "Outsider"]},
    )
    assert bad.status_code == 400
    assert 'id="m-uuid-error"' in bad.text
    assert 'value="Nordic energy"' in bad.text  # what was typed is kept
    assert "<option selected>Outsider</option>" in bad.text
    made = _post(
        root,
        "/admin/misp/groups",
        {"uuid": GROUP, "name": "Nordic energy", "recipients": ["Svea", "Outsider"]},
    )
    assert made.status_code == 303
    listed = root.get(made.headers["location"]).text
    assert GROUP in listed and "Outsider, Svea" in listed
    with hub.session() as s:
        assert service.mapping_of(s).groups == {GROUP: ("Outsider", "Svea")}
    assert _post(root, "/admin/misp/groups/remove", {"uuid": GROUP}).status_code == 303
    with hub.session() as s:
        assert service.mapping_of(s).groups == {}


def test_a_hub_admin_narrows_ceilings_and_cannot_widen_them(hub: Hub, coll_id: str) -> None:
    root = _client(hub, "root")
    page = root.get(PAGE).text
    # Distribution 1 offers nothing broader than its default, TLP:GREEN.
    start = page.index('name="ceiling-1"')
    assert 'value="clear"' not in page[start : page.index("</select>", start)]
    saved = _post(root, "/admin/misp/ceilings", {"ceiling-2": "amber", "ceiling-3": "green"})
    assert saved.status_code == 303
    widened = _post(root, "/admin/misp/ceilings", {"ceiling-1": "clear", "ceiling-3": "clear"})
    assert widened.status_code == 403
    assert 'id="m-ceiling-1-error"' in widened.text
    with hub.session() as s:
        ceilings = service.mapping_of(s).ceilings
    # All or nothing: the refused form changed nothing.
    assert (ceilings[1], ceilings[2], ceilings[3]) == (TLP.GREEN, TLP.AMBER, TLP.GREEN)


def test_a_form_without_its_csrf_token_changes_nothing(hub: Hub, coll_id: str) -> None:
    root = _client(hub, "root")
    sent = root.post(
        "/admin/misp/collection",
        data={"org": "Svea", "collection": coll_id},
        follow_redirects=False,
    )
    assert sent.status_code == 403
    assert _landing(hub, "Svea") is None
