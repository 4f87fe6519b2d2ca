"""Who a principal is (issue 12, items 1, 2, 5 and 7), tested as an attacker would try it.

The world: alice (analyst) and fia (org-admin) at Fjordnett (NO); bob (org-admin) and sven
(analyst) at Svea (SE); carol at Outsider (US); root, a hub-admin of its own operations
organisation. Fjordnett and Svea share the community Nordic. bob has shared an AMBER indicator
into Nordic and a RED one addressed to alice alone.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import csrf_of, post_form, sign_in
from varsel.clock import utcnow
from varsel.errors import Conflict, InvalidInput
from varsel.orgs import service as orgs
from varsel.orgs.models import (
    ApiToken,
    AuthFailure,
    CommunityMember,
    MembershipRequest,
    User,
)
from varsel.sharing import ingest
from varsel.sharing.tlp import TLP


@dataclass
class Scene:
    """Ids of what the tests attack."""

    collection_id: str
    amber_id: str
    red_id: str


@pytest.fixture
def scene(hub: Hub) -> Scene:
    """Build the world of this module's docstring."""
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.org(s, "Svea", "SE")
        f.org(s, "Outsider", "US", kind="international-partner")
        f.org(s, "Hub operations", "NO")
        f.user(s, "alice", "Fjordnett")
        f.user(s, "fia", "Fjordnett", role="org-admin")
        f.user(s, "bob", "Svea", role="org-admin")
        f.user(s, "sven", "Svea")
        f.user(s, "carol", "Outsider")
        f.user(s, "root", "Hub operations", role="hub-admin")
        f.community(s, "Nordic", ["Fjordnett", "Svea"])
        coll = f.collection(s, "Indicators", "Nordic", default_tlp="amber")
        amber = f.indicator(tlp=TLP.AMBER, value="198.51.100.1")
        red = f.indicator(tlp=TLP.RED, value="198.51.100.2", recipients=["user:alice"])
        result = ingest.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, "bob"),
            body=f.envelope(amber, red),
        )
        assert not result.failures
        s.commit()
        return Scene(collection_id=coll.id, amber_id=amber["id"], red_id=red["id"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _basic(user: str, password: str = f.PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _reads(client: TestClient, headers: dict[str, str], stix_id: str) -> bool:
    response = client.get(f"/api/v1/objects/{stix_id}", headers=headers)
    return response.status_code == 200 and bool(response.json()["versions"])


def _token_owners(hub: Hub) -> list[str]:
    with hub.session() as s:
        return list(
            s.execute(select(User.username).join(ApiToken, ApiToken.user_id == User.id)).scalars()
        )


# Item 1: nobody acts as someone else ------------------------------------------------------------


@pytest.mark.parametrize("admin", ["root", "fia"])
def test_admins_cannot_mint_a_token_for_someone_else(hub: Hub, scene: Scene, admin: str) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, admin)
        minted = post_form(client, "/admin/tokens", "/admin/tokens", {"username": "alice"})
        assert minted.status_code == 403  # type: ignore[attr-defined]
        assert "made by its owner only" in minted.text  # type: ignore[attr-defined]
        assert 'id="new-token"' not in minted.text  # type: ignore[attr-defined]
        # An unknown name gets the same answer: the form enumerates nobody.
        ghost = post_form(client, "/admin/tokens", "/admin/tokens", {"username": "nobody-here"})
        assert ghost.status_code == 403  # type: ignore[attr-defined]
    assert "alice" not in _token_owners(hub)
    # And the admin's own credentials read neither alice's RED object nor (root) the AMBER one.
    with TestClient(hub.app) as client:
        assert not _reads(client, _basic(admin), scene.red_id)
        assert _reads(client, _basic("alice"), scene.red_id)


def test_a_token_made_with_a_token_is_bounded_by_it_and_dies_with_it(
    hub: Hub, scene: Scene
) -> None:
    with hub.session() as s:
        parent, parent_secret = orgs.create_token(
            session=s, username="alice", expires_at=utcnow() + timedelta(days=1)
        )
        s.commit()
        parent_id, parent_expiry = parent.id, parent.expires_at
    assert parent_expiry is not None
    with TestClient(hub.app) as client:
        made = client.post(
            "/api/v1/tokens", headers=_bearer(parent_secret), json={"expires_days": 30}
        )
        assert made.status_code == 201, made.text
        child = made.json()
        assert child["parent"] == parent_id
        assert datetime.fromisoformat(child["expires_at"].rstrip("Z")) <= parent_expiry
        # A grandchild asked for with no expiry at all still dies with the first token.
        grand = client.post("/api/v1/tokens", headers=_bearer(child["token"]), json={})
        assert grand.status_code == 201
        assert datetime.fromisoformat(grand.json()["expires_at"].rstrip("Z")) <= parent_expiry
        assert client.get("/api/v1/me", headers=_bearer(grand.json()["token"])).status_code == 200
        # Revoking the parent revokes the whole line at once.
        revoked = client.post(f"/api/v1/tokens/{parent_id}/revoke", headers=_basic("alice"))
        assert revoked.status_code == 200
        for secret in (parent_secret, child["token"], grand.json()["token"]):
            gone = client.get("/api/v1/me", headers=_bearer(secret))
            assert gone.status_code == 401 and "revoked" in gone.json()["detail"]


def test_a_read_only_token_changes_nothing_and_mints_nothing_wider(hub: Hub, scene: Scene) -> None:
    with hub.session() as s:
        _, read_secret = orgs.create_token(session=s, username="bob", scope="read")
        s.commit()
    with TestClient(hub.app) as client:
        assert _reads(client, _bearer(read_secret), scene.amber_id)
        shared = client.post(
            f"/api/v1/collections/{scene.collection_id}/share",
            headers=_bearer(read_secret),
            content=f.envelope(f.indicator(tlp=TLP.GREEN, value="198.51.100.9")),
        )
        assert shared.status_code == 403
        wider = client.post(
            "/api/v1/tokens", headers=_bearer(read_secret), json={"scope": "read-write"}
        )
        assert wider.status_code == 403
        assert "read-only token" in wider.json()["detail"]
        # Writes that create rather than change are refused too (no restrict() to ask).
        incident = client.post(
            "/api/v1/incidents", headers=_bearer(read_secret), json={"title": "x"}
        )
        assert incident.status_code == 403
        # A read that needs a body (matching) is still a read.
        matched = client.post(
            "/api/v1/match", headers=_bearer(read_secret), json={"observables": ["198.51.100.1"]}
        )
        assert matched.status_code == 200 and matched.json()["matches"]


# Item 2: no principal grants itself read access ----------------------------------------------


def test_a_hub_admin_creates_only_the_first_org_admin_of_another_organisation(
    hub: Hub, scene: Scene
) -> None:
    with hub.session() as s:
        f.org(s, "Nytt AS", "NO")
        s.commit()
    form = {"password": "a long enough password"}
    with TestClient(hub.app) as client:
        sign_in(client, "root")
        # Into the RED recipient's organisation: refused, whatever the role.
        for role in ("analyst", "org-admin"):
            planted = post_form(
                client,
                "/admin/users",
                "/admin/users",
                {**form, "username": f"plant-{role}", "org": "Fjordnett", "role": role},
            )
            assert planted.status_code == 403  # type: ignore[attr-defined]
        # A new, empty organisation gets its first org-admin from the hub-admin...
        first = post_form(
            client,
            "/admin/users",
            "/admin/users",
            {**form, "username": "nina", "org": "Nytt AS", "role": "org-admin"},
        )
        assert first.status_code == 303  # type: ignore[attr-defined]
        # ...and nothing more.
        second = post_form(
            client,
            "/admin/users",
            "/admin/users",
            {**form, "username": "nils", "org": "Nytt AS", "role": "org-admin"},
        )
        assert second.status_code == 403  # type: ignore[attr-defined]
        # Nor may it change roles of another organisation's people.
        promote = post_form(
            client, "/admin/users", "/admin/users/role", {"username": "alice", "role": "org-admin"}
        )
        assert promote.status_code == 403  # type: ignore[attr-defined]
    with hub.session() as s:
        names = set(s.execute(select(User.username)).scalars())
    assert "nina" in names and not names & {"plant-analyst", "plant-org-admin", "nils"}


def _community_page(client: TestClient) -> str:
    return client.get("/admin/communities").text


def _request_id(hub: Hub) -> int:
    with hub.session() as s:
        return s.execute(
            select(MembershipRequest.id).where(MembershipRequest.decided_at.is_(None))
        ).scalar_one()


def _members(hub: Hub) -> set[int]:
    with hub.session() as s:
        return set(s.execute(select(CommunityMember.org_id)).scalars())


def test_joining_a_community_needs_a_second_party_from_it(hub: Hub, scene: Scene) -> None:
    before = _members(hub)
    with TestClient(hub.app) as root, TestClient(hub.app) as fia, TestClient(hub.app) as bob:
        sign_in(root, "root")
        sign_in(fia, "fia")
        sign_in(bob, "bob")
        asked = post_form(
            root,
            "/admin/communities",
            "/admin/communities/members",
            {"community": "Nordic", "org": "Hub operations", "op": "add"},
        )
        assert asked.status_code == 303  # type: ignore[attr-defined]
        assert "member_requested" in asked.headers["location"]  # type: ignore[attr-defined]
        assert _members(hub) == before
        assert not _reads(root, _basic("root"), scene.amber_id)
        rid = _request_id(hub)
        # The hub-admin cannot approve its own request (its organisation is not a member).
        own = post_form(
            root,
            "/admin/communities",
            "/admin/communities/requests",
            {"request_id": rid, "op": "approve"},
        )
        assert own.status_code == 403  # type: ignore[attr-defined]
        # An analyst of a member organisation cannot approve either.
        with TestClient(hub.app) as sven:
            sign_in(sven, "sven")
            assert sven.get("/admin/communities").status_code == 403
        # The member organisations' org-admins are told, and either may decide.
        page = _community_page(bob)
        assert f'data-request="{rid}"' in page and "Hub operations" in page
        approved = post_form(
            bob,
            "/admin/communities",
            "/admin/communities/requests",
            {"request_id": rid, "op": "approve"},
        )
        assert approved.status_code == 303  # type: ignore[attr-defined]
        assert _reads(root, _basic("root"), scene.amber_id)

        # An org-admin's own proposal needs someone outside their organisation.
        proposed = post_form(
            fia,
            "/admin/communities",
            "/admin/communities/members",
            {"community": "Nordic", "org": "Outsider", "op": "add"},
        )
        assert "member_requested" in proposed.headers["location"]  # type: ignore[attr-defined]
        rid = _request_id(hub)
        self_approved = post_form(
            fia,
            "/admin/communities",
            "/admin/communities/requests",
            {"request_id": rid, "op": "approve"},
        )
        assert self_approved.status_code == 403  # type: ignore[attr-defined]
        refused = post_form(
            bob,
            "/admin/communities",
            "/admin/communities/requests",
            {"request_id": rid, "op": "refuse"},
        )
        assert refused.status_code == 303  # type: ignore[attr-defined]
        assert not _reads(root, _basic("carol"), scene.amber_id)
        audit = root.get("/admin/audit").text
    for action in ("community.member.request", "community.member.approve"):
        assert action in audit
    assert "community.member.refuse" in audit


# Item 5: accounts have a life cycle ----------------------------------------------------------


def test_disabling_ends_sessions_and_tokens_and_enabling_brings_back_only_the_password(
    hub: Hub, scene: Scene
) -> None:
    with hub.session() as s:
        token = f.token(s, "alice")
        s.commit()
    with TestClient(hub.app) as alice, TestClient(hub.app) as fia:
        sign_in(alice, "alice")
        sign_in(fia, "fia")
        off = post_form(
            fia, "/admin/users", "/admin/users/state", {"username": "alice", "op": "disable"}
        )
        assert off.status_code == 303  # type: ignore[attr-defined]
        assert alice.get("/", follow_redirects=False).status_code == 303  # back to sign-in
        assert alice.get("/api/v1/me", headers=_bearer(token)).status_code == 401
        assert alice.get("/api/v1/me", headers=_basic("alice")).status_code == 401
        on = post_form(
            fia, "/admin/users", "/admin/users/state", {"username": "alice", "op": "enable"}
        )
        assert on.status_code == 303  # type: ignore[attr-defined]
        assert alice.get("/api/v1/me", headers=_basic("alice")).status_code == 200
        assert alice.get("/api/v1/me", headers=_bearer(token)).status_code == 401


def test_a_hub_admin_may_disable_anywhere_but_enable_only_at_home(hub: Hub, scene: Scene) -> None:
    with TestClient(hub.app) as root:
        sign_in(root, "root")
        off = post_form(
            root, "/admin/users", "/admin/users/state", {"username": "sven", "op": "disable"}
        )
        assert off.status_code == 303  # type: ignore[attr-defined]
        on = post_form(
            root, "/admin/users", "/admin/users/state", {"username": "sven", "op": "enable"}
        )
        assert on.status_code == 403  # type: ignore[attr-defined]
        self_off = post_form(
            root, "/admin/users", "/admin/users/state", {"username": "root", "op": "disable"}
        )
        assert self_off.status_code == 403  # type: ignore[attr-defined]


def test_changing_the_password_ends_every_session_and_token(hub: Hub, scene: Scene) -> None:
    with hub.session() as s:
        token = f.token(s, "alice")
        s.commit()
    new = "another long passphrase"
    with TestClient(hub.app) as here, TestClient(hub.app) as there:
        sign_in(here, "alice")
        sign_in(there, "alice")
        wrong = post_form(
            here,
            "/account",
            "/account/password",
            {"current": "not my password", "new": new, "repeat": new},
        )
        assert wrong.status_code == 401  # type: ignore[attr-defined]
        changed = post_form(
            here,
            "/account",
            "/account/password",
            {"current": f.PASSWORD, "new": new, "repeat": new},
        )
        assert changed.status_code == 303  # type: ignore[attr-defined]
        assert there.get("/", follow_redirects=False).status_code == 303
        assert here.get("/api/v1/me", headers=_bearer(token)).status_code == 401
        assert here.get("/api/v1/me", headers=_basic("alice")).status_code == 401
        assert here.get("/api/v1/me", headers=_basic("alice", new)).status_code == 200
    with TestClient(hub.app) as audit_reader:
        sign_in(audit_reader, "root")
        assert "user.password" in audit_reader.get("/admin/audit").text


# Item 7: names cannot impersonate --------------------------------------------------------------


def test_look_alike_organisation_names_are_refused(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Svea Moln AB", "SE")
        with pytest.raises(InvalidInput, match="mixes scripts"):
            f.org(s, "Svea Moln \u0410B", "SE")  # Cyrillic capital A
        for clash in ("svea moln ab", "\uff33\uff56\uff45\uff41 Moln AB", "Svea  Moln AB"):
            with pytest.raises(Conflict):
                f.org(s, clash, "SE")
        with pytest.raises(InvalidInput, match="mixes scripts"):
            f.org(s, "\u0405\u03bd\u0435\u0430 Moln AB", "SE")  # Cyrillic and Greek look-alikes
        # A name wholly in another script that reads as an existing one clashes with it.
        f.org(s, "BAT", "NO")
        with pytest.raises(Conflict, match="can be taken for"):
            f.org(s, "\u0412\u0410\u0422", "NO")  # Cyrillic ВАТ
        with pytest.raises(InvalidInput, match="invisible"):
            f.org(s, "Svea\u200b Moln AB", "SE")


def test_usernames_ignore_case_and_red_reaches_the_one_user_named(hub: Hub, scene: Scene) -> None:
    with hub.session() as s:
        with pytest.raises(Conflict):
            f.user(s, "Alice", "Outsider", password=None)
        s.rollback()
        coll = f.collection(s, "Private", "Nordic", default_tlp="red")
        red = f.indicator(tlp=TLP.RED, value="198.51.100.77", recipients=["user:ALICE"])
        result = ingest.ingest(
            session=s, collection=coll, principal=f.principal(s, "bob"), body=f.envelope(red)
        )
        assert not result.failures
        s.commit()
    with TestClient(hub.app) as client:
        assert _reads(client, _basic("alice"), red["id"])
        assert not _reads(client, _basic("carol"), red["id"])
        # Sign-in takes the name in any case, as the one account it names.
        assert client.get("/api/v1/me", headers=_basic("ALICE")).json()["username"] == "alice"


def _hold_every_pair(hub: Hub) -> None:
    """Push every current wait ten minutes out, as after many more failures.

    A real first wait is one second, shorter than a loaded test machine may take between two
    requests; the waits' growth itself is tested in tests/orgs/test_auth.py.
    """
    with hub.session() as s:
        for row in s.execute(select(AuthFailure)).scalars():
            row.blocked_until = utcnow() + timedelta(minutes=10)
        s.commit()


def test_the_login_page_does_not_reveal_whether_a_wait_applies_to_a_real_account(
    hub: Hub, scene: Scene
) -> None:
    """Guesses at a made-up name and at a real one are answered alike, and counted alike."""
    clients = {
        name: TestClient(hub.app, client=(address, 1))
        for name, address in (("alice", "192.0.2.1"), ("no-such-user", "192.0.2.2"))
    }

    def attempt(client: TestClient, name: str) -> tuple[int, str]:
        page = client.get("/login")
        answer = client.post(
            "/login", data={"username": name, "password": "wrong!", "csrf": csrf_of(page.text)}
        )
        return answer.status_code, answer.text

    answers: dict[str, list[tuple[int, bool]]] = {}
    for name, client in clients.items():
        with client:
            answers[name] = [
                (status, "Wrong username or password" in text)
                for status, text in (attempt(client, name) for _ in range(5))
            ]
    assert answers["alice"] == answers["no-such-user"] == [(401, True)] * 5
    with hub.session() as s:
        rows = s.execute(select(AuthFailure)).scalars().all()
        assert sorted(r.failures for r in rows) == [5, 5]
        assert all(r.blocked_until is not None for r in rows)
    _hold_every_pair(hub)
    for name, client in clients.items():
        with client:
            status, text = attempt(client, name)
            assert status == 401 and "Too many failed sign-ins for this account" in text


def test_naming_unknown_users_cannot_enumerate_accounts(hub: Hub, scene: Scene) -> None:
    """Item 7: whether an account the sender cannot see exists is not an oracle.

    bob (org-admin at Svea) sees Svea's accounts only. His first five unknown names are
    answered "unknown"; after that every name he cannot see — alice, who exists, and a name
    nobody has — gets the same "wait" answer, while his own colleagues stay addressable.
    """

    def share_red(recipient: str, n: int) -> str:
        obj = f.indicator(tlp=TLP.RED, value=f"203.0.113.{n}", recipients=[recipient])
        with TestClient(hub.app) as client:
            answer = client.post(
                f"/api/v1/collections/{scene.collection_id}/share",
                headers=_basic("bob"),
                content=f.envelope(obj),
            )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if body["accepted"]:
            return "accepted"
        return str(body["rejected"][0]["message"]).split(": ", 1)[1]

    for n in range(5):
        assert share_red(f"user:ghost{n}", n).startswith("unknown recipient")
    # The fifth unknown name earned bob a first wait of 1 s. Two shares through the whole app
    # take longer than that on a loaded 2-core machine (the test failed so), and once the wait
    # is over the next guess is simply counted. What is asserted is the answer *inside* a wait,
    # so stretch this one (as later failures would: 2, 4, 8… s) past both probes.
    with hub.session() as db:
        bob = db.execute(select(User.id).where(User.username == "bob")).scalar_one()
        row = db.get(AuthFailure, orgs.throttle_key("recipient", str(bob)))
        assert row is not None and row.failures == 5 and row.blocked_until is not None
        row.blocked_until = utcnow() + timedelta(seconds=60)
        db.commit()
    existing, made_up = share_red("user:alice", 10), share_red("user:ghost9", 11)
    assert existing.replace("alice", "X") == made_up.replace("ghost9", "X")
    assert "too many unknown user recipients" in existing
    assert share_red("user:sven", 12) == "accepted"
    assert share_red("Fjordnett", 13) == "accepted"  # organisations stay addressable by name
