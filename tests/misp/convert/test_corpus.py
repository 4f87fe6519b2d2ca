"""misp-stix's own test events go MISP → STIX → MISP; each attribute equal or its loss named."""

from __future__ import annotations

import json

from tests.misp.convert.conftest import CORPUS, tag_placer, tag_scope
from tests.misp.convert.roundtrip import Tally, round_trip
from varsel.misp.convert import event_to_stix, stix_to_event


def test_the_corpus_round_trip_counts() -> None:
    tally = Tally()
    for path in sorted(CORPUS.glob("*.json")):
        round_trip(json.loads(path.read_text(encoding="utf-8")), tally, name=path.stem)
    print(f"events {tally.events}, equal {tally.equal}, lost {dict(tally.lost)}")
    print("different, no loss named:", len(tally.unnamed), *tally.unnamed, sep="\n  ")
    assert tally.events == 141
    # The figures in docs/misp.md ("Conversion"); a change in them is a change to explain there.
    assert tally.equal >= 635
    assert not tally.unnamed, "every attribute that does not come back equal is a named loss"


EVENT_FIELDS = ("info", "uuid", "timestamp", "date", "threat_level_id", "analysis", "published")


def test_the_event_itself_comes_back() -> None:
    different: list[str] = []
    for path in sorted(CORPUS.glob("*.json")):
        sample = json.loads(path.read_text(encoding="utf-8"))
        converted = event_to_stix(sample, place=tag_placer)
        back = stix_to_event(converted.objects[0], converted.objects[1:], scope=tag_scope)
        before, after = sample["Event"], back["Event"]
        for name in EVENT_FIELDS:
            if name in before and str(before[name]).lower() != str(after.get(name)).lower():
                different.append(f"{path.stem}: {name} {before[name]!r} -> {after.get(name)!r}")
        if before["Orgc"] != after["Orgc"]:
            different.append(f"{path.stem}: Orgc")
        reports = [r["uuid"] for r in before.get("EventReport", ())]
        if reports != [r["uuid"] for r in after.get("EventReport", ())]:
            different.append(f"{path.stem}: event reports")
    assert not different, "\n".join(different)


def test_a_report_from_the_hub_becomes_an_event_with_an_event_report() -> None:
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": "report--6b4f4c6e-1f7e-4f2a-9d2c-2f8b0f8e6a11",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-02T00:00:00.000Z",
        "published": "2024-01-02T00:00:00.000Z",
        "name": "A campaign against Nordic utilities",
        "description": "What we saw, and what to look for.",
        "object_refs": ["indicator--0d6a2b43-6a0e-4c3f-9b1f-3b0ac7b6d8a1"],
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
    }
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--0d6a2b43-6a0e-4c3f-9b1f-3b0ac7b6d8a1",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "pattern": "[domain-name:value = 'bad.example']",
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
    }
    event = stix_to_event(report, [indicator], scope=tag_scope)["Event"]
    assert event["uuid"] == "6b4f4c6e-1f7e-4f2a-9d2c-2f8b0f8e6a11"
    assert event["info"] == "A campaign against Nordic utilities"
    assert [(r["name"], r["content"]) for r in event["EventReport"]] == [
        ("A campaign against Nordic utilities", "What we saw, and what to look for.")
    ]
    assert event["distribution"] == "1" and {"name": "tlp:green"} in event["Tag"]
    assert [a["value"] for a in event["Attribute"]] == ["bad.example"]


def test_sightings_and_event_reports_come_back() -> None:
    sample = json.loads((CORPUS / "event_with_sightings.json").read_text(encoding="utf-8"))
    converted = event_to_stix(sample, place=tag_placer)
    kinds = [o["type"] for o in converted.objects]
    assert kinds.count("sighting") == 4 and kinds.count("opinion") == 4
    seen = next(
        o for o in converted.objects if o["id"] == "sighting--5125aa81-ab95-4cdf-83f9-3c467207307d"
    )
    assert seen["sighting_of_ref"] == "observed-data--91ae0a21-c7ae-4c7f-b84b-b84a7ce53d1f"
    assert (seen["count"], seen["first_seen"], seen["last_seen"]) == (
        1,
        "2020-10-25T16:22:05.000Z",
        "2020-10-25T16:22:05.000Z",
    )
    seen = next(
        o for o in converted.objects if o["id"] == "sighting--5533d0db-b952-4609-b82d-59017f2454fc"
    )
    assert seen["sighting_of_ref"] == "indicator--518b4bcb-a86b-4783-9457-391d548b605b"
    assert "observed_data_refs" not in seen, "the compact indicator stands alone"
    back = stix_to_event(converted.objects[0], converted.objects[1:], scope=tag_scope)
    sightings = {
        s["uuid"]: (s["type"], s["date_sighting"], s["Organisation"]["uuid"])
        for a in back["Event"]["Attribute"]
        for s in a["Sighting"]
    }
    assert sightings == {
        s["uuid"]: (s["type"], s["date_sighting"], s["Organisation"]["uuid"])
        for a in sample["Event"]["Attribute"]
        for s in a["Sighting"]
    }
    reported = json.loads((CORPUS / "event_with_event_report.json").read_text(encoding="utf-8"))
    converted = event_to_stix(reported, place=tag_placer)
    assert any(o["type"] == "note" for o in converted.objects)
    back = stix_to_event(converted.objects[0], converted.objects[1:], scope=tag_scope)
    assert [r["uuid"] for r in back["Event"]["EventReport"]] == [
        r["uuid"] for r in reported["Event"]["EventReport"]
    ]
