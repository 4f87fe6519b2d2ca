"""A small world for the web tests, a browser-like client that signs in, and real Chromium."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = f.PASSWORD) -> None:
    """Sign ``client`` in through the sign-in form, as a browser would."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def post_form(
    client: TestClient, page: str, action: str, data: dict[str, object], **kwargs: object
) -> object:
    """Open ``page``, then POST ``data`` to ``action`` with the page's CSRF token."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**data, "csrf": token}, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


@dataclass
class World:
    """alice (Fjordnett, NO, analyst) and bob (Svea, SE, org-admin) share community Nordic;
    carol (Outsider, US) is in none; root is a hub-admin at Fjordnett."""

    collection_id: str
    tokens: dict[str, str]


@pytest.fixture
def world(hub: Hub) -> World:
    """Create the web tests' world and return its collection and API tokens."""
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.org(s, "Svea", "SE")
        f.org(s, "Outsider", "US", kind="international-partner")
        f.user(s, "alice", "Fjordnett")
        f.user(s, "bob", "Svea", role="org-admin")
        f.user(s, "carol", "Outsider")
        f.user(s, "root", "Fjordnett", role="hub-admin")
        f.community(s, "Nordic", ["Fjordnett", "Svea"])
        coll = f.collection(s, "Indicators", "Nordic", default_tlp="amber", alias="indicators")
        tokens = {name: f.token(s, name) for name in ("alice", "bob", "carol", "root")}
        s.commit()
        return World(collection_id=coll.id, tokens=tokens)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Yield a headless Chromium; fail under CI, skip elsewhere, when it is not installed."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; run scripts/ensure-chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: a missing browser fails the run)", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def shot(page: Any, name: str, backend: str, full_page: bool = True) -> None:
    """Save a screenshot of ``page`` to artifacts/screenshots/ (once: on SQLite only)."""
    # One set of pictures is enough: the pages are the same on both databases.
    if backend != "sqlite":
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def browser_sign_in(page: Any, live: str, username: str) -> None:
    """Sign ``username`` in through the sign-in page in a real browser."""
    page.goto(f"{live}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live}/")
