"""Administration forms answer a refusal with the status of the one error map: Forbidden is 403.

Each form is sent, signed in through the sign-in page, by someone the policy refuses; the page
shows the reason and the status is the same as the API's for the same refusal (never 400).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, post_form, sign_in
from varsel.orgs.models import MembershipRequest


def _request_id(hub: Hub) -> int:
    with hub.session() as s:
        return s.execute(select(MembershipRequest.id)).scalar_one()


@pytest.fixture
def fia(hub: Hub, world: World) -> str:
    """Add fia, Fjordnett's org-admin: she sees root (a hub-admin of Fjordnett) but outranks
    nobody above her, so the policy, not the visibility filter, refuses her."""
    with hub.session() as s:
        f.user(s, "fia", "Fjordnett", role="org-admin")
        s.commit()
    return "fia"


# (who, page, action, form): bob is Svea's org-admin, alice a Fjordnett analyst, fia (above)
# Fjordnett's org-admin.
REFUSED = {
    "add_user": (
        "bob",
        "/admin/users",
        "/admin/users",
        {
            "username": "mallory",
            "org": "Fjordnett",
            "role": "analyst",
            "password": "x" * 16,
        },
    ),
    "change_role": (
        "fia",
        "/admin/users",
        "/admin/users/role",
        {
            "username": "root",
            "role": "analyst",
        },
    ),
    "change_state": (
        "fia",
        "/admin/users",
        "/admin/users/state",
        {
            "username": "root",
            "op": "disable",
        },
    ),
    "add_token": ("alice", "/admin/tokens", "/admin/tokens", {"username": "bob"}),
    "add_community": ("bob", "/admin/tokens", "/admin/communities", {"name": "Mine"}),
    "change_member": (
        "bob",
        "/admin/communities",
        "/admin/communities/members",
        {
            "community": "Nordic",
            "org": "Fjordnett",
            "op": "remove",
        },
    ),
    "add_collection": (
        "bob",
        "/admin/tokens",
        "/admin/collections",
        {
            "title": "Mine",
            "community": "Nordic",
            "default_tlp": "green",
        },
    ),
}


@pytest.mark.parametrize("handler", sorted(REFUSED))
def test_admin_form_refused_by_the_policy_is_403(hub: Hub, fia: str, handler: str) -> None:
    who, page, action, form = REFUSED[handler]
    with TestClient(hub.app) as client:
        sign_in(client, who)
        answer = post_form(client, page, action, form)
        assert answer.status_code == 403, answer.text  # type: ignore[attr-defined]
        assert answer.headers["content-type"].startswith("text/html")  # type: ignore[attr-defined]


def test_approving_ones_own_membership_request_is_403(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "root")
        asked = post_form(
            client,
            "/admin/communities",
            "/admin/communities/members",
            {"community": "Nordic", "org": "Outsider", "op": "add"},
        )
        assert "member_requested" in asked.headers["location"]  # type: ignore[attr-defined]
        own = post_form(
            client,
            "/admin/communities",
            "/admin/communities/requests",
            {"request_id": _request_id(hub), "op": "approve"},
        )
        assert own.status_code == 403, own.text  # type: ignore[attr-defined]


@pytest.mark.parametrize("form", ["indicator", "bundle"])
def test_sharing_into_a_collection_one_may_not_write_is_403(
    hub: Hub, world: World, form: str
) -> None:
    with hub.session() as s:
        f.community(s, "Atlantic", ["Outsider"])
        other = f.collection(s, "Atlantic indicators", "Atlantic").id
        s.commit()
    # alice may share into Nordic's collection, not into Atlantic's.
    data: dict[str, object] = {"collection": other}
    if form == "indicator":
        data |= {"kind": "ipv4", "value": "203.0.113.7", "tlp": "green", "name": "x"}
    else:
        data["bundle"] = '{"type": "bundle", "id": "bundle--1", "objects": []}'
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        answer = post_form(client, "/share", f"/share/{form}", data)
        assert answer.status_code == 403, answer.text  # type: ignore[attr-defined]
        assert "choose a collection you may share into" in answer.text  # type: ignore[attr-defined]
