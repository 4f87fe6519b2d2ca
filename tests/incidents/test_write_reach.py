"""A write never answers with, or opens the way to, an incident the writer may not read.

The policy lets a hub-admin change every incident (to close abandoned ones, fix a TLP), TLP:RED
ones it is not named on included. These tests hold it to what it may read, on REST and web.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.incidents.conftest import World
from tests.web.conftest import post_form, sign_in
from varsel.config import Settings, parse_webhook_hosts

API = "/api/v1/incidents"


def _red(world: World) -> int:
    response = world.client.post(
        API,
        json={"title": "Secret red title", "summary": "RED summary", "tlp": "red"},
        headers=world.as_("lead"),
    )
    assert response.status_code == 201, response.text
    iid = int(response.json()["id"])
    facts = {"facts": {"detected_at": "2026-03-27T14:00:00Z", "users_affected": 12345}}
    assert world.client.patch(
        f"{API}/{iid}/facts", json=facts, headers=world.as_("lead")
    ).is_success
    return iid


def _as_lead(world: World, iid: int) -> dict[str, object]:
    body: dict[str, object] = world.client.get(f"{API}/{iid}", headers=world.as_("lead")).json()
    return body


def test_a_hub_admins_write_to_an_unreadable_incident_returns_nothing(world: World) -> None:
    c, admin = world.client, world.as_("admin")
    iid = _red(world)
    assert c.get(f"{API}/{iid}", headers=admin).status_code == 404
    empty = c.patch(f"{API}/{iid}", json={}, headers=admin)
    assert empty.status_code == 204 and empty.content == b""
    changed = c.patch(f"{API}/{iid}", json={"status": "contained"}, headers=admin)
    assert changed.status_code == 204 and b"Secret" not in changed.content
    assert _as_lead(world, iid)["status"] == "contained"  # the write itself was done
    for path, body in [
        (f"{API}/{iid}/facts", {"facts": {"unavailable_minutes": 5}}),
        (f"{API}/{iid}/timeline", {"text": "closed by the hub"}),
        (f"{API}/{iid}/tasks", {"title": "Review"}),
    ]:
        r = (c.patch if path.endswith("facts") else c.post)(path, json=body, headers=admin)
        assert r.status_code == 204 and r.content == b"", (path, r.text)
    # An order error must not quote the recorded detection time either.
    bad = c.patch(
        f"{API}/{iid}/facts", json={"facts": {"aware_at": "2026-03-27T10:00:00Z"}}, headers=admin
    )
    assert bad.status_code == 400 and "14:00" not in bad.text and "impossible order" in bad.text


def test_nobody_adds_themself_to_an_incident_they_cannot_read(hub: Hub, world: World) -> None:
    c, admin = world.client, world.as_("admin")
    iid = _red(world)
    for body in (
        {"role": "observer", "user": "admin"},
        {"role": "lead", "organisation": "Outsider AS"},
    ):
        r = c.post(f"{API}/{iid}/participants", json=body, headers=admin)
        assert r.status_code == 403 and "must invite you" in r.json()["detail"], r.text
    opened = c.patch(f"{API}/{iid}", json={"tlp": "clear"}, headers=admin)
    assert opened.status_code == 403
    assert c.get(f"{API}/{iid}", headers=admin).status_code == 404
    assert _as_lead(world, iid)["tlp"] == "red"
    people = _as_lead(world, iid)["participants"]
    assert [p["organisation"] for p in people] == ["Pilvi Oy"]  # type: ignore[index]
    # Inviting someone else is a write like any other, answered without the workspace.
    other = c.post(
        f"{API}/{iid}/participants", json={"role": "observer", "user": "certse"}, headers=admin
    )
    assert other.status_code == 204
    # Whether someone already takes part is not told to a writer who may not read.
    again = c.post(
        f"{API}/{iid}/participants", json={"role": "observer", "user": "certse"}, headers=admin
    )
    assert again.status_code == 403 and "certse" not in again.text
    # A participant who reads the incident may still invite itself further roles as before.
    assert c.patch(f"{API}/{iid}", json={}, headers=world.as_("lead")).json()["title"] == (
        "Secret red title"
    )


def test_the_web_forms_keep_a_hub_admin_out_of_an_unreadable_incident(
    hub: Hub, world: World
) -> None:
    iid = _red(world)
    with hub.session() as s:
        f.user(s, "root", "Outsider AS", role="hub-admin")
        s.commit()
    client = TestClient(hub.app)
    sign_in(client, "root")
    page = f"/incidents/{iid}"
    assert client.get(page).status_code == 404
    changed = post_form(client, "/incidents", page, {"status": "contained"})
    assert changed.status_code == 303  # type: ignore[attr-defined]
    assert changed.headers["location"] == "/incidents?notice=incident_updated"  # type: ignore[attr-defined]
    assert _as_lead(world, iid)["status"] == "contained"
    for data in ({"role": "observer", "username": "root"}, {"role": "lead", "org": "Outsider AS"}):
        refused = post_form(client, "/incidents", f"{page}/participants", data)
        assert refused.status_code == 403  # type: ignore[attr-defined]
        assert "must invite you" in refused.text  # type: ignore[attr-defined]
        assert "Secret red title" not in refused.text  # type: ignore[attr-defined]
    opened = post_form(client, "/incidents", page, {"tlp": "clear"})
    assert opened.status_code == 403  # type: ignore[attr-defined]
    assert client.get(page).status_code == 404
    assert _as_lead(world, iid)["tlp"] == "red"


def test_a_webhook_url_must_name_an_allow_listed_host(
    world: World, configure: Callable[..., Settings]
) -> None:
    c, lead = world.client, world.as_("lead")
    configure(webhook_hosts=())
    off = c.post(API, json={"title": "x", "webhook_url": "https://hooks.example/x"}, headers=lead)
    assert off.status_code == 400 and "VARSEL_WEBHOOK_HOSTS" in off.json()["detail"]
    configure(webhook_hosts=parse_webhook_hosts("hooks.example, chat.example:8443"))
    iid = _red(world)
    for url, words in [
        ("http://169.254.169.254/latest/meta-data", "not among the webhook hosts"),
        ("http://127.0.0.1:8000/api/v1/incidents", "not among the webhook hosts"),
        ("https://hooks.example:8443/x", "not among the webhook hosts"),
        ("https://chat.example/x", "not among the webhook hosts"),
        ("https://hooks.example@10.0.0.1/x", "user name or password"),
    ]:
        r = c.patch(f"{API}/{iid}", json={"webhook_url": url}, headers=lead)
        assert r.status_code == 400 and words in r.json()["detail"], (url, r.text)
    assert _as_lead(world, iid)["webhook_url"] is None  # nothing half-written
    for url in ("https://HOOKS.example/x", "https://chat.example:8443/y"):
        ok = c.patch(f"{API}/{iid}", json={"webhook_url": url}, headers=lead)
        assert ok.status_code == 200 and ok.json()["webhook_url"] == url
