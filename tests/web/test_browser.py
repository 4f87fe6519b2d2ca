"""End to end in real headless Chromium (Debian's, driven by Playwright) against a live hub.

Sign in, share an indicator, find it through the filters, see it from a second organisation
only when the policy allows, and fail to see a TLP:RED object not addressed to you. Screenshots
of the main pages go to artifacts/screenshots/; the home page also to docs/screenshots/.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from sqlalchemy import select, update

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import ROOT, SHOTS, browser_sign_in, shot
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP

pytestmark = pytest.mark.browser


def _world(hub: Hub) -> str:
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.org(s, "Svea Moln AB", "SE")
        f.org(s, "Saimaa Data Oy", "FI")
        f.org(s, "US Partner", "US", kind="international-partner")
        f.user(s, "alice", "Fjordnett AS")
        f.user(s, "bob", "Svea Moln AB")
        f.user(s, "carol", "US Partner")
        f.user(s, "root", "Fjordnett AS", role="hub-admin")
        f.community(s, "Nordic", ["Fjordnett AS", "Svea Moln AB", "Saimaa Data Oy"])
        f.community(s, "Atlantic", ["US Partner", "Svea Moln AB"])
        nordic = f.collection(s, "Nordic indicators", "Nordic", default_tlp="amber")
        atlantic = f.collection(s, "Atlantic feed", "Atlantic", default_tlp="green")
        # Some history for the home page, spread over the last weeks.
        levels = [TLP.GREEN, TLP.AMBER, TLP.CLEAR, TLP.AMBER, TLP.AMBER_STRICT, TLP.GREEN]
        for producer, coll, count in (("bob", nordic, 40), ("carol", atlantic, 14)):
            objs = [
                f.indicator(
                    tlp=levels[i % len(levels)],
                    value=f"203.0.113.{i}",
                    name=f"Scanner 203.0.113.{i}",
                )
                for i in range(count)
            ]
            ingesting.ingest(
                session=s,
                collection=coll,
                principal=f.principal(s, producer),
                body=f.envelope(*objs),
            )
        rows = s.execute(
            select(StixObject.id, StixObject.date_added_us).order_by(StixObject.id)
        ).all()
        for n, (pk, added) in enumerate(rows):
            shift = ((n * 7) % 26) * 86_400_000_000 + n
            s.execute(
                update(StixObject).where(StixObject.id == pk).values(date_added_us=added - shift)
            )
        s.commit()
        assert sharing.get_collection(session=s, collection_id=nordic.id)
        return nordic.id


def _sign_out(page: Any, live: str) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live}/login")


def _search(page: Any, live: str, text: str) -> list[str]:
    page.goto(f"{live}/objects")
    page.get_by_label("Text in name, description or pattern").fill(text)
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_load_state()
    return [
        str(row.get_attribute("data-stix-id")) for row in page.locator("tr[data-stix-id]").all()
    ]


def test_share_find_and_policy_in_a_real_browser(hub: Hub, live: str, chromium: Any) -> None:
    _world(hub)
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    try:
        page.goto(f"{live}/")
        assert page.url.startswith(f"{live}/login")
        shot(page, "login", hub.backend)

        # alice shares an AMBER domain and a RED address for bob only.
        browser_sign_in(page, live, "alice")
        page.goto(f"{live}/share")
        assert page.locator("#i-recipients").is_hidden()  # shown for TLP:RED only
        page.get_by_label("Kind of value").select_option("domain")
        page.get_by_label("Value", exact=True).fill("c2.ferry-phish.example")
        page.get_by_label("Name (optional)").fill("Ferry phishing C2")
        page.get_by_label("TLP marking").select_option("amber")
        page.get_by_role("button", name="Share indicator").click()
        assert "Shared into Nordic indicators" in page.locator("#share-ok").inner_text()
        shot(page, "share", hub.backend)
        page.get_by_label("Kind of value").select_option("ipv4")
        page.get_by_label("Value", exact=True).fill("192.0.2.66")
        page.get_by_label("Name (optional)").fill("Ferry phishing red host")
        page.get_by_label("TLP marking").select_option("red")
        assert page.locator("#i-recipients").is_visible()
        page.get_by_label("Users", exact=True).fill("bob")
        page.get_by_role("button", name="Share indicator").click()
        assert page.locator("#share-ok").is_visible()

        # alice finds her indicator through the filters.
        page.goto(f"{live}/objects")
        page.get_by_label("Text in name, description or pattern").fill("ferry")
        page.get_by_label("TLP", exact=True).select_option("amber")
        page.get_by_label("Country").select_option("NO")
        page.get_by_role("button", name="Apply filters").click()
        page.wait_for_load_state()
        rows = page.locator("tr[data-stix-id]")
        assert rows.count() == 1 and "Ferry phishing C2" in rows.first.inner_text()
        shot(page, "objects", hub.backend)
        rows.first.get_by_role("link").click()
        page.wait_for_load_state()
        assert page.locator("h1 .tlp-amber").inner_text() == "TLP:AMBER"
        assert "[domain-name:value = 'c2.ferry-phish.example']" in page.content()
        amber_url = page.url
        shot(page, "object", hub.backend)
        page.goto(f"{live}/")
        shot(page, "home", hub.backend)
        _sign_out(page, live)

        # bob (Svea, in the community and named on the RED one) sees both.
        browser_sign_in(page, live, "bob")
        assert len(_search(page, live, "ferry")) == 2
        page.goto(amber_url)
        assert page.locator("h1").inner_text().startswith("Indicator: c2.ferry-phish.example")
        _sign_out(page, live)

        # carol (US, outside the community, not named) sees neither, not even by address.
        browser_sign_in(page, live, "carol")
        assert _search(page, live, "ferry") == []
        assert page.locator("#no-results").is_visible()
        response = page.goto(amber_url)
        assert response is not None and response.status == 404
        _sign_out(page, live)

        # The hub-admin's pages.
        browser_sign_in(page, live, "root")
        for name in ("users", "communities", "collections", "audit"):
            page.goto(f"{live}/admin/{name}")
            assert page.locator("h1").is_visible()
            shot(page, f"admin-{name}", hub.backend, full_page=False)
        assert "audit chain is intact" in page.locator("#chain-status").inner_text()
    finally:
        context.close()
    if hub.backend == "sqlite":
        docs = ROOT / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHOTS / "home.png", docs / "home.png")


def test_a_red_object_not_addressed_to_you_stays_hidden(hub: Hub, live: str, chromium: Any) -> None:
    coll_id = _world(hub)
    with hub.session() as s:
        coll = sharing.get_collection(session=s, collection_id=coll_id)
        red = f.indicator(
            tlp=TLP.RED, value="192.0.2.99", name="Red for Svea only", recipients=["Svea Moln AB"]
        )
        ingesting.ingest(
            session=s, collection=coll, principal=f.principal(s, "bob"), body=f.envelope(red)
        )
        s.commit()
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        # alice is in the community, but TLP:RED goes to named recipients only.
        browser_sign_in(page, live, "alice")
        assert _search(page, live, "Red for Svea") == []
        response = page.goto(f"{live}/objects/{red['id']}")
        assert response is not None and response.status == 404
        page.goto(f"{live}/objects?tlp=red")
        assert page.locator("tr[data-stix-id]").count() == 0
    finally:
        context.close()
