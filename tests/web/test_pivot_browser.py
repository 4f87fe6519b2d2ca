"""Pivot in real Chromium: open an indicator, see its graph and names, link it to an incident
picked from a list, follow it to the incident, re-share an AMBER object, export a bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import browser_sign_in, shot
from varsel.incidents import service as incidents
from varsel.orgs import service as orgs
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.tlp import TLP

pytestmark = pytest.mark.browser
CREATED = "2026-02-01T00:00:00.000Z"


def _sdo(kind: str, **props: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": f.stix_id(kind),
        "created": CREATED,
        "modified": CREATED,
        "object_marking_refs": [TLP.GREEN.stix_id],
        **props,
    }


def _world(hub: Hub) -> dict[str, Any]:
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.org(s, "Svea Moln AB", "SE")
        f.org(s, "Kunde AS", "NO")
        f.user(s, "alice", "Fjordnett AS")
        f.user(s, "bob", "Svea Moln AB")
        f.community(s, "Nordic", ["Fjordnett AS", "Svea Moln AB"])
        f.community(s, "Private", ["Svea Moln AB"])
        nordic = f.collection(s, "Nordic indicators", "Nordic", default_tlp="amber")
        private = f.collection(s, "Svea only", "Private", default_tlp="amber")
        orgs.add_client(session=s, provider="Fjordnett AS", client="Kunde AS")
        s.commit()
        bob = f.principal(s, "bob")
        indicator = f.indicator(tlp=TLP.GREEN, value="203.0.113.7", name="Payload URL")
        malware = _sdo("malware", name="Lynx loader", is_family=True)
        campaign = _sdo("campaign", name="Ferry phishing")
        secret = f.indicator(tlp=TLP.AMBER, value="192.0.2.99")
        amber = f.indicator(tlp=TLP.AMBER, value="198.51.100.23", name="Mail relay")
        rels = [
            _sdo(
                "relationship",
                relationship_type="indicates",
                source_ref=indicator["id"],
                target_ref=malware["id"],
            ),
            _sdo(
                "relationship",
                relationship_type="indicates",
                source_ref=indicator["id"],
                target_ref=campaign["id"],
            ),
            _sdo(
                "relationship",
                relationship_type="related-to",
                source_ref=secret["id"],
                target_ref=indicator["id"],
            ),
        ]
        for coll, objs in (
            (nordic, [indicator, malware, campaign, amber, *rels]),
            (private, [secret]),
        ):
            result = ingesting.ingest(
                session=s,
                collection=sharing.get_collection(session=s, collection_id=coll.id),
                principal=bob,
                body=f.envelope(*objs),
            )
            assert not result.failures
        incident = incidents.create(
            session=s, principal=f.principal(s, "alice"), title="Phishing against ferries"
        )
        s.commit()
        return {
            "indicator": indicator,
            "amber": amber,
            "secret": secret,
            "incident": incident.id,
        }


def _no_sideways_scroll(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def test_pivot_from_an_indicator(hub: Hub, live: str, chromium: Any, tmp_path: Path) -> None:
    world = _world(hub)
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-GB", accept_downloads=True
    )
    page = context.new_page()
    try:
        browser_sign_in(page, live, "alice")
        url = f"{live}/objects/{world['indicator']['id']}"
        page.goto(url)
        assert page.locator("h1").inner_text().startswith("Indicator: 203.0.113.7")
        graph = page.locator("svg.graph")
        assert graph.is_visible()
        assert graph.get_by_role("link").filter(has_text="Lynx loader").count() == 1
        rels = page.locator("ul.rels")
        assert rels.get_by_role("link", name="Lynx loader").is_visible()
        assert rels.get_by_role("link", name="Ferry phishing").is_visible()
        assert "an object you cannot see" in rels.inner_text()
        assert world["secret"]["id"] not in page.content()
        assert _no_sideways_scroll(page)
        shot(page, "object-pivot", hub.backend)

        # Link it to an incident picked from a list; it shows on the incident page.
        page.get_by_label("Link to an incident").select_option(
            label=f"Phishing against ferries (#{world['incident']})"
        )
        page.get_by_label("Note (optional)").fill("C2 of the campaign")
        page.get_by_role("button", name="Link", exact=True).click()
        page.wait_for_load_state()
        assert "linked to the incident" in page.locator("[role=status]").first.inner_text()
        page.locator("#incidents").get_by_role("link", name="Phishing against ferries").click()
        page.wait_for_url(f"{live}/incidents/{world['incident']}*")
        assert "203.0.113.7" in page.locator("#objects").inner_text()

        # Export: this object alone, as a STIX bundle.
        page.goto(url)
        with page.expect_download() as info:
            page.get_by_role("link", name="Download this object as a STIX bundle").click()
        saved = tmp_path / "bundle.json"
        info.value.save_as(saved)
        bundle = json.loads(saved.read_text())
        assert bundle["type"] == "bundle"
        assert [o["id"] for o in bundle["objects"]] == [world["indicator"]["id"]]

        # Re-share an AMBER object with a client; the form is there because it is AMBER.
        page.goto(f"{live}/objects/{world['amber']['id']}")
        page.get_by_label("Client").select_option("Kunde AS")
        page.get_by_role("button", name="Re-share").click()
        page.wait_for_load_state()
        assert "re-shared with the client" in page.locator("[role=status]").first.inner_text()
        shot(page, "object-reshared", hub.backend)
        # An indicator that is not AMBER offers no re-share, and bob's offers alice no revoke.
        page.goto(url)
        assert page.get_by_role("button", name="Re-share").count() == 0
        assert page.get_by_role("button", name="Revoke this object").count() == 0
        # The page's content (the header is the layout's) fits a phone's width.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(url)
        overflow = page.evaluate(
            "Math.max(...[...document.querySelectorAll('#main, #main .card')]"
            ".map(e => e.scrollWidth - e.clientWidth))"
        )
        shot(page, "object-pivot-390", hub.backend)
        assert overflow <= 0, overflow
    finally:
        context.close()
