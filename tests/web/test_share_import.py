"""Free-text import: paste, review (types detected, warning lists), then share all or nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Hub
from tests.web.conftest import World, browser_sign_in, csrf_of, shot, sign_in
from varsel.sharing.models import StixObject

REPORT = """Incident summary, 2026-03-02
The phishing mail came from billing@fjord-invoice[.]example and linked to
hxxps://fjord-invoice[.]example/pay?id=7 ; the payload called home to 198.51.100.77
and 2001:db8::77. Dropper MD5 d41d8cd98f00b204e9800998ecf8427e.
Resolver seen: 8.8.8.8
"""


def _count(hub: Hub) -> int:
    with hub.session() as s:
        return s.query(StixObject).filter(StixObject.type == "indicator").count()


def _review(client: TestClient, text: str, **extra: Any) -> Any:
    token = csrf_of(client.get("/share/import").text)
    return client.post(
        "/share/import", data={"csrf": token, "step": "review", "text": text, **extra}
    )


def _rows(html: str) -> list[tuple[str, str, str]]:
    """Return (index, kind, value) of each review row."""
    out = []
    for i, kind, value in re.findall(
        r'<select name="kind-(\d+)".*?<option value="([a-z0-9]+)" selected>'
        r'.*?name="value-\1" value="([^"]*)"',
        html,
        re.S,
    ):
        out.append((i, kind, value))
    return out


def test_paste_review_and_share(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        page = client.get("/share/import")
        assert page.status_code == 200
        assert "<title>Import values from text" in page.text
        review = _review(client, REPORT)
        assert review.status_code == 200, review.text
        rows = _rows(review.text)
        assert [(k, v) for _, k, v in rows] == [
            ("email", "billing@fjord-invoice.example"),
            ("url", "https://fjord-invoice.example/pay?id=7"),
            ("ipv4", "198.51.100.77"),
            ("ipv6", "2001:db8::77"),
            ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
            ("ipv4", "8.8.8.8"),
        ]
        # The known public resolver is flagged from the warning lists; the text is kept.
        assert "8.8.8.8 is on the warning list" in review.text
        assert "fjord-invoice[.]example" in review.text
        assert _count(hub) == 0  # reviewing writes nothing
        # Share: untick the resolver, correct nothing else, mark GREEN.
        data: dict[str, Any] = {
            "csrf": csrf_of(review.text),
            "step": "share",
            "text": REPORT,
            "rows": str(len(rows)),
            "keep": [i for i, _, v in rows if v != "8.8.8.8"],
            "tlp": "green",
            "collection": world.collection_id,
            "description": "From the March phishing",
        }
        for i, kind, value in rows:
            data[f"kind-{i}"] = kind
            data[f"value-{i}"] = value
        shared = client.post("/share/import", data=data)
        assert shared.status_code == 201, shared.text
        assert "5 indicators shared." in shared.text
    with hub.session() as s:
        stored = s.query(StixObject).filter(StixObject.type == "indicator").all()
        assert len(stored) == 5
        assert {o.tlp for o in stored} == {"green"}
        assert all(o.producer_org_id for o in stored)
        patterns = " ".join(o.raw for o in stored)
        assert "8.8.8.8" not in patterns
        assert "[ipv6-addr:value = '2001:db8::77']" in patterns


def test_errors_write_nothing_and_keep_what_was_typed(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        # Nothing found: the reason beside the text, the text kept.
        empty = _review(client, "nothing to see here, just words")
        assert empty.status_code == 400
        assert "No addresses, domains" in empty.text
        assert "nothing to see here, just words</textarea>" in empty.text
        # Too large: refused before it is parsed.
        huge = _review(client, "198.51.100.1 " * 20_000)
        assert huge.status_code == 400
        assert "at most 200,000" in huge.text
        review = _review(client, "198.51.100.5 bad.example")
        rows = _rows(review.text)
        base: dict[str, Any] = {
            "csrf": csrf_of(review.text),
            "step": "share",
            "text": "198.51.100.5 bad.example",
            "rows": str(len(rows)),
            "keep": ["0", "1"],
            "tlp": "amber",
            "collection": world.collection_id,
            "kind-0": "ipv4",
            "value-0": "198.51.100.5",
            "kind-1": "ipv4",  # edited to a wrong kind: the domain is no IPv4 address
            "value-1": "bad.example",
        }
        wrong = client.post("/share/import", data=base)
        assert wrong.status_code == 400
        assert "is not an IPv4 address" in wrong.text
        assert "nothing was shared" in wrong.text
        assert 'name="value-1" value="bad.example"' in wrong.text
        assert _count(hub) == 0
        # TLP:RED without recipients: the reason beside the recipients.
        red = client.post("/share/import", data={**base, "kind-1": "domain", "tlp": "red"})
        assert red.status_code == 400
        assert "named recipients only" in red.text
        assert _count(hub) == 0
        # A collection one may not write to.
        nowhere = client.post(
            "/share/import", data={**base, "kind-1": "domain", "collection": "elsewhere"}
        )
        assert nowhere.status_code == 400
        assert "choose a collection you may share into" in nowhere.text
        # Nothing kept.
        none = client.post("/share/import", data={**base, "keep": []})
        assert none.status_code == 400
        assert "Keep at least one value" in none.text
        assert _count(hub) == 0
        fixed = client.post("/share/import", data={**base, "kind-1": "domain"})
        assert fixed.status_code == 201
        assert _count(hub) == 2


def test_a_refused_indicator_undoes_the_whole_import(
    hub: Hub, world: World, configure: Callable[..., Any]
) -> None:
    configure(warninglist_mode="refuse")
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        review = _review(client, "198.51.100.6 8.8.8.8")
        assert "This hub refuses indicators on a warning list." in review.text
        data = {
            "csrf": csrf_of(review.text),
            "step": "share",
            "text": "198.51.100.6 8.8.8.8",
            "rows": "2",
            "keep": ["0", "1"],
            "tlp": "amber",
            "collection": world.collection_id,
            "kind-0": "ipv4",
            "value-0": "198.51.100.6",
            "kind-1": "ipv4",
            "value-1": "8.8.8.8",
        }
        refused = client.post("/share/import", data=data)
        assert refused.status_code == 400
        assert "The hub refused the values marked below; nothing was shared." in refused.text
        assert _count(hub) == 0


def _widest_in_main(page: Any) -> int:
    """Return the right edge of the widest element in <main> outside a scrolling table box."""
    return int(
        page.evaluate(
            """() => Math.max(0, ...[...document.querySelectorAll('main *')]
                .filter(e => !e.closest('.table-wrap'))
                .map(e => e.getBoundingClientRect().right))"""
        )
    )


@pytest.mark.browser
def test_import_journey_in_a_browser(hub: Hub, world: World, live: str, chromium: Any) -> None:
    context = chromium.new_context(viewport={"width": 390, "height": 900})
    page = context.new_page()
    try:
        browser_sign_in(page, live, "alice")
        page.goto(f"{live}/share/import")
        page.get_by_label("Text to import").fill(REPORT)
        page.get_by_role("button", name="Find the values").click()
        page.wait_for_selector("#review")
        assert page.locator("#review tbody tr").count() == 6
        shot(page, "share-import-review-390", hub.backend)
        assert _widest_in_main(page) <= 390
        page.get_by_label("Share 8.8.8.8").uncheck()
        page.get_by_label("TLP marking").select_option("green")
        page.get_by_role("button", name="Share the ticked values").click()
        page.wait_for_selector("#import-ok")
        assert "5 indicators shared." in page.locator("#import-ok").inner_text()
        # No horizontal scroll at 390 px on the review page or the list.
        page.goto(f"{live}/objects")
        assert page.locator("#result-count").inner_text().startswith("5 objects")
        assert "198.51.100.77" in page.locator("table").inner_text()
        # The page header is the layout's (its menu); the list's own content stays in 390 px,
        # a wide table scrolling inside its own box.
        assert _widest_in_main(page) <= 390
        shot(page, "objects-list-390", hub.backend)
    finally:
        context.close()
