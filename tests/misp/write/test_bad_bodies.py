"""Bodies no MISP would send: a clear 4xx every time, never a 500, nothing half-written."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.misp.write.conftest import Setup, rows
from tests.misp.write.events import addresses, event

GOOD = str(uuid.uuid4())
BODIES = [
    {"Event": {"uuid": 5, "info": "x"}},
    {"Event": {"uuid": "not-a-uuid", "info": "x"}},
    {"Event": {"uuid": GOOD, "info": "x", "Attribute": "not a list"}},
    {"Event": {"uuid": GOOD, "info": "x", "Attribute": [{"type": "ip-dst"}]}},
    {"Event": {"uuid": GOOD, "info": "x", "timestamp": "abc", "Attribute": []}},
    {"Event": {"uuid": GOOD, "info": "x", "timestamp": "99999999999999999999999"}},
    {
        "Event": {
            "uuid": GOOD,
            "info": "\x00nul",
            "Attribute": [{"type": "ip-dst", "value": "1\x00"}],
        }
    },
    {"Event": {"uuid": GOOD, "info": ["a list"], "Object": [{"Attribute": 7}]}},
    {"Event": {"uuid": GOOD, "info": "x", "distribution": "9", "Tag": [{"name": None}]}},
    {"Event": {"uuid": GOOD, "info": "x", "Attribute": [{"type": "ip-dst", "value": {"a": 1}}]}},
    {"Event": None},
    [],
    "text",
    12,
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_events_add_answers_every_bad_body_with_a_4xx(
    setup: Setup, live: str, body: object
) -> None:
    before = rows(setup.hub)
    answer = httpx.post(
        live + "/misp/events/add", json=body, headers={"Authorization": setup.alice_token}
    )
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert {"name", "message", "url"} <= set(answer.json())
        assert rows(setup.hub) == before


def test_edit_and_sightings_answer_bad_bodies_with_a_4xx(setup: Setup, live: str) -> None:
    evt = event(addresses(1))
    headers = {"Authorization": setup.alice_token}
    with httpx.Client(base_url=live, headers=headers) as client:
        assert client.post("/misp/events/add", json=evt).status_code == 200
        before = rows(setup.hub)
        uid = evt["Event"]["uuid"]
        for path, body in [
            (f"/misp/events/edit/{uid}", {"Event": {"uuid": str(uuid.uuid4()), "info": "x"}}),
            (f"/misp/events/edit/{uid}", [1]),
            ("/misp/events/edit/12", {"Event": {"info": "no uuid"}}),
            ("/misp/sightings/add", {"value": ""}),
            ("/misp/sightings/add", {"value": "not an observable at all"}),
            ("/misp/sightings/add", {"type": "2", "uuid": uid}),
            ("/misp/sightings/add", "text"),
            ("/misp/sightings/add/12", {}),
            ("/misp/sightings/add", {"uuid": uid, "timestamp": "99999999999999999999"}),
        ]:
            answer = client.post(path, json=body)
            assert 400 <= answer.status_code < 500, (path, body, answer.text)
            assert {"name", "message", "url"} <= set(answer.json()), answer.text
        assert rows(setup.hub) == before
