"""The match page: paste or upload, the same matches as ``varsel scan``, sightings shared once.

alice (Fjordnett) shares into Nordic an AMBER domain rule, an AMBER address block and a TLP:RED
address addressed to Fjordnett only; bob (Svea) reads the first two, carol (outside) none.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests import factories as f
from tests.cli.test_cli import run
from tests.conftest import Hub
from tests.matching.helpers import FIXTURES
from tests.web.conftest import csrf_of, sign_in
from varsel.audit.models import AuditEvent
from varsel.matching import service
from varsel.matching.flows import identity_id
from varsel.sharing import ingest
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP
from varsel.web.sessions import COOKIE

_TOKEN = re.compile(r'name="token" value="([^"]+)"')


@dataclass
class Shared:
    """The world's ids."""

    collection: str
    sightings: str
    domain: str
    block: str
    red: str
    tokens: dict[str, str]


@pytest.fixture
def shared(hub: Hub) -> Iterator[Shared]:
    """Create the world and share alice's three indicators."""
    service.cache_clear()
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.org(s, "Svea", "SE")
        f.org(s, "Outsider", "US", kind="international-partner")
        f.user(s, "alice", "Fjordnett")
        f.user(s, "bob", "Svea")
        f.user(s, "carol", "Outsider")
        f.community(s, "Nordic", ["Fjordnett", "Svea"])
        coll = f.collection(s, "Indicators", "Nordic", default_tlp="amber", alias="indicators")
        sight = f.collection(s, "Sightings", "Nordic", default_tlp="amber", alias="sightings")
        tokens = {name: f.token(s, name) for name in ("alice", "bob", "carol")}
        domain = f.indicator(
            pattern="[domain-name:value LIKE '%.evil-cdn.net']", name="CDN abuse", tlp=TLP.AMBER
        )
        block = f.indicator(
            pattern="[ipv4-addr:value = '198.51.100.0/24']", name="Scanner block", tlp=TLP.AMBER
        )
        red = f.indicator(
            value="10.20.1.16", name="Red host", tlp=TLP.RED, recipients=["Fjordnett"]
        )
        result = ingest.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, "alice"),
            body=f.envelope(domain, block, red),
        )
        assert not result.failures, result.failures
        s.commit()
    yield Shared(coll.id, sight.id, domain["id"], block["id"], red["id"], tokens)
    service.cache_clear()


def _client(hub: Hub, username: str) -> TestClient:
    client = TestClient(hub.app)
    sign_in(client, username)
    return client


def _match(client: TestClient, **data: Any) -> Any:
    token = csrf_of(client.get("/match").text)
    files = data.pop("files", None)
    form = {"format": "auto", **data, "csrf": token}
    return client.post("/match", data=form, files=files, follow_redirects=False)


def _rows(html: str) -> list[tuple[str, str]]:
    """Return (indicator id, match count) of the matched-indicators table."""
    return re.findall(r'<tr data-stix-id="([^"]+)">.*?<td class="num">(\d+)</td>', html, flags=re.S)


PASTED = """Seen today:
update.evil-cdn.net resolved to 198.51.100.77 from 10.20.1.16
and www.example.org (harmless)
"""


def test_paste_shows_matches_linked_to_indicators(hub: Hub, shared: Shared) -> None:
    alice = _client(hub, "alice")
    page = alice.get("/match")
    assert page.status_code == 200 and 'href="/match" aria-current="page"' in page.text
    norsk = alice.get("/match", headers={"Accept-Language": "nb"}).text
    assert "Match observabler og logger" in norsk and "Gjenkjenn fra første linje" in norsk
    response = _match(alice, text=PASTED)
    assert response.status_code == 200, response.text
    html = response.text
    assert sorted(_rows(html)) == sorted(
        [(shared.domain, "1"), (shared.block, "1"), (shared.red, "1")]
    )
    assert f'<a href="/objects/{shared.domain}">CDN abuse</a>' in html
    assert "3 matches" in html and "3 indicators" in html
    assert "pasted.txt, line 2" in html  # where it occurred
    assert "<code>update.evil-cdn.net</code>" in html
    assert 'class="tlp tlp-red"' in html or "TLP:RED" in html
    # What was pasted stays in the form.
    assert "update.evil-cdn.net resolved to 198.51.100.77" in html.split("</textarea>")[0]


