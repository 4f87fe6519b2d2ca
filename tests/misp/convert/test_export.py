"""MISP → STIX: TLP 2.0 placement, recipients, versions and ids, losses, malformed input."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from misp_stix_converter import InternalSTIX2toMISPParser, MISPtoSTIX21Parser

from tests.misp.convert.conftest import (
    EVENT_TIME,
    EVENT_UUID,
    attribute,
    corpus_event,
    event,
    tag_placer,
    tag_scope,
)
from varsel.errors import InvalidInput
from varsel.misp.convert import event_to_stix, stix_to_event
from varsel.misp.sharing import Placement, Scope
from varsel.sharing.ingest import RECIPIENTS_PROPERTY
from varsel.sharing.tlp import TLP, level_of_marking

A1 = "91ae0a21-c7ae-4c7f-b84b-b84a7ce53d1f"
A2 = "518b4bcb-a86b-4783-9457-391d548b605b"
TLP1_IDS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",  # white
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",  # green
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",  # amber
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",  # red
}


def by_id(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {obj["id"]: obj for obj in objects}


def test_the_grouping_comes_first_with_the_event_as_its_version() -> None:
    converted = event_to_stix(
        event(attribute(A1, "ip-dst", "203.0.113.7", timestamp=str(EVENT_TIME + 60))),
        place=tag_placer,
    )
    grouping = converted.objects[0]
    assert grouping["id"] == f"grouping--{EVENT_UUID}"
    assert grouping["modified"] == "2020-10-25T16:22:00.000Z"
    assert converted.uuid == EVENT_UUID and converted.timestamp == EVENT_TIME
    assert converted.attributes == 1 and converted.losses == []
    indicator = by_id(converted.objects)[f"indicator--{A1}"]
    assert indicator["modified"] == "2020-10-25T16:23:00.000Z"
    assert "[network-traffic:dst_ref.type = 'ipv4-addr'" in indicator["pattern"]


def test_the_same_event_converts_to_the_same_objects() -> None:
    sample = corpus_event("event_with_sightings")
    first = event_to_stix(copy.deepcopy(sample), place=tag_placer)
    second = event_to_stix(copy.deepcopy(sample), place=tag_placer)
    assert first.objects == second.objects
    assert sample == corpus_event("event_with_sightings"), "the caller's event is left as it was"


def test_tlp_tags_become_tlp_2_markings_and_no_tlp_1_marking_is_kept() -> None:
    sample = event(
        attribute(A1, "ip-dst", "203.0.113.7", Tag=[{"name": "tlp:green"}]),
        attribute(A2, "domain", "example.org", to_ids=False),
        Tag=[{"name": "tlp:white"}],
    )
    converted = event_to_stix(sample, place=tag_placer)
    objects = by_id(converted.objects)
    assert not [o for o in converted.objects if o["type"] == "marking-definition"]
    for obj in converted.objects:
        refs = obj["object_marking_refs"]
        assert not TLP1_IDS & set(refs), obj["id"]
        assert [level_of_marking(r) for r in refs if level_of_marking(r)] != []
    assert objects[f"grouping--{EVENT_UUID}"]["object_marking_refs"] == [TLP.CLEAR.stix_id]
    # the attribute's own tlp:green and the event's tlp:white: the more restrictive wins
    assert objects[f"indicator--{A1}"]["object_marking_refs"] == [TLP.GREEN.stix_id]
    assert objects[f"observed-data--{A2}"]["object_marking_refs"] == [TLP.CLEAR.stix_id]
    assert objects[f"domain-name--{A2}"]["object_marking_refs"] == [TLP.CLEAR.stix_id]


def test_the_placer_sees_each_item_scope_with_inherited_distribution_and_tags() -> None:
    seen: list[Scope] = []

    def placer(scope: Scope) -> Placement:
        seen.append(scope)
        return Placement(TLP.AMBER)

    sample = event(
        attribute(A1, "ip-dst", "203.0.113.7", distribution="5", Tag=[{"name": "own"}]),
        attribute(A2, "domain", "example.org", distribution="4", SharingGroup={"uuid": EVENT_UUID}),
        Tag=[{"name": "tlp:amber"}],
    )
    event_to_stix(sample, place=placer)
    assert seen[0] == Scope(1, None, ("tlp:amber",), "CERT-A")
    assert seen[1] == Scope(1, None, ("own", "tlp:amber"), "CERT-A")
    assert seen[2] == Scope(4, EVENT_UUID, ("tlp:amber",), "CERT-A")


def test_an_attribute_is_never_placed_broader_than_its_event() -> None:
    def placer(scope: Scope) -> Placement:
        if "tlp:red" in scope.tags:
            return Placement(TLP.RED, ("CERT-A", "CERT-B"))
        return Placement(TLP.CLEAR)

    sample = event(
        attribute(A1, "ip-dst", "203.0.113.7", Tag=[{"name": "tlp:clear"}]),
        Tag=[{"name": "tlp:red"}],
    )
    objects = by_id(event_to_stix(sample, place=placer).objects)
    indicator = objects[f"indicator--{A1}"]
    assert indicator["object_marking_refs"] == [TLP.RED.stix_id]
    assert indicator[RECIPIENTS_PROPERTY] == ["CERT-A", "CERT-B"]


def test_recipients_with_nobody_in_common_lose_the_attribute() -> None:
    def placer(scope: Scope) -> Placement:
        if scope.distribution == 4:
            return Placement(TLP.RED, ("CERT-B",))
        return Placement(TLP.RED, ("CERT-A",))

    sample = event(
        attribute(A1, "ip-dst", "203.0.113.7", distribution="4", SharingGroup={"uuid": A2}),
        attribute(A2, "ip-dst", "203.0.113.8"),
    )
    converted = event_to_stix(sample, place=placer)
    assert [(loss.item, loss.what) for loss in converted.losses] == [
        (A1, "attribute ip-dst 203.0.113.7")
    ]
    assert "no one in common" in converted.losses[0].reason
    assert not [o for o in converted.objects if A1 in o["id"]]
    grouping = converted.objects[0]
    assert not [ref for ref in grouping["object_refs"] if A1 in ref]
    assert f"indicator--{A2}" in grouping["object_refs"]


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        ([], "a MISP event is a JSON object"),
        ({"Event": "x"}, "'Event' must be a JSON object"),
        ({"info": "x", "timestamp": "1"}, "no valid uuid"),
        ({"uuid": "not-a-uuid", "info": "x", "timestamp": "1"}, "no valid uuid"),
        ({"uuid": EVENT_UUID, "timestamp": "1"}, "no info"),
        ({"uuid": EVENT_UUID, "info": " ", "timestamp": "1"}, "no info"),
        ({"uuid": EVENT_UUID, "info": "x"}, "no timestamp"),
        ({"uuid": EVENT_UUID, "info": "x", "timestamp": "-5"}, "no timestamp"),
        ({"uuid": EVENT_UUID, "info": "x", "timestamp": "1", "distribution": 9}, "distribution"),
        ({"uuid": EVENT_UUID, "info": "x", "timestamp": "1", "Attribute": {}}, "must be a list"),
        ({"uuid": EVENT_UUID, "info": "x", "timestamp": "1", "Object": "x"}, "must be a list"),
    ],
)
def test_what_is_no_event_is_refused_as_a_whole(sample: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        event_to_stix(sample, place=tag_placer)


def test_each_unreadable_attribute_is_a_named_loss_and_the_rest_converts() -> None:
    good = attribute(A1, "ip-dst", "203.0.113.7")
    sample = event(
        good,
        "not an attribute",
        attribute("c8e5e5cf-1ba0-4f31-b1cd-5e5f3b5a1a9f", "no-such-type", "x"),
        attribute("d2f1a0bd-6a2b-4b83-8f5f-8fba1f0f1c11", "domain", "a" * 200_000),
        attribute("e1d3c0a2-8a48-4d8c-9d76-0b5b0bd0f3f2", "domain", ""),
        attribute(A1, "domain", "duplicate.example"),
        attribute("f3a2b1c0-1111-4c8c-9d76-0b5b0bd0f3f2", "domain", "x.example", distribution="7"),
        {"type": "domain", "value": "no-uuid.example"},
    )
    converted = event_to_stix(sample, place=tag_placer)
    reasons = [(loss.item, loss.reason) for loss in converted.losses]
    assert reasons == [
        (None, "it is not a JSON object"),
        ("c8e5e5cf-1ba0-4f31-b1cd-5e5f3b5a1a9f", "unknown attribute type 'no-such-type'"),
        ("d2f1a0bd-6a2b-4b83-8f5f-8fba1f0f1c11", "its value is longer than 131,072 characters"),
        ("e1d3c0a2-8a48-4d8c-9d76-0b5b0bd0f3f2", "its value is empty"),
        (A1, "another item of this event has the same uuid"),
        ("f3a2b1c0-1111-4c8c-9d76-0b5b0bd0f3f2", "unknown distribution '7'"),
        (None, "it has no valid uuid"),
    ]
    assert all(loss.event == EVENT_UUID for loss in converted.losses)
    assert converted.attributes == 8
    assert f"indicator--{A1}" in by_id(converted.objects)


def test_a_deleted_attribute_is_not_shared() -> None:
    sample = event(
        attribute(A1, "ip-dst", "203.0.113.7", deleted=True),
        attribute(A2, "ip-dst", "203.0.113.8", deleted="0"),
    )
    converted = event_to_stix(sample, place=tag_placer)
    assert [(loss.item, loss.reason) for loss in converted.losses] == [
        (A1, "it is deleted in MISP")
    ]
    assert converted.objects[0]["object_refs"] == [f"indicator--{A2}"]


def test_an_expiration_sighting_is_a_named_loss() -> None:
    sighting = {"uuid": A2, "type": "2", "date_sighting": str(EVENT_TIME)}
    converted = event_to_stix(
        event(attribute(A1, "ip-dst", "203.0.113.7", Sighting=[sighting])), place=tag_placer
    )
    assert [(loss.item, loss.what) for loss in converted.losses] == [
        (A2, "expiration sighting of attribute ip-dst 203.0.113.7")
    ]


def test_a_failure_inside_misp_stix_costs_only_that_attribute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault injection: misp-stix raising on one attribute (it raises on none of the corpus)."""
    resolve = MISPtoSTIX21Parser._resolve_attribute

    def failing(self: MISPtoSTIX21Parser, attribute: Any) -> Any:
        if attribute["uuid"] == A2:
            raise KeyError("boom")
        return resolve(self, attribute)

    monkeypatch.setattr(MISPtoSTIX21Parser, "_resolve_attribute", failing)
    sample = event(
        attribute(A1, "ip-dst", "203.0.113.7", Tag=[{"name": "kept"}]),
        attribute(A2, "domain", "example.org", Tag=[{"name": "kept"}]),
    )
    converted = event_to_stix(sample, place=tag_placer)
    assert [(loss.item, loss.reason) for loss in converted.losses] == [
        (A2, "misp-stix failed on it: 'boom'")
    ]
    objects = by_id(converted.objects)
    assert f"indicator--{A1}" in objects and converted.objects[0]["object_refs"] == [
        f"indicator--{A1}"
    ]


