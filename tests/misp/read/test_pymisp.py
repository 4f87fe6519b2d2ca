"""PyMISP, the real client, reads a hub over HTTP as it reads MISP (issue 16)."""

from __future__ import annotations

from pymisp import MISPEvent, PyMISP

from tests.misp.read.conftest import World


def client(live: str, token: str) -> PyMISP:
    """Return PyMISP connected to the hub's MISP API, as a MISP user would connect."""
    return PyMISP(live + "/misp", token, ssl=False)


def values(event: dict) -> set[str]:
    body = event["Event"]
    found = {a["value"] for a in body.get("Attribute", [])}
    for obj in body.get("Object", []):
        found |= {a["value"] for a in obj.get("Attribute", [])}
    return found


def test_the_constructor_reads_version_user_and_types(world: World, live: str) -> None:
    misp = client(live, world.tokens["bob"])
    assert misp._current_user.email == "bob"
    assert misp._current_role.perm_sync is True
    # Loaded from the hub (describe_types_remote), identical to MISP's own list.
    assert misp.describe_types == misp.describe_types_local
    assert "ip-dst" in misp.types


def test_get_event_by_uuid(world: World, live: str) -> None:
    misp = client(live, world.tokens["bob"])
    event = misp.get_event(world.green)
    assert event["Event"]["uuid"] == world.green
    assert values(event) == set(world.green_values)
    typed = misp.get_event(world.green, pythonify=True)
    assert isinstance(typed, MISPEvent)
    assert {a.value for a in typed.attributes} == set(world.green_values)
    # The numeric id MISP clients also use reaches the same event.
    again = misp.get_event(int(event["Event"]["id"]))
    assert again["Event"]["uuid"] == world.green


def test_search_events_and_attributes(world: World, live: str) -> None:
    misp = client(live, world.tokens["bob"])
    found = misp.search(controller="events", value=world.green_values[0])
    assert [e["Event"]["uuid"] for e in found] == [world.green]
    # The event keeps the attributes that matched.
    assert values(found[0]) == {world.green_values[0]}
    attributes = misp.search(controller="attributes", value=world.amber_value)
    assert [a["value"] for a in attributes["Attribute"]] == [world.amber_value]
    assert attributes["Attribute"][0]["Event"]["uuid"] == world.amber
    text = misp.search(controller="attributes", value=world.amber_value, return_format="csv")
    header, *rows = text.strip().splitlines()
    assert header.startswith("uuid,event_id,category,type,value")
    assert len(rows) == 1 and world.amber_value in rows[0]
    assert misp.search(controller="events", value="192.0.2.254") == []


def test_search_index_by_timestamp_and_published(world: World, live: str) -> None:
    misp = client(live, world.tokens["bob"])
    index = misp.search_index(published=True)
    uuids = {e["uuid"] for e in index}
    assert {world.green, world.amber} <= uuids
    assert len(uuids) == 3  # and alice's day event of loose objects
    newest = max(int(e["timestamp"]) for e in index)
    later = misp.search_index(timestamp=newest + 1)
    assert later == []
    assert {e["uuid"] for e in misp.search_index(timestamp=newest)} <= uuids
    assert misp.search_index(published=False) == []