def test_nothing_matched_and_bad_input_are_clear(hub: Hub, shared: Shared) -> None:
    alice = _client(hub, "alice")
    none = _match(alice, text="www.example.org 192.0.2.1")
    assert none.status_code == 200
    assert 'id="no-matches"' in none.text and 'id="share-sightings"' not in none.text

    empty = _match(alice, text="   ")
    assert empty.status_code == 400 and 'id="m-text-error"' in empty.text

    bad = _match(alice, text="not json at all\n", format="eve")
    assert bad.status_code == 400, bad.text
    assert 'id="m-format-error"' in bad.text and "not json at all" in bad.text
    assert 'value="eve" selected' in bad.text

    mapping = _match(alice, text="a,b\n1,2\n", format="csv", map="a=nonsense")
    assert mapping.status_code == 400 and 'id="m-map-error"' in mapping.text
    assert 'value="a=nonsense"' in mapping.text

    unknown = _match(alice, text="x", format="cobol")
    assert unknown.status_code == 400 and 'id="m-format-error"' in unknown.text


def test_upload_plain_and_structured_gzip(hub: Hub, shared: Shared) -> None:
    bob = _client(hub, "bob")
    plain = _match(
        bob, files={"file": ("notes.txt", b"seen 198.51.100.9 and x.evil-cdn.net\n", "text/plain")}
    )
    assert plain.status_code == 200, plain.text
    assert sorted(_rows(plain.text)) == sorted([(shared.domain, "1"), (shared.block, "1")])
    assert "notes.txt, line 1" in plain.text

    zeek = gzip.compress((FIXTURES / "dns.log").read_bytes())
    response = _match(bob, files={"file": ("dns.log.gz", zeek, "application/gzip")})
    assert response.status_code == 200, response.text
    assert sorted(_rows(response.text)) == sorted([(shared.domain, "2"), (shared.block, "1")])
    assert "dns.log, line 10" in response.text and "<code>query</code>" in response.text

    broken = _match(bob, files={"file": ("x.gz", b"\x1f\x8bnot gzip", "application/gzip")})
    assert broken.status_code == 400 and 'id="m-file-error"' in broken.text


def test_less_access_fewer_matches(hub: Hub, shared: Shared) -> None:
    found = {}
    for user in ("alice", "bob", "carol"):
        response = _match(_client(hub, user), text=PASTED)
        assert response.status_code == 200
        found[user] = {i for i, _ in _rows(response.text)}
    assert found["alice"] == {shared.domain, shared.block, shared.red}
    assert found["bob"] == {shared.domain, shared.block}
    assert found["carol"] == set()
    # The id of the RED indicator appears nowhere on bob's page.
    assert shared.red not in _match(_client(hub, "bob"), text=PASTED).text


def test_same_matches_as_varsel_scan(hub: Hub, shared: Shared, tmp_path: Path) -> None:
    for fixture, fmt in (("dns.log", "auto"), ("proxy.csv", "csv"), ("syslog.txt", "text")):
        data = (FIXTURES / fixture).read_bytes()
        log = tmp_path / fixture
        log.write_bytes(data)
        chosen = [] if fmt == "auto" else ["--format", fmt]
        done = run(hub, "scan", str(log), "--as", "alice", "--no-cache", *chosen)
        assert done.returncode == 0, done.stderr
        cli = [json.loads(line) for line in done.stdout.splitlines()]
        page = _match(_client(hub, "alice"), format=fmt, files={"file": (fixture, data, "x/y")})
        assert page.status_code == 200, page.text
        rows = re.findall(
            r"<tr><td class=\"wrap-any\"><code>([^<]+)</code></td><td class=\"nowrap\">"
            r"[^<]+, line (\d+)</td><td><code>([^<]+)</code></td>.*?"
            r'href="/objects/([^"]+)"',
            page.text,
        )
        assert sorted(rows) == sorted(
            (m["value"], str(m["line"]), m["field"], m["indicator_id"]) for m in cli
        ), fixture
    assert rows or cli == []


