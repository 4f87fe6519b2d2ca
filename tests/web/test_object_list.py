"""The object list: values not names, names for references, an honest count, and bulk actions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, browser_sign_in, csrf_of, shot, sign_in
from varsel.audit.models import AuditEvent
from varsel.sharing import browse
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.browse import BrowseFilters
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP


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


def _pks(hub: Hub, *stix_ids: str) -> dict[str, int]:
    with hub.session() as s:
        rows = s.query(StixObject.stix_id, StixObject.id).filter(
            StixObject.stix_id.in_(stix_ids), StixObject.is_latest.is_(True)
        )
        return dict(rows.all())


def test_the_list_shows_values_names_of_references_and_a_count(hub: Hub, world: World) -> None:
    first = f.indicator(value="198.51.100.21", name="Payload URL")
    second = f.indicator(value="198.51.100.22", name="Payload URL")
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": f.stix_id("malware"),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "FjordLoader",
        "is_family": True,
    }
    # A relationship to an object alice cannot read: carol's, in carol's own community.
    with hub.session() as s:
        f.community(s, "Atlantic", ["Outsider"])
        hidden_coll = f.collection(s, "Atlantic feed", "Atlantic", default_tlp="green").id
        s.commit()
    secret = f.indicator(value="203.0.113.99", name="Secret of carol")
    _share(hub, "carol", hidden_coll, secret)
    uses = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f.stix_id("relationship"),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": first["id"],
        "target_ref": malware["id"],
    }
    dangling = {**uses, "id": f.stix_id("relationship"), "source_ref": secret["id"]}
    _share(hub, "alice", world.collection_id, first, second, malware, uses, dangling)
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        page = client.get("/objects")
        assert page.status_code == 200
        html = page.text
        # The values lead, the shared name comes second.
        assert '<code class="obj-value">198.51.100.21</code>' in html
        assert '<code class="obj-value">198.51.100.22</code>' in html
        assert html.count("Payload URL") >= 2
        # References by name; an unreadable one without its id or type.
        assert "FjordLoader" in html
        assert "an object you cannot see" in html
        assert secret["id"] not in html
        assert "203.0.113.99" not in html
        count = re.search(r'id="result-count"[^>]*data-exact="(\w+)" data-n="(\d+)"', html)
        assert count and count.groups() == ("true", "5")
        assert "5 objects" in html
        assert "<title>Objects shared with you" in html
        # Filters are folded, and open when one is active.
        assert '<details class="filters-fold" id="object-filters">' in html
        filtered = client.get("/objects", params={"type": "indicator"})
        assert '<details class="filters-fold" id="object-filters" open>' in filtered.text
        assert "2 objects" in filtered.text
        assert "<title>Objects matching your filters" in filtered.text


def test_the_count_is_capped_and_falls_back_when_slow(hub: Hub, world: World) -> None:
    objects = [f.indicator(value=f"198.51.100.{i}") for i in range(1, 13)]
    _share(hub, "alice", world.collection_id, *objects)
    with hub.session() as s:
        alice = f.principal(s, "alice")
        everything = BrowseFilters()
        exact = browse.count_capped(session=s, principal=alice, filters=everything)
        assert exact == browse.Count(12, exact=True)
        capped = browse.count_capped(session=s, principal=alice, filters=everything, cap=10)
        assert capped == browse.Count(10, exact=False, capped=True)
        # No time at all: the answer is what the caller knew, labelled "more than".
        slow = browse.count_capped(
            session=s, principal=alice, filters=everything, at_least=5, budget_ms=0
        )
        assert slow in (browse.Count(5, exact=False), browse.Count(12, exact=True))
        # The session is still usable after an interrupted count.
        again = browse.count_capped(session=s, principal=alice, filters=everything)
        assert again.n == 12
        narrowed = BrowseFilters.parse(text="198.51.100.1")
        assert browse.count_capped(session=s, principal=alice, filters=narrowed).n == 4
        # Bob sees the AMBER objects of his community; carol (no community) none of them.
        assert (
            browse.count_capped(session=s, principal=f.principal(s, "bob"), filters=everything).n
            == 12
        )
        assert (
            browse.count_capped(session=s, principal=f.principal(s, "carol"), filters=everything).n
            == 0
        )


def test_the_count_page_says_more_than_when_capped(
    hub: Hub, world: World, monkeypatch: Any
) -> None:
    monkeypatch.setattr(browse, "COUNT_CAP", 3)
    monkeypatch.setattr("varsel.web.objects.PAGE_SIZE", 2)
    _share(
        hub,
        "alice",
        world.collection_id,
        *[f.indicator(value=f"198.51.100.{i}") for i in range(1, 6)],
    )

    def capped(**kwargs: Any) -> browse.Count:
        return browse.Count(3, exact=False, capped=True)

    monkeypatch.setattr(browse, "count_capped", capped)
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        html = client.get("/objects").text
        assert "More than 3 objects" in html
        assert 'data-exact="false"' in html


def _bulk(browser: TestClient, action: str, pks: list[int], **extra: str) -> Any:
    token = csrf_of(browser.get("/objects").text)
    data: dict[str, Any] = {
        "csrf": token,
        "action": action,
        "pick": [str(p) for p in pks],
        "back": "/objects",
        **extra,
    }
    return browser.post("/objects/bulk", data=data, follow_redirects=False)


def test_bulk_revoke_refuses_others_rows_and_revokes_mine(hub: Hub, world: World) -> None:
    mine = [f.indicator(value="198.51.100.31"), f.indicator(value="198.51.100.32")]
    bobs = f.indicator(value="198.51.100.33", name="Bob's address")
    _share(hub, "alice", world.collection_id, *mine)
    _share(hub, "bob", world.collection_id, bobs)
    with hub.session() as s:
        f.community(s, "Atlantic", ["Outsider"])
        hidden_coll = f.collection(s, "Atlantic feed", "Atlantic", default_tlp="green").id
        s.commit()
    secret = f.indicator(value="203.0.113.50")
    _share(hub, "carol", hidden_coll, secret)
    pks = _pks(hub, mine[0]["id"], mine[1]["id"], bobs["id"], secret["id"])
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        page = client.get("/objects")
        assert f'name="pick" value="{pks[mine[0]["id"]]}"' in page.text
        response = _bulk(client, "revoke", list(pks.values()))
        assert response.status_code == 200, response.text
        html = response.text
        assert html.count('data-outcome="done"') == 2
        assert html.count('data-outcome="refused"') == 2
        assert "only the organisation that shared an object may revoke it" in html
        assert "an object you cannot see" in html
        assert secret["id"] not in html
        # Revoking again is reported as already done, not repeated.
        again = _bulk(client, "revoke", [pks[mine[0]["id"]]])
        assert 'data-outcome="unchanged"' in again.text
    with hub.session() as s:
        latest = dict(
            s.query(StixObject.stix_id, StixObject.revoked)
            .filter(StixObject.is_latest.is_(True))
            .all()
        )
        assert latest[mine[0]["id"]] is True and latest[mine[1]["id"]] is True
        assert latest[bobs["id"]] is False and latest[secret["id"]] is False
        events = [e.action for e in s.query(AuditEvent).all()]
        assert "objects.bulk.revoke" in events


def test_bulk_copy_and_reshare_go_through_the_rules(hub: Hub, world: World) -> None:
    with hub.session() as s:
        f.community(s, "Fjord only", ["Fjordnett"])
        other = f.collection(s, "Fjord desk", "Fjord only", default_tlp="amber").id
        f.org(s, "Client AS", "NO")
        from varsel.orgs.models import ClientRelation, Organisation

        ids = dict(s.query(Organisation.name, Organisation.id).all())
        s.add(ClientRelation(provider_id=ids["Fjordnett"], client_id=ids["Client AS"]))
        s.commit()
    mine = f.indicator(value="198.51.100.41", tlp=TLP.AMBER)
    bobs_amber = f.indicator(value="198.51.100.42", tlp=TLP.AMBER)
    bobs_green = f.indicator(value="198.51.100.43", tlp=TLP.GREEN)
    _share(hub, "alice", world.collection_id, mine)
    _share(hub, "bob", world.collection_id, bobs_amber, bobs_green)
    pks = _pks(hub, mine["id"], bobs_amber["id"], bobs_green["id"])
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        copied = _bulk(client, "copy", list(pks.values()), target_collection=other)
        assert copied.status_code == 200, copied.text
        assert copied.text.count('data-outcome="done"') == 1
        assert copied.text.count('data-outcome="refused"') == 2
        assert "may be re-shared to a client" in copied.text
        reshared = _bulk(client, "reshare", list(pks.values()), client="Client AS")
        assert reshared.status_code == 200
        # Both AMBER rows go to the client; the GREEN one is refused by the re-share rule.
        assert reshared.text.count('data-outcome="done"') == 2
        assert "only TLP:AMBER may be re-shared" in reshared.text
        # An action that cannot be done at all writes nothing and says why.
        nowhere = _bulk(client, "copy", list(pks.values()), target_collection="no-such")
        assert nowhere.status_code == 403
        assert "choose a collection you may share into" in nowhere.text
    with hub.session() as s:
        copies = s.query(StixObject).filter(StixObject.collection_id == other).all()
        assert [c.stix_id for c in copies] == [mine["id"]]


def test_the_list_speaks_the_readers_language(hub: Hub, world: World) -> None:
    _share(hub, "alice", world.collection_id, f.indicator(value="198.51.100.61"))
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        norwegian = client.get("/objects", headers={"Accept-Language": "nb"}).text
        assert "Objekter delt med deg" in norwegian
        assert "1 objekt<" in norwegian
        finnish = client.get("/share/import", headers={"Accept-Language": "fi"}).text
        assert "Tuo arvoja tekstistä" in finnish


def test_the_incident_list_counts_its_incidents(hub: Hub, world: World) -> None:
    from tests.web.test_incident_pages import _open

    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        empty = client.get("/incidents").text
        assert "0 incidents" in empty
        assert "<title>Incidents you may read" in empty
        _open(client, "Ferry ransomware")
        _open(client, "Phishing wave")
        assert "2 incidents" in client.get("/incidents").text


@pytest.mark.browser
def test_bulk_revoke_in_a_browser(hub: Hub, world: World, live: str, chromium: Any) -> None:
    mine = f.indicator(value="198.51.100.71", name="Payload URL")
    bobs = f.indicator(value="198.51.100.72", name="Payload URL")
    _share(hub, "alice", world.collection_id, mine)
    _share(hub, "bob", world.collection_id, bobs)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        browser_sign_in(page, live, "alice")
        page.goto(f"{live}/objects")
        assert page.locator("#result-count").inner_text() == "2 objects"
        # Wide screens open the folded filters (script); the values lead each row.
        assert page.locator("#object-filters").get_attribute("open") is not None
        assert page.locator("code.obj-value").all_inner_texts() == [
            "198.51.100.72",
            "198.51.100.71",
        ]
        page.locator("#pick-all").check()
        page.get_by_label("Action").select_option("revoke")
        page.get_by_role("button", name="Apply to the selected objects").click()
        page.wait_for_selector("#bulk-outcomes")
        assert page.locator('tr[data-outcome="done"]').count() == 1
        refused = page.locator('tr[data-outcome="refused"]')
        assert refused.count() == 1
        assert "only the organisation that shared an object may revoke it" in refused.inner_text()
        # The outcome names each row by its value, not "Payload URL" twice.
        assert "198.51.100.72" in refused.inner_text()
        shot(page, "objects-bulk-outcome-1280", hub.backend)
    finally:
        context.close()


def test_revoking_a_red_object_keeps_its_recipients(hub: Hub, world: World) -> None:
    from varsel.sharing import bulk

    red = f.indicator(value="198.51.100.81", tlp=TLP.RED)
    with hub.session() as s:
        result = ingesting.ingest(
            session=s,
            collection=sharing.get_collection(session=s, collection_id=world.collection_id),
            principal=f.principal(s, "alice"),
            body=f.envelope(red),
            recipients=["Svea"],  # named by the envelope, not in the object
        )
        s.commit()
    assert not result.failures
    pk = _pks(hub, red["id"])[red["id"]]
    with hub.session() as s:
        outcomes = bulk.act(
            session=s, principal=f.principal(s, "alice"), action=bulk.Bulk.REVOKE, pks=[pk]
        )
        s.commit()
    assert [o.result for o in outcomes] == [bulk.Result.DONE]
    with hub.session() as s:
        bob = f.principal(s, "bob")
        seen = browse.versions_of(session=s, principal=bob, stix_id=red["id"])
        assert seen[-1].raw and '"revoked": true' in seen[-1].raw.replace('":true', '": true')
        carol = f.principal(s, "carol")
        filters = BrowseFilters.parse(tlp="red")
        assert browse.count_capped(session=s, principal=carol, filters=filters).n == 0
