"""PyMISP, the real client, shares with a hub over HTTP as it would with MISP."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from pymisp import MISPEvent, PyMISP
from sqlalchemy import select

from tests.misp.write.conftest import Setup, rows
from tests.misp.write.events import addresses, event
from varsel.orgs import service as orgs
from varsel.sharing.models import StixObject


@pytest.fixture(autouse=True)
def _quiet_pymisp(caplog: pytest.LogCaptureFixture) -> None:
    # PyMISP logs every 4xx it receives at ERROR; the refusals below are on purpose.
    caplog.set_level(logging.CRITICAL, logger="pymisp")


def _versions(setup: Setup, stix_id: str) -> list[str]:
    with setup.hub.session() as s:
        return sorted(
            s.execute(select(StixObject.version).where(StixObject.stix_id == stix_id)).scalars()
        )


def test_pymisp_adds_edits_and_sights(setup: Setup, live: str) -> None:
    misp = PyMISP(live + "/misp", setup.alice_token, ssl=False)
    new = MISPEvent()
    new.info = "C2 addresses seen by acme"
    new.distribution = 1
    new.add_tag("tlp:green")
    first = new.add_attribute("ip-dst", "30.250.0.20", to_ids=True)
    added = misp.add_event(new, pythonify=True)
    assert isinstance(added, MISPEvent), added
    assert added.uuid == new.uuid
    assert "30.250.0.20" in [a.value for a in added.attributes]
    assert len(_versions(setup, f"grouping--{new.uuid}")) == 1

    # Edited as PyMISP scripts do: the loaded event, changed, sent back.
    added.info = "C2 addresses and domains seen by acme"
    added.add_attribute("domain", "c2.bad.example", to_ids=True)
    updated = misp.update_event(added, pythonify=True)
    assert isinstance(updated, MISPEvent), updated
    assert {a.value for a in updated.attributes} >= {"30.250.0.20", "c2.bad.example"}
    assert len(_versions(setup, f"grouping--{new.uuid}")) == 2

    sighting = misp.add_sighting({"source": "acme sensors"}, first.uuid)
    assert "errors" not in sighting, sighting
    with setup.hub.session() as s:
        raws = s.execute(select(StixObject.raw).where(StixObject.type == "sighting")).scalars()
        sightings = [json.loads(r) for r in raws]
    assert [x["sighting_of_ref"] for x in sightings] == [f"indicator--{first.uuid}"]

    # By value, as MISP sights every attribute with it: the indicator that names it.
    domain = next(a for a in updated.attributes if a.value == "c2.bad.example")
    by_value = misp.add_sighting({"value": "c2.bad.example", "source": "acme dns"})
    assert "errors" not in by_value, by_value
    with setup.hub.session() as s:
        sighted = {
            json.loads(r)["sighting_of_ref"]
            for r in s.execute(
                select(StixObject.raw).where(StixObject.type == "sighting")
            ).scalars()
        }
    assert sighted == {f"indicator--{first.uuid}", f"indicator--{domain.uuid}"}
    # A false positive has no STIX sighting: refused with the reason, as MISP errors read.
    refused = misp.add_sighting({"type": "1"}, first.uuid)
    assert refused["errors"][0] == 400


def test_refusals_answer_as_misp_does(setup: Setup, live: str) -> None:
    hub = setup.hub
    with hub.session() as s:
        read_only = orgs.create_token(session=s, username="alice", scope="read", actor="test")[1]
        s.commit()
    evt = event(addresses(2))
    before = rows(hub)
    with httpx.Client(base_url=live) as client:
        # A read-only token shares nothing.
        answer = client.post("/misp/events/add", json=evt, headers={"Authorization": read_only})
        assert answer.status_code == 403
        assert set(answer.json()) >= {"name", "message", "url"}
        # beta has no MISP collection set: told how to set one.
        answer = client.post(
            "/misp/events/add", json=evt, headers={"Authorization": setup.bob_token}
        )
        assert answer.status_code == 403
        body = answer.json()
        assert set(body) == {"name", "message", "url", "errors"}
        assert "varsel misp set-collection" in body["message"]
        assert body["url"] == "/events/add"
        # … but may name a collection it may write to, as varsel misp import --url does.
        answer = client.post(
            "/misp/events/add",
            params={"collection": setup.collection_id},
            json=evt,
            headers={"Authorization": setup.bob_token},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["varsel_report"]["status"] == "new"
        shared = rows(hub)
        assert shared > before
        # Not JSON, and not an event: 400 with the reason; nothing written.
        for body_bytes in (b"{not json", b"[1, 2]"):
            answer = client.post(
                "/misp/events/add",
                content=body_bytes,
                headers={"Authorization": setup.alice_token, "Content-Type": "application/json"},
            )
            assert answer.status_code == 400, answer.text
            assert answer.json()["message"]
        # An older version of bob's event, from alice: another organisation's event.
        older = json.loads(json.dumps(evt))
        older["Event"]["timestamp"] = "1600000000"
        answer = client.post(
            "/misp/events/add", json=older, headers={"Authorization": setup.alice_token}
        )
        assert answer.status_code == 403, answer.text
        assert answer.json()["errors"]["refusal"] == "denied"
        # bob's own older version: stale, 409, with the timestamp here.
        answer = client.post(
            "/misp/events/add",
            params={"collection": "misp"},
            json=older,
            headers={"Authorization": setup.bob_token},
        )
        assert answer.status_code == 409, answer.text
        assert "a newer version of this event" in answer.json()["message"]
        # Editing an event nobody of acme shared.
        answer = client.post(
            f"/misp/events/edit/{evt['Event']['uuid']}",
            json=evt,
            headers={"Authorization": setup.alice_token},
        )
        assert answer.status_code == 404, answer.text
        # A sighting of an attribute nobody may read.
        answer = client.post(
            "/misp/sightings/add/8a1d6a5c-6b0f-4f6e-9d61-3c1b7e0a9f00",
            json={"source": "x"},
            headers={"Authorization": setup.alice_token},
        )
        assert answer.status_code == 404, answer.text
    assert rows(hub) == shared


def test_an_event_over_the_limit_is_refused_before_it_is_read(setup: Setup, live: str) -> None:
    limit = setup.hub.settings.max_content_length
    evt = event(addresses(100))
    evt["Event"]["comment"] = "x" * (limit + 1)
    before = rows(setup.hub)
    answer = httpx.post(
        live + "/misp/events/add", json=evt, headers={"Authorization": setup.alice_token}
    )
    assert answer.status_code == 413
    assert rows(setup.hub) == before