def _share(client: TestClient, html: str, **data: str) -> Any:
    token = _TOKEN.search(html)
    assert token, "the results offer no share form"
    return client.post(
        "/match/sightings",
        data={"csrf": csrf_of(html), "token": token.group(1), **data},
        follow_redirects=False,
    )


def test_share_sightings_once_visible_via_api(hub: Hub, shared: Shared) -> None:
    bob = _client(hub, "bob")
    results = _match(bob, text=PASTED)
    assert 'id="share-sightings"' in results.text and "Share 2 sightings" in results.text
    first = _share(bob, results.text, collection=shared.sightings, tlp="green")
    assert first.status_code == 201, first.text
    assert "2 sightings shared into Sightings" in first.text
    again = _share(bob, results.text, collection=shared.sightings, tlp="green")
    assert again.status_code == 200, again.text
    assert "2 sightings had been shared before" in again.text
    # The same input matched again and shared: still the same two sightings.
    rerun = _share(bob, _match(bob, text=PASTED).text, collection=shared.sightings, tlp="green")
    assert rerun.status_code in (200, 201), rerun.text

    with hub.session() as s:
        ids = s.scalars(
            select(StixObject.stix_id).where(
                StixObject.type == "sighting", StixObject.is_latest.is_(True)
            )
        ).all()
        assert len(ids) == 2
        audits = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "objects.share")
        )
        assert audits is not None and audits >= 4  # alice's share and bob's three

    api = TestClient(hub.app)
    headers = {"Authorization": f"Bearer {shared.tokens['alice']}"}
    body = api.get(
        f"/taxii2/hub/collections/{shared.sightings}/objects/",
        headers={**headers, "Accept": "application/taxii+json;version=2.1"},
        params={"match[type]": "sighting"},
    ).json()
    sightings = body["objects"]
    assert {o["sighting_of_ref"] for o in sightings} == {shared.domain, shared.block}
    assert all(o["where_sighted_refs"] == [identity_id("Svea")] for o in sightings)
    # Each is at least as strict as its indicator: AMBER, though GREEN was asked for.
    assert all(o["object_marking_refs"] == [TLP.AMBER.stix_id] for o in sightings)
    assert all(o["count"] == 1 for o in sightings)


def test_forged_or_foreign_tokens_share_nothing(hub: Hub, shared: Shared) -> None:
    alice = _client(hub, "alice")
    results = _match(alice, text=PASTED)
    token = _TOKEN.search(results.text)
    assert token
    # alice's result posted by bob: refused (the token names alice), nothing shared.
    bob = _client(hub, "bob")
    bob_page = bob.get("/match").text
    refused = bob.post(
        "/match/sightings",
        data={"csrf": csrf_of(bob_page), "token": token.group(1), "collection": shared.sightings},
    )
    assert refused.status_code == 400 and 'id="m-share-error"' in refused.text
    # A tampered token (bob adding the RED indicator) fails the signature.
    payload, rest = token.group(1).split(".", 1)
    forged = base64.urlsafe_b64encode(b'{"u":2}').decode().rstrip("=") + "." + rest
    assert (
        bob.post(
            "/match/sightings",
            data={"csrf": csrf_of(bob_page), "token": forged, "collection": shared.sightings},
        ).status_code
        == 400
    )
    # A collection alice may not write, or RED: error beside the field, the summary kept.
    outside = alice.post(
        "/match/sightings",
        data={"csrf": csrf_of(results.text), "token": token.group(1), "collection": "nope"},
    )
    assert outside.status_code == 400 and "s-collection-error" in outside.text
    assert 'id="matched-indicators"' in outside.text
    red = _share(alice, results.text, collection=shared.sightings, tlp="red")
    assert red.status_code == 400 and "s-tlp-error" in red.text
    # Without CSRF: refused.
    assert (
        alice.post(
            "/match/sightings", data={"token": token.group(1), "collection": shared.sightings}
        ).status_code
        == 403
    )
    with hub.session() as s:
        assert not s.scalars(select(StixObject.id).where(StixObject.type == "sighting")).all()


