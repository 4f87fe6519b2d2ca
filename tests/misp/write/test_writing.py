"""Sharing MISP events into a collection: versions, atomicity per event, reasons per attribute."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.misp.write.conftest import Setup, rows
from tests.misp.write.events import addresses, attribute, event
from varsel.misp.flows import writing
from varsel.sharing.models import Collection, StixObject


def _share(hub: Hub, setup: Setup, evt: Any, user: str = "alice") -> writing.EventOutcome:
    with hub.session() as s:
        outcome = writing.share_event(
            session=s,
            principal=f.principal(s, user),
            collection=s.get(Collection, setup.collection_id),
            event=evt,
        )
        s.commit()
        return outcome


def _grouping(hub: Hub, uid: str) -> dict[str, Any]:
    with hub.session() as s:
        raw = s.execute(
            select(StixObject.raw).where(
                StixObject.stix_id == f"grouping--{uid}", StixObject.is_latest.is_(True)
            )
        ).scalar_one()
        return dict(json.loads(raw))


def test_new_version_unchanged_and_older(setup: Setup) -> None:
    hub = setup.hub
    attrs = addresses(3)
    first = event(attrs, timestamp=1_700_000_000)
    uid = first["Event"]["uuid"]
    outcome = _share(hub, setup, first)
    assert outcome.status is writing.Status.NEW, outcome
    assert outcome.attributes == 3 and not outcome.refused
    refs = _grouping(hub, uid)["object_refs"]
    for a in attrs:
        assert any(a["uuid"] in r for r in refs)
    stored = rows(hub)

    # The same event again: nothing stored, and said so.
    again = _share(hub, setup, json.loads(json.dumps(first)))
    assert again.status is writing.Status.UNCHANGED
    assert "already here" in (again.reason or "")
    assert rows(hub) == stored

    # A newer one, without the last attribute and with one changed: a new version.
    newer = event(
        [attrs[0], {**attrs[1], "value": "30.250.0.77", "timestamp": "1700000500"}],
        uid=uid,
        timestamp=1_700_000_500,
    )
    version = _share(hub, setup, newer)
    assert version.status is writing.Status.VERSION, version
    refs = _grouping(hub, uid)["object_refs"]
    assert not any(attrs[2]["uuid"] in r for r in refs)
    assert any(attrs[1]["uuid"] in r for r in refs)
    grown = rows(hub)
    assert grown > stored

    # An older one is refused with the reason, and nothing is written.
    older = event(attrs, uid=uid, timestamp=1_699_999_999)
    refused = _share(hub, setup, older)
    assert refused.status is writing.Status.REFUSED
    assert refused.reason is not None
    assert "a newer version of this event, timestamp 1700000500, is already here" in refused.reason
    assert rows(hub) == grown


def test_a_refused_attribute_is_named_and_left_out_of_the_event(
    setup: Setup, configure: Any
) -> None:
    configure(warninglist_mode="refuse")
    hub = setup.hub
    resolver = attribute("8.8.8.8")
    ordinary = attribute("30.250.0.9")
    evt = event([resolver, ordinary])
    outcome = _share(hub, setup, evt)
    assert outcome.status is writing.Status.NEW, outcome
    assert outcome.refused
    (note,) = [n for n in outcome.notes if n.kind is writing.NoteKind.REFUSED]
    assert note.item == resolver["uuid"]
    assert "warning list" in note.reason
    refs = _grouping(hub, evt["Event"]["uuid"])["object_refs"]
    assert not any(resolver["uuid"] in r for r in refs)
    assert any(ordinary["uuid"] in r for r in refs)
    with hub.session() as s:
        ids = set(s.execute(select(StixObject.stix_id)).scalars())
    assert not any(resolver["uuid"] in i for i in ids)


def test_an_unreadable_event_is_refused_whole(setup: Setup) -> None:
    hub = setup.hub
    before = rows(hub)
    for bad in (
        {"Event": {"info": "no uuid", "Attribute": addresses(1)}},
        {"Event": "not an object"},
        ["a list"],
    ):
        outcome = _share(hub, setup, bad)
        assert outcome.status is writing.Status.REFUSED, bad
        assert outcome.reason
    assert rows(hub) == before


def test_an_unknown_attribute_type_is_a_named_loss(setup: Setup) -> None:
    hub = setup.hub
    strange = attribute("whatever", kind="no-such-misp-type")
    fine = attribute("30.250.0.10")
    outcome = _share(hub, setup, event([strange, fine]))
    assert outcome.status is writing.Status.NEW, outcome
    assert any(n.item == strange["uuid"] for n in outcome.notes), outcome.notes
    assert not outcome.refused


def test_another_organisations_event_is_refused_and_nothing_is_written(setup: Setup) -> None:
    hub = setup.hub
    evt = event(addresses(2))
    assert _share(hub, setup, evt).status is writing.Status.NEW
    before = rows(hub)
    newer = json.loads(json.dumps(evt))
    newer["Event"]["timestamp"] = "1800000000"
    outcome = _share(hub, setup, newer, user="bob")
    assert outcome.status is writing.Status.REFUSED, outcome
    assert rows(hub) == before


@pytest.mark.parametrize("count", [1, 250])
def test_the_event_names_only_what_was_stored(setup: Setup, count: int) -> None:
    hub = setup.hub
    evt = event(addresses(count))
    outcome = _share(hub, setup, evt)
    grouping = _grouping(hub, evt["Event"]["uuid"])
    with hub.session() as s:
        stored = set(s.execute(select(StixObject.stix_id)).scalars())
    assert set(grouping["object_refs"]) <= stored
    assert outcome.stored >= count + 1
