"""The security officers' pages: register, recognition requests, expiring soon, on both databases.

bob is Svea's (SE) security officer, nsm an org-admin of the Norwegian authority NSM, root a
hub-admin, alice (Fjordnett, NO) an analyst who must not reach these pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, browser_sign_in, csrf_of, shot, sign_in

# The headless Chromium fixture of the browser tests, shared rather than launched twice.
from varsel.audit.models import AuditEvent
from varsel.clearances.models import Clearance, RecognitionRequest
from varsel.clearances.notices import send_expiry_warnings
from varsel.config import Settings
from varsel.web import clearances

PAGES = ["/clearances", "/clearances/requests", "/clearances/expiring"]
TODAY = datetime.now(UTC).date()


@pytest.fixture(autouse=True)
def _accredited(configure: Callable[..., Settings]) -> None:
    # Accredited up to SECRET, with only the packaged agreements.
    configure(accreditation_ceiling="NO:HEMMELIG")
    configure(security_agreements=None)


@pytest.fixture
def officers(hub: Hub, world: World) -> None:
    """Add the Norwegian authority NSM and its org-admin nsm to the web world."""
    with hub.session() as s:
        f.org(s, "NSM", "NO", kind="authority")
        f.user(s, "nsm", "NSM", role="org-admin")
        s.commit()


def _actions(hub: Hub) -> list[str]:
    with hub.session() as s:
        return list(s.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def _post(client: TestClient, page: str, action: str, data: dict[str, Any]) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**data, "csrf": token}, follow_redirects=False)


def _ok(response: Any, notice: str) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith(f"?notice={notice}")


def _reasons(html: str) -> list[str]:
    block = re.search(r'<ol class="reasons">(.*?)</ol>', html, re.S)
    assert block, "no decision on the page"
    return re.findall(r"<li>(.*?)</li>", block.group(1), re.S)


def _add_person_and_clearance(client: TestClient, until: date) -> tuple[int, int]:
    _ok(
        _post(
            client,
            "/clearances",
            "/clearances/persons",
            {"name": "Eva Engineer", "nationality": "se", "employer": "Svea", "username": ""},
        ),
        "person_added",
    )
    person_id = int(re.findall(r'data-person-id="(\d+)"', client.get("/clearances").text)[-1])
    _ok(
        _post(
            client,
            "/clearances",
            "/clearances/add",
            {
                "person": person_id,
                "country": "SE",
                "scope": "national",
                "level": "Hemlig",
                "authority": "Säkerhetspolisen",
                "valid_from": str(TODAY - timedelta(days=400)),
                "valid_until": str(until),
            },
        ),
        "clearance_added",
    )
    clearance_id = int(re.findall(r'data-clearance-id="(\d+)"', client.get("/clearances").text)[-1])
    return person_id, clearance_id


def test_pages_render_for_officers_and_are_closed_to_analysts(
    hub: Hub, world: World, officers: None
) -> None:
    with TestClient(hub.app) as anonymous:
        response = anonymous.get("/clearances", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    expected = {"alice": 403, "bob": 200, "nsm": 200, "root": 200}
    for username, status in expected.items():
        with TestClient(hub.app) as client:
            sign_in(client, username)
            for page in PAGES:
                response = client.get(page)
                assert response.status_code == status, (username, page)
            home = client.get("/").text
            assert ('href="/clearances"' in home) is (status == 200), username
            if status == 200:
                register = client.get("/clearances").text
                # The rules panel: the ceiling, the agreements and the [verify] badges.
                assert "accredited up to grade 3 (SECRET)" in register
                assert "General Security Agreement between Denmark, Finland" in register
                assert "[verify]" in register and "KONFIDENSIELT" in register
            else:
                assert "You may not do this" in response.text
                # Nor can an analyst write through the forms.
                token = csrf_of(home)
                denied = client.post(
                    "/clearances/persons",
                    data={"name": "X", "nationality": "NO", "employer": "Fjordnett", "csrf": token},
                    follow_redirects=False,
                )
                assert denied.status_code == 403
    assert "clearance.person.add" not in _actions(hub)


def test_register_add_verify_check_revoke_and_recognition(
    hub: Hub, world: World, officers: None
) -> None:
    with TestClient(hub.app) as bob:
        sign_in(bob, "bob")
        person_id, clearance_id = _add_person_and_clearance(bob, TODAY + timedelta(days=20))
        page = bob.get("/clearances").text
        assert "Eva Engineer" in page and "Hemlig" in page and "Europe/Stockholm time" in page
        assert "Declared" in page and "declared by bob@Svea" in page

        # A declared clearance counts for nothing; the reasons say so, in full.
        checked = _post(
            bob, "/clearances", "/clearances/check", {"person": person_id, "level": "SE:HEMLIG"}
        )
        assert checked.status_code == 200 and "REFUSED: Eva Engineer" in checked.text
        assert any("only declared" in r for r in _reasons(checked.text))

        # bob registered it, so a second officer checks the certificate (two persons).
        own = _post(bob, "/clearances", "/clearances/verify", {"clearance_id": clearance_id})
        assert own.status_code == 403 and "registered this clearance" in own.text
        with hub.session() as s:
            f.user(s, "berit", "Svea", role="org-admin")
            s.commit()
        with TestClient(hub.app) as berit:
            sign_in(berit, "berit")
            _ok(
                _post(berit, "/clearances", "/clearances/verify", {"clearance_id": clearance_id}),
                "clearance_verified",
            )
        assert "verified by berit@Svea" in bob.get("/clearances").text
        again = _post(bob, "/clearances", "/clearances/verify", {"clearance_id": clearance_id})
        assert again.status_code == 409 and "already verified" in again.text

        allowed = _post(
            bob, "/clearances", "/clearances/check", {"person": person_id, "level": "SE:HEMLIG"}
        )
        reasons = _reasons(allowed.text)
        assert "ALLOWED: Eva Engineer may see SE:HEMLIG" in allowed.text
        assert reasons[-1].startswith("Decision: ALLOWED") and len(reasons) >= 4
        norway = _post(
            bob,
            "/clearances",
            "/clearances/check",
            {"person": person_id, "level": "NO:KONFIDENSIELT", "community": "Nordic"},
        )
        assert "REFUSED" in norway.text
        assert any("has not recognised this clearance" in r for r in _reasons(norway.text))
        bad = _post(bob, "/clearances", "/clearances/check", {"person": person_id, "level": "NO"})
        assert bad.status_code == 400 and "SCHEME:LEVEL" in bad.text

        # Ask Norway to recognise it; the request shows as sent.
        _ok(
            _post(
                bob,
                "/clearances/requests",
                "/clearances/requests",
                {"clearance_id": clearance_id, "country": "NO", "note": "Oslo SOC shifts"},
            ),
            "recognition_requested",
        )
        sent = bob.get("/clearances/requests").text
        assert "Oslo SOC shifts" in sent and "Pending" in sent and "/requests/decide" not in sent

    with hub.session() as s:
        request_ids = list(s.execute(select(RecognitionRequest.id)).scalars())
    with TestClient(hub.app) as nsm:
        sign_in(nsm, "nsm")
        received = nsm.get("/clearances/requests").text
        assert f'data-request-id="{request_ids[0]}"' in received and "Oslo SOC shifts" in received
        # NSM sees the request and, to decide it, whose clearance it is (docs/access-policy.md).
        assert "Eva Engineer" in nsm.get("/clearances").text
        no_reason = _post(
            nsm,
            "/clearances/requests",
            "/clearances/requests/decide",
            {"request_id": request_ids[0], "decision": "refuse", "reason": ""},
        )
        assert no_reason.status_code == 400 and "a refusal needs a reason" in no_reason.text
        _ok(
            _post(
                nsm,
                "/clearances/requests",
                "/clearances/requests/decide",
                {
                    "request_id": request_ids[0],
                    "decision": "refuse",
                    "reason": "certificate unclear",
                },
            ),
            "recognition_refused",
        )
    with TestClient(hub.app) as bob:
        sign_in(bob, "bob")
        assert "certificate unclear" in bob.get("/clearances/requests").text
        _ok(
            _post(
                bob,
                "/clearances/requests",
                "/clearances/requests",
                {"clearance_id": clearance_id, "country": "NO"},
            ),
            "recognition_requested",
        )
    with hub.session() as s:
        second = max(s.execute(select(RecognitionRequest.id)).scalars())
    with TestClient(hub.app) as nsm:
        sign_in(nsm, "nsm")
        _ok(
            _post(
                nsm,
                "/clearances/requests",
                "/clearances/requests/decide",
                {"request_id": second, "decision": "approve"},
            ),
            "recognition_approved",
        )
    with TestClient(hub.app) as bob:
        sign_in(bob, "bob")
        page = bob.get("/clearances").text
        assert "Recognised" in page and "recognised by nsm@NSM" in page
        norway = _post(
            bob,
            "/clearances",
            "/clearances/check",
            {"person": person_id, "level": "NO:KONFIDENSIELT", "community": "Nordic"},
        )
        assert "ALLOWED" in norway.text
        assert any("authority recognised it (nsm@NSM" in r for r in _reasons(norway.text))

        # Expiring soon: within 30 days, not 7.
        soon = bob.get("/clearances/expiring").text
        within_30 = soon.split('id="within-30"')[1].split("</section>")[0]
        within_7 = soon.split('id="within-7"')[1].split("</section>")[0]
        assert f'data-clearance-id="{clearance_id}"' in within_30
        assert "data-clearance-id" not in within_7

        no_reason = _post(bob, "/clearances", "/clearances/revoke", {"clearance_id": clearance_id})
        assert no_reason.status_code == 400 and "say why" in no_reason.text
        _ok(
            _post(
                bob,
                "/clearances",
                "/clearances/revoke",
                {"clearance_id": clearance_id, "reason": "left the company"},
            ),
            "clearance_revoked",
        )
        page = bob.get("/clearances").text
        assert "left the company" in page and 'class="revoked"' in page
        after = _post(
            bob, "/clearances", "/clearances/check", {"person": person_id, "level": "SE:HEMLIG"}
        )
        assert "REFUSED" in after.text and any("revoked" in r for r in _reasons(after.text))

    actions = _actions(hub)
    for action in (
        "clearance.person.add",
        "clearance.add",
        "clearance.verify",
        "clearance.check",
        "clearance.recognition.request",
        "clearance.recognition.refuse",
        "clearance.recognition.approve",
        "clearance.revoke",
    ):
        assert action in actions, action
    # Failed attempts wrote nothing: one verify, one revoke, one refusal.
    assert actions.count("clearance.verify") == 1 and actions.count("clearance.revoke") == 1
    assert actions.count("clearance.recognition.refuse") == 1
    assert actions.count("clearance.check") == 5  # the malformed label decided nothing


def test_officers_see_and_change_only_their_own_staff(
    hub: Hub, world: World, officers: None
) -> None:
    with TestClient(hub.app) as root:
        sign_in(root, "root")
        _ok(
            _post(
                root,
                "/clearances",
                "/clearances/persons",
                {"name": "Ola Nordmann", "nationality": "NO", "employer": "Fjordnett"},
            ),
            "person_added",
        )
        person_id = int(re.findall(r'data-person-id="(\d+)"', root.get("/clearances").text)[0])
        _ok(
            _post(
                root,
                "/clearances",
                "/clearances/add",
                {
                    "person": person_id,
                    "country": "NO",
                    "scope": "national",
                    "level": "HEMMELIG",
                    "authority": "NSM",
                    "valid_from": str(TODAY - timedelta(days=10)),
                    "valid_until": str(TODAY + timedelta(days=5)),
                },
            ),
            "clearance_added",
        )
        bad_date = _post(
            root,
            "/clearances",
            "/clearances/add",
            {"person": person_id, "country": "NO", "level": "HEMMELIG", "authority": "NSM"},
        )
        assert bad_date.status_code == 400 and "YYYY-MM-DD" in bad_date.text
    with hub.session() as s:
        clearance_id = s.execute(select(Clearance.id)).scalar_one()
        # The expiry warning run records a notice for the hub-admins (Fjordnett has no officer).
        sent = send_expiry_warnings(session=s, today=TODAY)
        s.commit()
    assert [n.days_ahead for n in sent] == [7]
    with TestClient(hub.app) as root:
        sign_in(root, "root")
        soon = root.get("/clearances/expiring").text
        assert f'data-clearance-id="{clearance_id}"' in soon.split('id="within-7"')[1]
        notices = soon.split('id="notices"')[1]
        assert "7 days ahead" in notices and "Ola Nordmann" in notices and "Outbox" in notices
    with TestClient(hub.app) as bob:
        sign_in(bob, "bob")
        assert "Ola Nordmann" not in bob.get("/clearances").text
        assert "Ola Nordmann" not in bob.get("/clearances/expiring").text
        for action, data in (
            ("/clearances/verify", {"clearance_id": clearance_id}),
            ("/clearances/revoke", {"clearance_id": clearance_id, "reason": "x"}),
            ("/clearances/check", {"person": person_id, "level": "NO:BEGRENSET"}),
        ):
            response = _post(bob, "/clearances", action, data)
            assert response.status_code == 404, action
        foreign = _post(
            bob,
            "/clearances",
            "/clearances/persons",
            {"name": "Spy", "nationality": "NO", "employer": "Fjordnett"},
        )
        assert foreign.status_code == 403
    with hub.session() as s:
        assert s.get(Clearance, clearance_id).revoked_at is None  # type: ignore[union-attr]


def test_every_clearance_post_refuses_a_missing_or_foreign_csrf_token(
    hub: Hub, world: World
) -> None:
    posts = [r.path for r in clearances.router.routes if "POST" in getattr(r, "methods", set())]  # type: ignore[attr-defined]
    assert len(posts) == 7
    with TestClient(hub.app) as client:
        sign_in(client, "root")
        token = csrf_of(client.get("/clearances").text)
        for path in posts:
            missing = client.post(path, data={"name": "x"}, follow_redirects=False)
            assert missing.status_code == 403, path
            wrong = client.post(path, data={"csrf": "0" * 64}, follow_redirects=False)
            assert wrong.status_code == 403, path
            cross = client.post(
                path,
                data={"csrf": token},
                headers={"origin": "https://evil.example"},
                follow_redirects=False,
            )
            assert cross.status_code == 403, path
    assert not [a for a in _actions(hub) if a.startswith("clearance.")]


@pytest.mark.browser
def test_register_page_in_a_real_browser(hub: Hub, live: str, chromium: Any) -> None:
    from varsel.clearances import service

    with hub.session() as s:
        f.org(s, "Svea Moln AB", "SE")
        f.org(s, "NSM", "NO", kind="authority")
        f.community(s, "Nordic", ["Svea Moln AB"])
        f.user(s, "bob", "Svea Moln AB", role="org-admin")
        f.user(s, "eva", "Svea Moln AB", password=None)
        f.user(s, "nsm", "NSM", role="org-admin", password=None)
        f.user(s, "berit", "Svea Moln AB", role="org-admin", password=None)
        bob, nsm = f.principal(s, "bob"), f.principal(s, "nsm")
        berit = f.principal(s, "berit")
        for name, user, level, days, verify in (
            ("Eva Engineer", "eva", "HEMLIG", 400, True),
            ("Sven Svensson", None, "KONFIDENTIELL", 25, True),
            ("Anna Andersson", None, "Kvalificerat hemlig", 700, False),
        ):
            person = service.add_person(
                session=s,
                principal=bob,
                name=name,
                nationality="SE",
                employer="Svea Moln AB",
                username=user,
            )
            clearance = service.add_clearance(
                session=s,
                principal=bob,
                person=person,
                country="SE",
                level=level,
                authority="Säkerhetspolisen",
                valid_from=TODAY - timedelta(days=300),
                valid_until=TODAY + timedelta(days=days),
            )
            if verify:
                # A second officer checks what bob registered (two persons).
                service.verify_clearance(session=s, principal=berit, clearance_id=clearance.id)
            if user:
                ask = service.request_recognition(
                    session=s, principal=bob, clearance_id=clearance.id, country="NO"
                )
                service.decide_recognition(
                    session=s, principal=nsm, request_id=ask.id, approve=True
                )
        s.commit()
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    try:
        browser_sign_in(page, live, "bob")
        page.get_by_role("link", name="Clearances").first.click()
        page.wait_for_url(f"{live}/clearances")
        person = page.get_by_label("Person", exact=True).first
        # Ids are not reset between tests, so pick Eva's option by its text.
        label = person.locator("option", has_text="Eva Engineer").first.text_content() or ""
        person.select_option(label=label.strip())
        page.get_by_label("Material classified").fill("NO:KONFIDENSIELT")
        page.get_by_role("button", name="Check", exact=True).click()
        page.wait_for_load_state()
        decision = page.locator("#decision")
        assert "ALLOWED: Eva Engineer may see NO:KONFIDENSIELT" in decision.inner_text()
        shot(page, "clearances", hub.backend)
    finally:
        context.close()
