"""Alerts end to end in real Chromium: watch a block, another user shares into it, the alert
shows in the header's badge and the notifications list, and is marked read."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Hub
from tests.web.conftest import World, browser_sign_in, shot
from varsel.alerts import flows

pytestmark = pytest.mark.browser


def _sign_out(page: Any, live: str) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live}/login")


def _no_sideways_scroll(page: Any) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page scrolls sideways by {wide} px"


def test_watch_share_alert_and_mark_read(hub: Hub, world: World, live: str, chromium: Any) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    try:
        # alice watches a block; a bad value first is refused beside the field.
        browser_sign_in(page, live, "alice")
        page.get_by_role("link", name="Notifications").click()
        page.get_by_role("link", name="Delivery, watchlist and saved filters").click()
        page.get_by_label("Value to watch").fill("198.51.100.0/33")
        page.get_by_role("button", name="Watch", exact=True).click()
        assert "is not an IP address" in page.locator("#err-value").inner_text()
        assert page.get_by_label("Value to watch").input_value() == "198.51.100.0/33"
        page.get_by_label("Value to watch").fill("198.51.100.0/24")
        page.get_by_role("button", name="Watch", exact=True).click()
        assert "198.51.100.0/24" in page.locator("#watch-list").inner_text()
        shot(page, "alerts-settings-1280", hub.backend)
        _sign_out(page, live)

        # bob shares a matching indicator through the share page.
        browser_sign_in(page, live, "bob")
        page.goto(f"{live}/share")
        page.get_by_label("Kind of value").select_option("ipv4")
        page.get_by_label("Value", exact=True).fill("198.51.100.23")
        page.get_by_label("Name (optional)").fill("Ferry scanner")
        page.get_by_label("TLP marking").select_option("amber")
        page.get_by_role("button", name="Share indicator").click()
        assert page.locator("#share-ok").is_visible()
        _sign_out(page, live)

        # The evaluator runs (the live test hub runs no background worker).
        with hub.session() as s:
            assert flows.evaluate(session=s).by_kind == {"watch": 1}

        browser_sign_in(page, live, "alice")
        assert page.locator("#bell .count").inner_text().startswith("1")
        page.locator("#bell").click()
        item = page.locator("li.notification.unread")
        assert item.count() == 1
        assert "Ferry scanner" in item.inner_text() and "198.51.100.0/24" in item.inner_text()
        _no_sideways_scroll(page)
        shot(page, "alerts-notifications-1280", hub.backend)
        item.get_by_role("button", name="Mark read").click()
        page.wait_for_url(f"{live}/notifications")
        assert page.locator("li.notification.unread").count() == 0
        assert page.locator("#bell .count").count() == 0
        page.get_by_role("link", name="Ferry scanner").click()
        assert "198.51.100.23" in page.content()
    finally:
        context.close()
