"""Only what the caller may read: TLP, community, recipients, and the same 404 for all else."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

from tests import factories as f
from tests.misp.read.conftest import World

UNKNOWN = "0f1e2d3c-4b5a-4697-8877-665544332211"


def http(live: str, token: str) -> httpx.Client:
    """Return a client sending ``token`` as MISP's clients do (the bare header)."""
    return httpx.Client(
        base_url=live + "/misp", headers={"Authorization": token, "Accept": "application/json"}
    )


def all_values(client: httpx.Client) -> set[str]:
    """Return every attribute value the caller reads through the index and events/view."""
    found = set()
    for row in client.post("/events/index", json={"minimal": 1}).json():
        event = client.get(f"/events/view/{row['uuid']}").json()["Event"]
        found |= {a["value"] for a in event.get("Attribute", [])}
    return found


def test_outsider_sees_no_amber_event(world: World, live: str) -> None:
    with http(live, world.tokens["carol"]) as carol:
        index = {r["uuid"] for r in carol.post("/events/index", json={}).json()}
        assert world.amber not in index and world.green not in index
        # Only the TLP:CLEAR loose indicator, in alice's day event.
        assert all_values(carol) == {world.clear_value}
        assert carol.post("/attributes/restSearch", json={"value": world.amber_value}).json() == {
            "response": {"Attribute": []}
        }
        search = carol.post("/events/restSearch", json={"returnFormat": "csv"}).text
        assert world.amber_value not in search and world.clear_value in search


def test_unknown_and_unreadable_events_answer_alike(world: World, live: str) -> None:
    with http(live, world.tokens["carol"]) as carol:
        hidden = carol.get(f"/events/view/{world.amber}")
        unknown = carol.get(f"/events/view/{UNKNOWN}")
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.json()["message"] == unknown.json()["message"]
        assert set(hidden.json()) == {"name", "message", "url"}
        assert carol.head(f"/events/view/{world.amber}").status_code == 404
        feed = f"/feeds/{world.collection}"
        # carol may not see the Nordic community's collection at all: no feed.
        assert carol.get(f"{feed}/manifest.json").status_code == 404
        assert carol.get(f"/feeds/{UNKNOWN}/manifest.json").status_code == 404
    with http(live, world.tokens["dag"]) as dag:
        assert dag.get(f"/events/view/{world.amber}").status_code == 200


def test_red_only_for_its_recipients(world: World, live: str) -> None:
    with http(live, world.tokens["bob"]) as bob:  # Svea is named
        assert world.red_value in all_values(bob)
        red_md5 = hashlib.md5(world.red_value.encode()).hexdigest()
        assert red_md5 in bob.get(f"/feeds/{world.collection}/hashes.csv").text
        found = bob.post("/attributes/restSearch", json={"value": world.red_value}).json()
        assert [a["value"] for a in found["response"]["Attribute"]] == [world.red_value]
    with http(live, world.tokens["dag"]) as dag:  # a member, but not named
        values = all_values(dag)
        assert world.red_value not in values
        assert world.amber_value in values
        found = dag.post("/attributes/restSearch", json={"value": world.red_value}).json()
        assert found == {"response": {"Attribute": []}}
        assert red_md5 not in dag.get(f"/feeds/{world.collection}/hashes.csv").text
    with world.hub.session() as s:
        from sqlalchemy import select

        from varsel.audit.models import AuditEvent

        actions = s.execute(
            select(AuditEvent.action, AuditEvent.actor).where(
                AuditEvent.action == "objects.read.red"
            )
        ).all()
    assert ("objects.read.red", "bob@Svea") in [tuple(a) for a in actions]


def test_bare_authorization_under_misp_only(world: World, live: str) -> None:
    token = world.tokens["bob"]
    with httpx.Client(base_url=live) as client:
        assert (
            client.get("/misp/users/view/me", headers={"Authorization": token}).status_code == 200
        )
        # Outside /misp/ a bare header is refused as before.
        assert client.get("/api/v1/exports", headers={"Authorization": token}).status_code == 401
        # A password is never a MISP key.
        refused = client.get(
            "/misp/users/view/me", headers={"Authorization": f.PASSWORD.replace(" ", "")}
        )
        assert refused.status_code == 401
        assert set(refused.json()) == {"name", "message", "url"}
        assert client.get("/misp/users/view/me").status_code == 401


def test_password_in_the_bare_header_is_refused(hub: object, live: str) -> None:
    with world_user(hub) as password:  # a user whose password has no space
        with httpx.Client(base_url=live) as client:
            bare = client.get("/misp/users/view/me", headers={"Authorization": password})
            basic = base64.b64encode(f"erik:{password}".encode()).decode()
            ok = client.get("/misp/users/view/me", headers={"Authorization": f"Basic {basic}"})
        assert bare.status_code == 401
        assert ok.status_code == 200


class world_user:
    """A user ``erik`` with a password without spaces (what a bare header could carry)."""

    PASSWORD = "Sp4celess-Passw0rd-for-erik"

    def __init__(self, hub: object) -> None:
        self.hub = hub

    def __enter__(self) -> str:
        with self.hub.session() as s:  # type: ignore[attr-defined]
            f.org(s, "Erikssons", "SE")
            f.user(s, "erik", "Erikssons", password=self.PASSWORD)
            s.commit()
        return self.PASSWORD

    def __exit__(self, *exc: object) -> None:
        return None


def test_read_only_token_searches(world: World, live: str) -> None:
    with world.hub.session() as s:
        from varsel.orgs import service as orgs

        _, token = orgs.create_token(session=s, username="bob", scope="read", actor="test")
        s.commit()
    with http(live, token) as bob:
        me = bob.get("/users/view/me").json()
        assert me["Role"]["perm_add"] is False
        found = bob.post("/events/restSearch", json={"value": world.green_values[1]})
        assert found.status_code == 200, found.text
        assert [e["Event"]["uuid"] for e in found.json()["response"]] == [world.green]
        assert bob.post("/attributes/restSearch", json={}).status_code == 200
        assert bob.post("/events/index", json={"minimal": 1}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"timestamp": "yesterday-ish"}',
        b'{"limit": -3}',
        b'{"returnFormat": "openioc"}',
        b'{"published": "maybe"}',
    ],
)
def test_bad_searches_are_400_never_500(world: World, live: str, body: bytes) -> None:
    with http(live, world.tokens["bob"]) as bob:
        for path in ("/events/restSearch", "/attributes/restSearch", "/events/index"):
            answer = bob.post(path, content=body, headers={"Content-Type": "application/json"})
            if path == "/events/index" and b"returnFormat" in body:
                continue
            assert answer.status_code == 400, (path, answer.text)
            assert set(answer.json()) == {"name", "message", "url"}
