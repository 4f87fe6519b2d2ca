"""events/restSearch's other returnFormats, and MISP's paths at the hub's root for PyMISP."""

from __future__ import annotations

import json

import httpx

from tests.misp.read.conftest import World


def post(live: str, token: str, path: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{live}/misp{path}", json=body, headers={"Authorization": token})


def test_text_suricata_and_stix2(world: World, live: str) -> None:
    bob, carol = world.tokens["bob"], world.tokens["carol"]
    text = post(live, bob, "/events/restSearch", {"returnFormat": "text"})
    assert text.status_code == 200
    assert set(text.text.split()) == {
        *world.green_values,
        world.amber_value,
        world.clear_value,
        world.red_value,
    }
    rules = post(live, bob, "/events/restSearch", {"returnFormat": "suricata"}).text
    assert world.amber_value in rules and rules.lstrip().startswith(("#", "alert"))
    assert (
        world.amber_value
        not in post(live, carol, "/events/restSearch", {"returnFormat": "suricata"}).text
    )
    bundle = json.loads(post(live, bob, "/attributes/restSearch", {"returnFormat": "stix2"}).text)
    assert bundle["type"] == "bundle"
    patterns = " ".join(o.get("pattern", "") for o in bundle["objects"])
    assert world.red_value in patterns  # bob's Svea is the RED indicator's recipient
    carols = json.loads(post(live, carol, "/events/restSearch", {"returnFormat": "stix2"}).text)
    assert world.red_value not in json.dumps(carols) and world.amber_value not in json.dumps(carols)
    typed = post(live, bob, "/events/restSearch", {"returnFormat": "text", "type": "domain"})
    assert typed.text == ""
    limited = post(live, bob, "/attributes/restSearch", {"limit": 2, "page": 1}).json()
    assert len(limited["response"]["Attribute"]) == 2


def test_misp_paths_at_the_root_only_with_a_bare_key(world: World, live: str) -> None:
    token = world.tokens["bob"]
    with httpx.Client(base_url=live) as client:
        # PyMISP("http://HUB/misp") asks for /users/view/me: served as /misp/users/view/me.
        assert (
            client.get("/users/view/me", headers={"Authorization": token}).json()["User"]["email"]
            == "bob"
        )
        # Anything else at those paths is the hub's own 404, as before.
        assert (
            client.get("/users/view/me", headers={"Authorization": f"Bearer {token}"}).status_code
            == 404
        )
        assert client.get("/events/index").status_code == 404
