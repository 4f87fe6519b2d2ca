"""Layout, accessibility, keyboard and forms in real headless Chromium against a live hub.

Every page of ``PAGES`` is opened at 390, 1280 and 1920 px: the page must not scroll sideways
and no element may stick out of the window (wide tables scroll inside their own box). axe-core
(vendored offline in tests/web/vendor/, injected into the page) must find no serious or critical
WCAG 2.1 A/AA violation in the light and the dark theme. The shortcuts, the menu without
script and a refused form (error beside the field, value kept, focus on it) are driven as a
person would. Screenshots go to artifacts/screenshots/<page>-<width>.png; the README's to
docs/screenshots/.

A page added to the interface is one more line in ``PAGES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import ROOT, browser_sign_in, shot
from varsel.incidents import service as incidents
from varsel.sharing import ingest as ingesting
from varsel.sharing.tlp import TLP

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WIDTHS = (390, 1280, 1920)  # screenshots
CHECK_WIDTHS = (390, 768, 1024, 1280, 1440, 1920)  # and the widths in between, checked only
DOCS = ROOT / "docs" / "screenshots"


@dataclass(frozen=True)
class Page:
    """A page to check: its screenshot name, address (``{object}``, ``{incident}`` filled in)
    and who opens it (None: signed out)."""

    name: str
    path: str
    user: str | None = "root"


# Every main page. Pages other parts add (search, look-up, match, notifications…) go here.
PAGES = [
    Page("login", "/login", None),
    Page("home", "/"),
    Page("objects", "/objects"),
    Page("object", "/objects/{object}"),
    Page("share", "/share", "alice"),
    Page("share-misp", "/share/misp", "alice"),
    Page("exports", "/exports", "alice"),
    Page("incidents", "/incidents", "alice"),
    Page("incident", "/incidents/{incident}", "alice"),
    Page("obligations", "/incidents/{incident}/obligations", "alice"),
    Page("clock", "/clock", "alice"),
    Page("account", "/account", "alice"),
    Page("tokens", "/admin/tokens", "alice"),
    Page("clearances", "/clearances"),
    Page("clearances-requests", "/clearances/requests"),
    Page("clearances-expiring", "/clearances/expiring"),
    Page("admin", "/admin"),
    Page("admin-users", "/admin/users"),
    Page("admin-communities", "/admin/communities"),
    Page("admin-collections", "/admin/collections"),
    Page("admin-misp", "/admin/misp"),
    Page("admin-audit", "/admin/audit"),
    Page("admin-federation", "/admin/federation"),
    Page("search", "/search?q=198.51.100.1", "alice"),
    Page("lookup", "/lookup", "alice"),
    Page("share-import", "/share/import", "alice"),
    Page("match", "/match", "alice"),
    Page("notifications", "/notifications", "alice"),
    Page("notification-settings", "/notifications/settings", "alice"),
    Page("connect-misp", "/connect/misp", "alice"),
]

# Elements sticking out of the window, outside any box that scrolls or clips them; hidden
# on purpose (the skip link waits off-screen until focused) is not "sticking out".
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll" || o === "hidden" || o === "clip") return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest(".skip, .sr-only, .menu-toggle")) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if ((box.right > width + 1 || box.left < -1) && !clipped(el)) {
      const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + "." + el.className;
      out.push(`${name} ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  const scroll = document.documentElement.scrollWidth;
  return {scroll: scroll, inner: window.innerWidth, out: out.slice(0, 8)};
}"""

_AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
  });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ` + v.nodes.slice(0, 3)
      .map((n) => n.target.join(" ") + " — " + (n.failureSummary || "").replace(/\\s+/g, " "))
      .join(" | "));
}"""


def _world(hub: Hub) -> dict[str, str]:
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.org(s, "Svea Moln AB", "SE")
        f.user(s, "alice", "Fjordnett AS")
        f.user(s, "bob", "Svea Moln AB", role="org-admin")
        f.user(s, "root", "Fjordnett AS", role="hub-admin")
        f.community(s, "Nordic", ["Fjordnett AS", "Svea Moln AB"])
        coll = f.collection(s, "Nordic indicators", "Nordic", default_tlp="amber")
        # Long values that must break rather than push the page sideways.
        long_url = "https://" + "very-long-label-" * 4 + "example.test/" + "path/" * 30
        objs = [
            f.indicator(tlp=TLP.AMBER, value=f"198.51.100.{i}", name=f"Scanner 198.51.100.{i}")
            for i in range(12)
        ]
        objs.append(f.indicator(tlp=TLP.GREEN, name=long_url, description=long_url * 2))
        ingesting.ingest(
            session=s, collection=coll, principal=f.principal(s, "bob"), body=f.envelope(*objs)
        )
        incident = incidents.create(
            session=s,
            principal=f.principal(s, "alice"),
            title="Ransomware at the ferry operator",
            summary="Hypervisors encrypted; " + "a1b2c3d4" * 12,
            severity="high",
        )
        s.commit()
        return {"object": objs[-1]["id"], "incident": str(incident.id)}


def _contexts(chromium: Any, live: str, **options: Any) -> dict[str | None, Any]:
    """Return one signed-in browser context per user of PAGES (None: signed out)."""
    contexts: dict[str | None, Any] = {}
    for user in dict.fromkeys(p.user for p in PAGES):
        context = chromium.new_context(viewport={"width": 1280, "height": 900}, **options)
        if user:
            browser_sign_in(context.new_page(), live, user)
        contexts[user] = context
    return contexts


def _tab(contexts: dict[str | None, Any], user: str | None) -> Any:
    context = contexts[user]
    return context.pages[0] if context.pages else context.new_page()


def _open(contexts: dict[str | None, Any], live: str, page: Page, ids: dict[str, str]) -> Any:
    tab = _tab(contexts, page.user)
    response = tab.goto(live + page.path.format(**ids))
    assert response is not None, page.name
    assert response.status == 200, (page.name, response.status)
    return tab


def test_no_page_scrolls_sideways_at_390_1280_or_1920(hub: Hub, live: str, chromium: Any) -> None:
    ids = _world(hub)
    contexts = _contexts(chromium, live)
    problems = []
    try:
        for page in PAGES:
            for width in CHECK_WIDTHS:
                tab = _tab(contexts, page.user)
                tab.set_viewport_size({"width": width, "height": 900})
                _open(contexts, live, page, ids)
                found = tab.evaluate(_OVERFLOW)
                if found["scroll"] > found["inner"] or found["out"]:
                    problems.append(f"{page.name} at {width}px: {found}")
                if width in WIDTHS:
                    shot(tab, f"{page.name}-{width}", hub.backend)
        # The admin's header stays on one line, every link, the search box and notifications
        # in sight, from 1100 px up (1280 and 1440 px checked).
        tab = contexts["root"].pages[0]
        for width in (1280, 1440):
            tab.set_viewport_size({"width": width, "height": 900})
            tab.goto(f"{live}/admin")
            header = tab.locator("header.top").bounding_box()
            assert header is not None and header["height"] < 70, (width, header)
            assert tab.locator("header input[type=search]").is_visible()
            assert tab.locator("header nav").is_visible()
            assert tab.locator("#bell").is_visible()
    finally:
        for context in contexts.values():
            context.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violation(hub: Hub, live: str, chromium: Any, scheme: str) -> None:
    ids = _world(hub)
    # The hub's CSP forbids the injected script; only these checking contexts bypass it.
    contexts = _contexts(chromium, live, bypass_csp=True, color_scheme=scheme)
    problems = []
    try:
        for page in PAGES:
            tab = _open(contexts, live, page, ids)
            tab.add_script_tag(path=str(AXE))
            problems += [f"{page.name} [{scheme}]: {v}" for v in tab.evaluate(_AXE_RUN)]
            if scheme == "dark":
                shot(tab, f"{page.name}-1280-dark", hub.backend)
    finally:
        for context in contexts.values():
            context.close()
    assert not problems, "\n".join(problems)


def test_keyboard_shortcuts_search_and_navigate(hub: Hub, live: str, chromium: Any) -> None:
    _world(hub)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    try:
        browser_sign_in(tab, live, "alice")
        # "g o" goes to the objects; "/" focuses the search box there.
        tab.keyboard.press("g")
        tab.keyboard.press("o")
        tab.wait_for_url(f"{live}/objects")
        tab.keyboard.press("/")
        # The header's search box if the page has one, else the objects filter.
        assert tab.evaluate("document.activeElement.type") == "search"
        # Typing in a field is typing, not a shortcut.
        tab.keyboard.type("gh")
        assert tab.url == f"{live}/objects"
        assert tab.evaluate("document.activeElement.value") == "gh"
        # "g i" to the incidents, "g h" home; "/" from a page without a search box.
        tab.locator("h1").click()
        tab.keyboard.press("g")
        tab.keyboard.press("i")
        tab.wait_for_url(f"{live}/incidents")
        tab.keyboard.press("g")
        tab.keyboard.press("h")
        tab.wait_for_url(f"{live}/")
        tab.keyboard.press("/")
        tab.wait_for_function("document.activeElement && document.activeElement.type === 'search'")
        # "?" shows the list of shortcuts.
        tab.locator("h1").click()
        assert not tab.locator("#shortcuts dl").is_visible()
        tab.keyboard.press("?")
        assert tab.locator("#shortcuts dl").is_visible()
        assert "g" in tab.locator("#shortcuts").inner_text()
    finally:
        context.close()


def test_menu_and_forms_work_without_script_at_390(hub: Hub, live: str, chromium: Any) -> None:
    _world(hub)
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, java_script_enabled=False
    )
    tab = context.new_page()
    try:
        browser_sign_in(tab, live, "alice")
        # The menu is folded; its label opens it, and its links work.
        assert not tab.locator("header nav").is_visible()
        tab.locator("label.menu-label").click()
        assert tab.locator("header nav").is_visible()
        tab.locator("header nav").get_by_role("link", name="Share").click()
        tab.wait_for_url(f"{live}/share")
        # A refused form without script: the message beside the field, the value kept, focus.
        tab.get_by_label("Kind of value").select_option("ipv4")
        tab.get_by_label("Value", exact=True).fill("999.1.1.1")
        tab.get_by_label("Name (optional)").fill("Kept name")
        tab.get_by_role("button", name="Share indicator").click()
        tab.wait_for_load_state()
        assert "not an IPv4 address" in tab.locator("#i-value-error").inner_text()
        assert tab.input_value("#i-value") == "999.1.1.1"
        assert tab.input_value("#i-name") == "Kept name"
        assert tab.evaluate("document.activeElement.id") == "i-value"
        shot(tab, "share-error-390-noscript", hub.backend)
    finally:
        context.close()


def test_a_refused_form_shows_the_error_beside_the_field(
    hub: Hub, live: str, chromium: Any
) -> None:
    _world(hub)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    try:
        browser_sign_in(tab, live, "alice")
        tab.goto(f"{live}/share")
        tab.get_by_label("Kind of value").select_option("domain")
        tab.get_by_label("Value", exact=True).fill("not a domain")
        tab.get_by_label("Description (optional)").fill("typed with care")
        tab.get_by_role("button", name="Share indicator").click()
        tab.wait_for_load_state()
        value = tab.locator("#i-value")
        assert value.get_attribute("aria-invalid") == "true"
        assert "i-value-error" in str(value.get_attribute("aria-describedby"))
        assert "not a domain name" in tab.locator("#i-value-error").inner_text()
        assert value.input_value() == "not a domain"
        assert tab.input_value("#i-description") == "typed with care"
        assert tab.evaluate("document.activeElement.id") == "i-value"
        assert tab.locator("#indicator-form .alert-error").count() == 0  # beside, not on top
        shot(tab, "share-error", hub.backend)

        # TLP:RED without recipients: the error sits by the users field.
        tab.get_by_label("Kind of value").select_option("ipv4")
        tab.get_by_label("Value", exact=True).fill("192.0.2.10")
        tab.get_by_label("TLP marking").select_option("red")
        tab.get_by_role("button", name="Share indicator").click()
        tab.wait_for_load_state()
        assert tab.locator("#i-rusers-error").is_visible()
        assert tab.evaluate("document.activeElement.id") == "i-rusers"
        assert tab.input_value("#i-value") == "192.0.2.10"

        # The password form: the repeat that differs.
        tab.goto(f"{live}/account")
        tab.get_by_label("Current password").fill(f.PASSWORD)
        tab.get_by_label("New password", exact=True).fill("a new long password 1")
        tab.get_by_label("Repeat the new password").fill("a new long password 2")
        tab.get_by_role("button", name="Change password").click()
        tab.wait_for_load_state()
        assert "differ" in tab.locator("#a-repeat-error").inner_text()
        assert tab.evaluate("document.activeElement.id") == "a-repeat"
    finally:
        context.close()


def test_readme_screenshots_light_and_dark(hub: Hub, live: str, chromium: Any) -> None:
    ids = _world(hub)
    if hub.backend != "sqlite":
        pytest.skip("one set of README pictures, taken on SQLite")
    DOCS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        for width in (390, 1280):
            context = chromium.new_context(
                viewport={"width": width, "height": 900}, color_scheme=scheme
            )
            tab = context.new_page()
            try:
                browser_sign_in(tab, live, "alice")
                for name, path in (("home", "/"), ("incident", f"/incidents/{ids['incident']}")):
                    tab.goto(live + path)
                    target = DOCS / f"{name}-{width}-{scheme}.png"
                    tab.screenshot(path=str(target), full_page=width == 390)
                    assert target.stat().st_size > 1000
            finally:
                context.close()


def test_the_favicon_is_linked_and_served(hub: Hub, live: str, chromium: Any) -> None:
    context = chromium.new_context()
    tab = context.new_page()
    try:
        tab.goto(f"{live}/login")
        href = tab.locator("link[rel=icon]").get_attribute("href")
        assert href == "/static/favicon.svg"
        response = tab.request.get(live + href)
        assert response.status == 200
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in response.body()
    finally:
        context.close()
