"""Web pages over TestClient: sign-in and out, CSRF, lockout, every page, admin permissions."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, csrf_of, post_form, sign_in
from varsel import web
from varsel.audit.models import AuditEvent
from varsel.clock import utcnow
from varsel.orgs import service as orgs
from varsel.orgs.models import AuthFailure, User
from varsel.sharing.tlp import TLP
from varsel.web.sessions import COOKIE


def _actions(hub: Hub) -> list[str]:
    with hub.session() as s:
        return list(s.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        first = client.get("/objects?tlp=amber", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/login?next=%2Fobjects%3Ftlp%3Damber"
        page = client.get("/login")
        response = client.post(
            "/login",
            data={
                "username": "alice",
                "password": f.PASSWORD,
                "csrf": csrf_of(page.text),
                "next": "/objects",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303 and response.headers["location"] == "/objects"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        home = client.get("/")
        assert home.status_code == 200 and "alice" in home.text
        assert '<html lang="en">' in home.text
        assert "default-src 'self'" in home.headers["content-security-policy"]
        stolen = client.cookies.get(COOKIE)
        out = client.post("/logout", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/login"
    # The old cookie is worthless after sign-out, even if someone kept a copy.
    with TestClient(hub.app, cookies={COOKIE: stolen}) as replay:
        assert replay.get("/", follow_redirects=False).status_code == 303
    assert {"auth.signin", "auth.signout"} <= set(_actions(hub))


def test_open_redirects_are_not_followed(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        page = client.get("/login")
        response = client.post(
            "/login",
            data={
                "username": "alice",
                "password": f.PASSWORD,
                "csrf": csrf_of(page.text),
                "next": "//evil.example/",
            },
            follow_redirects=False,
        )
    assert response.headers["location"] == "/"


def test_secure_cookie_behind_tls(hub: Hub, world: World) -> None:
    from varsel.api.app import create_app

    app = create_app(hub.settings.with_(secure_cookies=True))
    try:
        with TestClient(app, base_url="https://testserver") as client:
            page = client.get("/login")
            response = client.post(
                "/login",
                data={"username": "alice", "password": f.PASSWORD, "csrf": csrf_of(page.text)},
                follow_redirects=False,
            )
        assert "Secure" in response.headers["set-cookie"]
    finally:
        app.state.engine.dispose()


def test_wrong_password_then_a_wait_is_shown_and_audited(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        for _ in range(hub.settings.max_failed_logins):
            page = client.get("/login")
            bad = client.post(
                "/login",
                data={"username": "alice", "password": "wrong wrong!", "csrf": csrf_of(page.text)},
            )
            assert bad.status_code == 401 and "Wrong username or password" in bad.text
        with hub.session() as s:
            # As after many more failures: the first wait is 1 s (tests/orgs/test_auth.py),
            # shorter than a loaded machine may take between two requests.
            row = s.execute(select(AuthFailure)).scalar_one()
            row.blocked_until = utcnow() + timedelta(minutes=10)
            s.commit()
        page = client.get("/login")
        locked = client.post(
            "/login", data={"username": "alice", "password": f.PASSWORD, "csrf": csrf_of(page.text)}
        )
    assert locked.status_code == 401 and "Too many failed sign-ins for this account" in locked.text
    assert "auth.throttled" in _actions(hub)
    # From another address the owner signs in at once: nobody locks anyone out from elsewhere.
    with TestClient(hub.app, client=("198.51.100.10", 40000)) as elsewhere:
        page = elsewhere.get("/login")
        ok = elsewhere.post(
            "/login",
            data={"username": "alice", "password": f.PASSWORD, "csrf": csrf_of(page.text)},
            follow_redirects=False,
        )
    assert ok.status_code == 303


def test_sign_in_is_throttled_per_address(hub: Hub, world: World) -> None:
    with hub.session() as s:
        for _ in range(hub.settings.auth_failures_per_minute):
            orgs.count_in_window(session=s, key=orgs.throttle_key("address", "testclient"))
        s.commit()
    with TestClient(hub.app) as client:
        page = client.get("/login")
        response = client.post(
            "/login", data={"username": "alice", "password": f.PASSWORD, "csrf": csrf_of(page.text)}
        )
    assert response.status_code == 429 and "Too many failed sign-ins" in response.text


def _post_routes() -> list[str]:
    """Return every POST path of the web interface, found by walking its router."""
    paths: list[str] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            # FastAPI keeps an included router whole (``original_router``) instead of copying
            # its routes; older versions copy them. Either way every area is found.
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes, prefix + route.include_context.prefix)
            elif "POST" in getattr(route, "methods", set()):
                paths.append(prefix + route.path)

    walk(web.router.routes, "")
    return paths


def test_every_post_refuses_a_missing_or_foreign_csrf_token(hub: Hub, world: World) -> None:
    posts = _post_routes()
    assert {
        "/login",
        "/logout",
        "/share/indicator",
        "/share/bundle",
        "/admin/users",
        "/admin/tokens/revoke",
        "/admin/communities/members",
        "/clearances/persons",
        "/incidents",
        "/incidents/{incident_id}/timeline",
    } <= set(posts)
    with TestClient(hub.app) as other:
        other.get("/login")
        foreign = csrf_of(other.get("/login").text)
    with TestClient(hub.app) as client:
        sign_in(client, "root")
        mine = csrf_of(client.get("/share").text)
        for route in posts:
            path = re.sub(r"\{[^}]+\}", "1", route)  # a real-looking id for every parameter
            for data in ({}, {"csrf": ""}, {"csrf": foreign}):
                response = client.post(path, data={**data, "username": "x"}, follow_redirects=False)
                assert response.status_code == 403, (path, data, response.status_code)
            cross = client.post(
                path,
                data={"csrf": mine},
                follow_redirects=False,
                headers={"Origin": "https://evil.example"},
            )
            assert cross.status_code == 403, path
    # Nothing was written by the refused requests.
    assert "user.create" not in [a for a in _actions(hub) if a != "user.create"]
    with hub.session() as s:
        assert s.execute(select(User).where(User.username == "x")).first() is None


def test_the_api_ignores_the_web_session(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        assert client.get("/").status_code == 200
        assert client.get("/api/v1/me").status_code == 401


PAGES = ["/", "/objects", "/share", "/admin/tokens"]
ADMIN_PAGES = [
    "/admin",
    "/admin/users",
    "/admin/communities",
    "/admin/collections",
    "/admin/misp",
]


def test_every_page_renders_for_each_role(hub: Hub, world: World) -> None:
    with hub.session() as s:
        from varsel.sharing import ingest as ingesting
        from varsel.sharing import service as sharing

        coll = sharing.get_collection(session=s, collection_id=world.collection_id)
        a, b = f.indicator(tlp=TLP.GREEN), f.indicator(tlp=TLP.AMBER)
        rel = {
            "type": "relationship",
            "spec_version": "2.1",
            "id": f.stix_id("relationship"),
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "relationship_type": "related-to",
            "source_ref": a["id"],
            "target_ref": b["id"],
        }
        ingesting.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, "alice"),
            body=f.envelope(a, b, rel),
        )
        s.commit()
    expected = {
        "alice": {
            **dict.fromkeys(PAGES, 200),
            **dict.fromkeys(ADMIN_PAGES, 403),
            "/admin/audit": 403,
            "/admin/federation": 403,
        },
        "bob": {
            **dict.fromkeys(PAGES + ADMIN_PAGES, 200),
            "/admin/audit": 403,
            "/admin/federation": 403,
        },
        "root": dict.fromkeys([*PAGES, *ADMIN_PAGES, "/admin/audit", "/admin/federation"], 200),
    }
    for username, pages in expected.items():
        with TestClient(hub.app) as client:
            sign_in(client, username)
            for path, status in pages.items():
                response = client.get(path)
                assert response.status_code == status, (username, path)
                assert response.headers["content-type"].startswith("text/html")
                assert "<h1" in response.text and 'class="skip"' in response.text
            page = client.get(f"/objects/{a['id']}")
            assert page.status_code == 200
            assert f'href="/objects/{b["id"]}"' in page.text  # relationship as a link
            assert 'class="tlp tlp-green"' in page.text
            assert (
                client.get("/objects/indicator--00000000-0000-4000-8000-000000000000").status_code
                == 404
            )
    with TestClient(hub.app) as client:
        assert client.get("/static/varsel.css").status_code == 200
        css = client.get("/static/tlp.css").text
        assert ".tlp-amber-strict { color: #ffc000; background: #000000; }" in css
        assert client.get("/static/../../etc/passwd").status_code == 404


def test_org_admin_manages_only_their_own_organisation(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "bob")
        users = client.get("/admin/users").text
        assert 'data-username="bob"' in users and 'data-username="alice"' not in users
        assert 'value="hub-admin"' not in users
        made = post_form(
            client,
            "/admin/users",
            "/admin/users",
            {
                "username": "sven",
                "org": "Svea",
                "role": "analyst",
                "password": "a long enough password",
            },
        )
        assert made.status_code == 303  # type: ignore[attr-defined]
        elsewhere = post_form(
            client,
            "/admin/users",
            "/admin/users",
            {
                "username": "mallory",
                "org": "Fjordnett",
                "role": "analyst",
                "password": "a long enough password",
            },
        )
        # Refusals by the policy answer 403 (they answered 400 before issue 12).
        assert elsewhere.status_code == 403  # type: ignore[attr-defined]
        assert "own organisation" in elsewhere.text  # type: ignore[attr-defined]
        promote = post_form(
            client, "/admin/users", "/admin/users/role", {"username": "sven", "role": "hub-admin"}
        )
        assert promote.status_code == 403  # type: ignore[attr-defined]
        foreign = post_form(
            client, "/admin/users", "/admin/users/role", {"username": "alice", "role": "org-admin"}
        )
        # Another organisation's account is not even visible to an org-admin.
        assert foreign.status_code == 404  # type: ignore[attr-defined]
        ok = post_form(
            client, "/admin/users", "/admin/users/role", {"username": "sven", "role": "org-admin"}
        )
        assert ok.status_code == 303  # type: ignore[attr-defined]
        community = post_form(client, "/admin/communities", "/admin/communities", {"name": "Mine"})
        assert community.status_code == 403  # type: ignore[attr-defined]
    with hub.session() as s:
        roles = dict(s.execute(select(User.username, User.role)).all())
    assert roles["sven"] == "org-admin" and roles["alice"] == "analyst"
    assert "mallory" not in roles


def test_tokens_are_shown_once_and_revoked_from_the_page(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        made = post_form(client, "/admin/tokens", "/admin/tokens", {"name": "siem", "days": "30"})
        assert made.status_code == 201  # type: ignore[attr-defined]
        token = re.search(r'id="new-token"[^>]*value="(vs_[^"]+)"', made.text)  # type: ignore[attr-defined]
        assert token
        secret = token.group(1)
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()[
                "username"
            ]
            == "alice"
        )
        listing = client.get("/admin/tokens").text
        assert secret not in listing and "siem" in listing
        token_id = re.findall(r'data-token-id="(\d+)"', listing)[0]
        # alice may not make tokens for other people.
        other = post_form(client, "/admin/tokens", "/admin/tokens", {"username": "bob"})
        assert other.status_code == 403  # type: ignore[attr-defined]
        assert "made by its owner only" in other.text  # type: ignore[attr-defined]
        revoked = post_form(client, "/admin/tokens", "/admin/tokens/revoke", {"token_id": token_id})
        assert revoked.status_code == 303  # type: ignore[attr-defined]
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code
            == 401
        )


def test_hub_admin_runs_communities_collections_and_audit(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "root")
        assert (
            post_form(
                client,
                "/admin/communities",
                "/admin/communities",
                {"name": "Baltic", "description": "Sea"},
            ).status_code
            == 303
        )  # type: ignore[attr-defined]
        assert (
            post_form(
                client,
                "/admin/communities",
                "/admin/communities/members",
                {"community": "Baltic", "org": "Outsider", "op": "add"},
            ).status_code
            == 303
        )  # type: ignore[attr-defined]
        assert (
            post_form(
                client,
                "/admin/collections",
                "/admin/collections",
                {"title": "Baltic feed", "community": "Baltic", "default_tlp": "green"},
            ).status_code
            == 303
        )  # type: ignore[attr-defined]
        page = client.get("/admin/communities").text
        assert 'data-community="Baltic"' in page and "Outsider" in page
        assert "Baltic feed" in client.get("/admin/collections").text
        assert (
            post_form(
                client,
                "/admin/communities",
                "/admin/communities/members",
                {"community": "Baltic", "org": "Outsider", "op": "remove"},
            ).status_code
            == 303
        )  # type: ignore[attr-defined]
        audit = client.get("/admin/audit")
        assert "audit chain is intact" in audit.text
        assert "community.member.remove" in audit.text


def test_share_forms_build_indicators_and_report_bundles(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        shared = post_form(
            client,
            "/share",
            "/share/indicator",
            {
                "kind": "url",
                "value": "https://bad.example/x'y",
                "tlp": "green",
                "collection": world.collection_id,
                "name": "Bad URL",
            },
        )
        assert shared.status_code == 201, shared.text  # type: ignore[attr-defined]
        bad = post_form(
            client,
            "/share",
            "/share/indicator",
            {"kind": "sha256", "value": "abc", "tlp": "green", "collection": world.collection_id},
        )
        assert bad.status_code == 400  # type: ignore[attr-defined]
        assert "has 64 hexadecimal digits" in bad.text  # type: ignore[attr-defined]
        red = post_form(
            client,
            "/share",
            "/share/indicator",
            {
                "kind": "domain",
                "value": "red.example",
                "tlp": "red",
                "collection": world.collection_id,
            },
        )
        assert red.status_code == 400 and "named recipients" in red.text  # type: ignore[attr-defined]
        red = post_form(
            client,
            "/share",
            "/share/indicator",
            {
                "kind": "domain",
                "value": "red.example",
                "tlp": "red",
                "collection": world.collection_id,
                "recipient_orgs": ["Svea"],
            },
        )
        assert red.status_code == 201  # type: ignore[attr-defined]
        bundle = json.dumps(
            {
                "type": "bundle",
                "id": f.stix_id("bundle"),
                "objects": [
                    f.indicator(value="203.0.113.9"),
                    {"type": "indicator", "id": "nonsense"},
                ],
            }
        )
        report = post_form(
            client,
            "/share",
            "/share/bundle",
            {"collection": world.collection_id},
            files={"file": ("b.json", bundle, "application/json")},
        )
        assert report.status_code == 200  # type: ignore[attr-defined]
        assert "1 accepted, 1 rejected" in report.text  # type: ignore[attr-defined]
        assert 'id="rejected"' in report.text  # type: ignore[attr-defined]
        empty = post_form(client, "/share", "/share/bundle", {"collection": world.collection_id})
        assert empty.status_code == 400  # type: ignore[attr-defined]

    def visible(user: str) -> dict[str, str]:
        with TestClient(hub.app) as api:
            body = api.get(
                "/api/v1/objects", headers={"Authorization": f"Bearer {world.tokens[user]}"}
            ).json()
        return {o["object"]["pattern"]: o["tlp"] for o in body["objects"]}

    assert visible("bob") == {
        "[url:value = 'https://bad.example/x\\'y']": "green",
        "[domain-name:value = 'red.example']": "red",
        "[ipv4-addr:value = '203.0.113.9']": "amber",
    }
    assert visible("carol") == {}


@pytest.mark.parametrize("path", ["/nowhere", "/objects/x?v=notanumber"])
def test_page_errors_are_pages_and_api_errors_stay_json(hub: Hub, world: World, path: str) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        page = client.get(path)
        assert page.status_code in (400, 404) and page.headers["content-type"].startswith(
            "text/html"
        )
        api = client.get("/api/v1/nowhere")
        assert api.headers["content-type"] == "application/problem+json"
