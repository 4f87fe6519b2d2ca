"""Signing out ends the session in every worker, not only the one that served the sign-out."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Hub
from tests.web.conftest import World, csrf_of, sign_in
from varsel.api.app import create_app
from varsel.web.sessions import COOKIE


def test_sign_out_in_one_worker_ends_the_session_in_another(hub: Hub, world: World) -> None:
    # A second application instance over the same database stands for a second worker.
    other = create_app(hub.settings)
    try:
        with TestClient(hub.app) as first:
            sign_in(first, "alice")
            cookie = first.cookies.get(COOKIE)
            with TestClient(other, cookies={COOKIE: cookie}) as second:
                assert second.get("/", follow_redirects=False).status_code == 200
                home = first.get("/")
                out = first.post(
                    "/logout", data={"csrf": csrf_of(home.text)}, follow_redirects=False
                )
                assert out.status_code == 303
                assert second.get("/", follow_redirects=False).status_code == 303
    finally:
        other.state.engine.dispose()


def test_a_forged_cookie_for_an_unrecorded_session_is_refused(hub: Hub, world: World) -> None:
    from varsel.web.sessions import password_fingerprint, set_cookie

    with hub.session() as s:
        from varsel.orgs import service as orgs

        user = orgs.get_user(session=s, username="alice")
        data = {"n": "never-signed-in", "u": user.id, "p": password_fingerprint(user)}
    from starlette.responses import Response

    response = Response()
    # Even with the hub's key (as an insider with the key file might), a session that was never
    # recorded server-side is not accepted.
    set_cookie(response, hub.app.state.hub, data)
    cookie = response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
    with TestClient(hub.app, cookies={COOKIE: cookie}) as client:
        assert client.get("/", follow_redirects=False).status_code == 303