def test_object_references_become_relationships_and_galaxies_become_stix_objects() -> None:
    converted = event_to_stix(corpus_event("event_with_object_references"), place=tag_placer)
    kinds = [o["type"] for o in converted.objects]
    relationships = {o["relationship_type"] for o in converted.objects if "relationship_type" in o}
    assert {"threatens", "includes", "connected-to", "protected-with"} <= relationships
    assert {"attack-pattern", "course-of-action", "vulnerability"} <= set(kinds)
    galaxy = event_to_stix(corpus_event("event_with_attack_pattern_galaxy"), place=tag_placer)
    assert any(o["type"] == "attack-pattern" for o in galaxy.objects)
    assert galaxy.losses == []


def test_the_creator_is_named_not_claimed_and_a_published_event_stays_a_grouping() -> None:
    converted = event_to_stix(corpus_event("published_event"), place=tag_placer)
    grouping = converted.objects[0]
    assert grouping["type"] == "grouping"
    assert grouping["x_varsel_published"] == "2020-10-25T16:22:00.000Z"
    assert grouping["x_varsel_misp_orgc"] == {
        "name": "MISP-Project",
        "uuid": "a0c22599-9e58-4da4-96ac-7051603fa951",
    }
    assert not [o for o in converted.objects if "created_by_ref" in o]
    back = stix_to_event(grouping, converted.objects[1:], scope=tag_scope)["Event"]
    assert back["published"] is True and back["Orgc"]["name"] == "MISP-Project"


def test_a_failure_inside_misp_stix_on_the_way_back_costs_only_that_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault injection: misp-stix's parser raising when one indicator is in the bundle."""
    sample = event(
        attribute(A1, "ip-dst", "203.0.113.7", Tag=[{"name": "kept"}]),
        attribute(A2, "domain", "example.org", Tag=[{"name": "kept"}]),
    )
    converted = event_to_stix(sample, place=tag_placer)
    parse = InternalSTIX2toMISPParser.parse_stix_bundle

    def failing(self: InternalSTIX2toMISPParser, **kwargs: Any) -> Any:
        if f"indicator--{A2}" in self._loaded_object_ids:
            raise ValueError("boom")
        return parse(self, **kwargs)

    monkeypatch.setattr(InternalSTIX2toMISPParser, "parse_stix_bundle", failing)
    back = stix_to_event(converted.objects[0], converted.objects[1:], scope=tag_scope)
    assert [a["uuid"] for a in back["Event"]["Attribute"]] == [A1]
    assert back["Event"]["info"] == "a test event"