def test_red_indicator_sighting_stays_red(hub: Hub, shared: Shared) -> None:
    alice = _client(hub, "alice")
    done = _share(alice, _match(alice, text="10.20.1.16").text, collection=shared.sightings)
    assert done.status_code == 201, done.text
    with hub.session() as s:
        row = s.execute(
            select(StixObject.tlp, StixObject.raw).where(StixObject.type == "sighting")
        ).one()
    assert row.tlp == "red"
    assert json.loads(row.raw)["sighting_of_ref"] == shared.red
    # bob cannot read it.
    api = TestClient(hub.app)
    body = api.get(
        f"/taxii2/hub/collections/{shared.sightings}/objects/",
        headers={
            "Authorization": f"Bearer {shared.tokens['bob']}",
            "Accept": "application/taxii+json;version=2.1",
        },
    )
    assert shared.red not in body.text


def _raw_post(hub: Hub, cookie: str, length: int) -> tuple[int, str, int, dict[str, str]]:
    """POST /match declaring ``length`` bytes; return status, body, receive calls, headers."""
    calls = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/match",
        "raw_path": b"/match",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"multipart/form-data; boundary=xyz"),
            (b"content-length", str(length).encode()),
            (b"cookie", f"{COOKIE}={cookie}".encode()),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "app": hub.app,
    }
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, hub.app(scope, receive, send)).result()  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], body.decode(), calls, headers


def test_upload_too_large_refused_before_reading(hub: Hub, shared: Shared) -> None:
    alice = _client(hub, "alice")
    cookie = alice.cookies.get(COOKIE)
    assert cookie
    limit = hub.settings.max_content_length
    status, body, calls, headers = _raw_post(hub, cookie, 50 * limit)
    assert status == 413 and calls == 0, (status, calls)
    assert 'id="m-file-error"' in body and str(limit) in body
    assert headers.get("connection") == "close"
    # Just over: the same page, before reading.
    status, body, calls, _ = _raw_post(hub, cookie, limit + 64 * 1024 + 1)
    assert status == 413 and calls == 0 and 'id="m-file-error"' in body

    # A file over the limit sent with a smaller form still in bounds is refused after reading
    # at most the limit; what was typed stays.
    big = b"1" * (limit + 10)
    response = _match(alice, text="x.evil-cdn.net", files={"file": ("big.log", big, "x/y")})
    assert response.status_code == 413 or response.status_code == 400
    assert 'id="m-file-error"' in response.text and "x.evil-cdn.net</textarea>" in response.text


@pytest.mark.browser
def test_paste_match_and_share_in_a_real_browser(
    hub: Hub, shared: Shared, live: str, chromium: Any
) -> None:
    from tests.web.conftest import browser_sign_in, shot

    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    try:
        browser_sign_in(page, live, "bob")
        page.get_by_role("link", name="Match", exact=True).click()
        page.wait_for_url(f"{live}/match")
        page.get_by_label("Observables or log lines").fill(PASTED)
        page.get_by_role("button", name="Match", exact=True).click()
        page.wait_for_load_state()
        table = page.locator("#matched-indicators")
        assert table.is_visible()
        assert {
            str(row.get_attribute("data-stix-id"))
            for row in table.locator("tr[data-stix-id]").all()
        } == {shared.domain, shared.block}
        assert page.locator("#match-rows tbody tr").count() == 2
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, "match", hub.backend)
        # At phone width the results fit (their tables scroll inside their own box).
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate(
            "[...document.querySelectorAll('main > *')]"
            ".every(e => e.getBoundingClientRect().right <= window.innerWidth + 0.5)"
        )
        shot(page, "match-390", hub.backend)
        page.set_viewport_size({"width": 1280, "height": 900})

        page.get_by_label("Collection").select_option(label="Sightings")
        page.get_by_role("button", name="Share 2 sightings").click()
        page.wait_for_load_state()
        assert "2 sightings shared into Sightings" in page.locator("#sightings-shared").inner_text()
        shot(page, "match-shared", hub.backend)
        page.locator("#sightings-shared a").first.click()
        page.wait_for_load_state()
        assert "/objects/sighting--" in page.url
    finally:
        context.close()
    with hub.session() as s:
        assert len(s.scalars(select(StixObject.id).where(StixObject.type == "sighting")).all()) == 2
