"""STIX 2.1 object validation: each rule with a valid and an invalid example."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from varsel.sharing.validation import (
    InvalidStixObject,
    ValidatedObject,
    parse_timestamp,
    timestamp_key,
    validate_object,
)

Obj = dict[str, Any]
Edit = Callable[[Obj], None]

UUID = "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
UUID2 = "a4d70b75-6f4a-4d65-8ffc-fa5e5b9b4ea3"
CREATED = "2024-03-01T10:00:00.000Z"
MODIFIED = "2024-03-02T10:00:00.000Z"
IDENTITY = f"identity--{UUID2}"
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def sdo(type_name: str, **properties: Any) -> Obj:
    """Build a minimal versioned object of `type_name` with `properties` added."""
    return {
        "type": type_name,
        "spec_version": "2.1",
        "id": f"{type_name}--{UUID}",
        "created": CREATED,
        "modified": MODIFIED,
        **properties,
    }


def sco(type_name: str, **properties: Any) -> Obj:
    """Build a minimal cyber-observable object of `type_name` with `properties` added."""
    return {"type": type_name, "id": f"{type_name}--{UUID}", **properties}


VALID: dict[str, Obj] = {
    "attack-pattern": sdo(
        "attack-pattern",
        name="Spearphishing",
        kill_chain_phases=[{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}],
    ),
    "campaign": sdo("campaign", name="C", first_seen=CREATED, last_seen=MODIFIED),
    "course-of-action": sdo("course-of-action", name="Patch"),
    "grouping": sdo("grouping", context="suspicious-activity", object_refs=[IDENTITY]),
    "identity": sdo("identity", name="CERT-NO", identity_class="organization"),
    "incident": sdo("incident", name="Outage"),
    "indicator": sdo(
        "indicator",
        pattern="[ipv4-addr:value = '198.51.100.1']",
        pattern_type="stix",
        valid_from=CREATED,
        valid_until=MODIFIED,
    ),
    "indicator-yara": sdo(
        "indicator",
        pattern="rule x { condition: true }",
        pattern_type="yara",
        valid_from=CREATED,
    ),
    "infrastructure": sdo("infrastructure", name="C2"),
    "intrusion-set": sdo("intrusion-set", name="APT", aliases=["x"]),
    "location-region": sdo("location", region="northern-europe"),
    "location-country": sdo("location", country="NO"),
    "location-coordinates": sdo("location", latitude=59.9, longitude=10.7, precision=100.0),
    "malware": sdo("malware", is_family=True, name="Emotet"),
    "malware-instance": sdo("malware", is_family=False),
    "malware-analysis": sdo("malware-analysis", product="sandbox", result="malicious"),
    "malware-analysis-scos": sdo(
        "malware-analysis", product="sandbox", analysis_sco_refs=[f"file--{UUID2}"]
    ),
    "note": sdo("note", content="text", object_refs=[IDENTITY]),
    "observed-data": sdo(
        "observed-data",
        first_observed=CREATED,
        last_observed=MODIFIED,
        number_observed=1,
        object_refs=[f"ipv4-addr--{UUID2}"],
    ),
    "opinion": sdo("opinion", opinion="agree", object_refs=[IDENTITY]),
    "report": sdo("report", name="R", published=MODIFIED, object_refs=[IDENTITY]),
    "threat-actor": sdo("threat-actor", name="TA"),
    "tool": sdo("tool", name="nmap"),
    "vulnerability": sdo("vulnerability", name="CVE-2024-0001"),
    "relationship": sdo(
        "relationship",
        relationship_type="indicates",
        source_ref=f"indicator--{UUID2}",
        target_ref=f"malware--{UUID2}",
        start_time=CREATED,
        stop_time=MODIFIED,
    ),
    "sighting": sdo(
        "sighting",
        sighting_of_ref=f"indicator--{UUID2}",
        count=3,
        where_sighted_refs=[IDENTITY],
        observed_data_refs=[f"observed-data--{UUID2}"],
    ),
    "marking-definition": {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP_GREEN,
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "name": "TLP:GREEN",
        "definition": {"tlp": "green"},
    },
    "marking-definition-extension": {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": f"marking-definition--{UUID}",
        "created": CREATED,
        "extensions": {f"extension-definition--{UUID2}": {"extension_type": "property-extension"}},
    },
    "language-content": sdo(
        "language-content", object_ref=IDENTITY, contents={"no": {"name": "Navn"}}
    ),
    "extension-definition": sdo(
        "extension-definition",
        created_by_ref=IDENTITY,
        name="ext",
        schema="https://example.org/schema.json",
        version="1.0",
        extension_types=["property-extension"],
    ),
    "custom-object": sdo("x-acme-widget", x_acme_size=3),
    "ipv4-addr": sco("ipv4-addr", value="198.51.100.1"),
    "ipv4-addr-with-spec-version": sco("ipv4-addr", value="198.51.100.1", spec_version="2.1"),
    "ipv6-addr": sco("ipv6-addr", value="2001:db8::1"),
    "domain-name": sco("domain-name", value="evil.example"),
    "url": sco("url", value="http://evil.example/x"),
    "email-addr": sco("email-addr", value="a@example.org"),
    "mac-addr": sco("mac-addr", value="00:00:5e:00:53:01"),
    "autonomous-system": sco("autonomous-system", number=64500),
    "file-hashes": sco("file", hashes={"SHA-256": SHA256}),
    "file-name": sco("file", name="evil.exe"),
    "network-traffic": sco(
        "network-traffic", protocols=["ipv4", "tcp"], dst_ref=f"ipv4-addr--{UUID2}"
    ),
    "process": sco("process", pid=4),
    "software": sco("software", name="Word"),
    "user-account": sco("user-account", user_id="1001"),
    "windows-registry-key": sco("windows-registry-key", key="HKEY_LOCAL_MACHINE\\x"),
    "x509-certificate": sco("x509-certificate", serial_number="01"),
    "directory": sco("directory", path="C:\\Windows"),
    "artifact-payload": sco("artifact", payload_bin="aGVsbG8="),
    "artifact-url": sco("artifact", url="https://example.org/a", hashes={"SHA-256": SHA256}),
    "email-message": sco("email-message", is_multipart=False),
    "mutex": sco("mutex", name="Global\\x"),
    "common-properties": sdo(
        "identity",
        name="N",
        created_by_ref=IDENTITY,
        revoked=False,
        labels=["a"],
        confidence=100,
        lang="no",
        object_marking_refs=[TLP_GREEN],
        external_references=[{"source_name": "cve", "external_id": "CVE-2024-0001"}],
        granular_markings=[{"selectors": ["name"], "marking_ref": TLP_GREEN}],
        extensions={f"extension-definition--{UUID2}": {"extension_type": "property-extension"}},
    ),
    "granular-lang": sdo(
        "identity", name="N", granular_markings=[{"selectors": ["name"], "lang": "no"}]
    ),
    "fractional-seconds": sdo("tool", name="t", created="2024-03-01T10:00:00Z", modified=CREATED),
    "nanoseconds": sdo(
        "tool", name="t", created="2024-03-01T10:00:00.123456789Z", modified=MODIFIED
    ),
    "leap-day": sdo("tool", name="t", created="2024-02-29T00:00:00Z", modified=MODIFIED),
    "modified-equals-created": sdo("tool", name="t", modified=CREATED),
}


@pytest.mark.parametrize("obj", VALID.values(), ids=VALID.keys())
def test_valid_objects_pass(obj: Obj) -> None:
    facts = validate_object(copy.deepcopy(obj))
    assert facts.stix_id == obj["id"]
    assert facts.type == obj["type"]
    assert facts.spec_version == "2.1"


def _set(name: str, value: Any) -> Edit:
    """Return an edit setting property `name` to `value`."""

    def edit(obj: Obj) -> None:
        obj[name] = value

    return edit


def _drop(*names: str) -> Edit:
    """Return an edit deleting properties `names`."""

    def edit(obj: Obj) -> None:
        for name in names:
            del obj[name]

    return edit


# (base example, edit that breaks it, fragment the reason must contain)
INVALID: dict[str, tuple[str, Edit, str]] = {
    # §2.7 type and identifier
    "type-missing": ("tool", _drop("type"), "required property 'type' is missing"),
    "type-uppercase": ("tool", _set("type", "Tool"), "property 'type'"),
    "type-too-short": ("tool", _set("type", "ab"), "property 'type'"),
    "type-double-hyphen": ("tool", _set("type", "x--tool"), "property 'type'"),
    "type-trailing-hyphen": ("tool", _set("type", "tool-"), "property 'type'"),
    "type-not-string": ("tool", _set("type", 5), "property 'type'"),
    "id-missing": ("tool", _drop("id"), "required property 'id' is missing"),
    "id-wrong-prefix": ("tool", _set("id", f"malware--{UUID}"), "property 'id'"),
    "id-uppercase-uuid": ("tool", _set("id", f"tool--{UUID.upper()}"), "property 'id'"),
    "id-bad-uuid": ("tool", _set("id", "tool--1234"), "property 'id'"),
    "id-no-hyphens": ("tool", _set("id", f"tool--{UUID.replace('-', '')}"), "property 'id'"),
    # §3.2 spec_version
    "spec-version-missing": ("tool", _drop("spec_version"), "'spec_version' is missing"),
    "spec-version-2.0": ("tool", _set("spec_version", "2.0"), "'spec_version' must be '2.1'"),
    "sco-spec-version-2.0": ("ipv4-addr", _set("spec_version", "2.0"), "'spec_version'"),
    # §3.2 created / modified
    "created-missing": ("tool", _drop("created"), "'created' is missing"),
    "modified-missing": ("tool", _drop("modified"), "'modified' is missing"),
    "created-offset": ("tool", _set("created", "2024-03-01T10:00:00+01:00"), "'created'"),
    "created-lowercase-z": ("tool", _set("created", "2024-03-01T10:00:00z"), "'created'"),
    "created-no-seconds": ("tool", _set("created", "2024-03-01T10:00Z"), "'created'"),
    "created-feb-30": ("tool", _set("created", "2024-02-30T10:00:00Z"), "'created'"),
    "created-feb-29-non-leap": ("tool", _set("created", "2023-02-29T10:00:00Z"), "'created'"),
    "created-hour-24": ("tool", _set("created", "2024-03-01T24:00:00Z"), "'created'"),
    "created-empty-fraction": ("tool", _set("created", "2024-03-01T10:00:00.Z"), "'created'"),
    "created-space": ("tool", _set("created", "2024-03-01 10:00:00Z"), "'created'"),
    "created-newline": ("tool", _set("created", "2024-03-01T10:00:00Z\n"), "'created'"),
    "created-number": ("tool", _set("created", 1700000000), "'created'"),
    "modified-before-created": (
        "tool",
        _set("modified", "2024-02-01T00:00:00Z"),
        "'modified' must be equal to or later than 'created'",
    ),
    "marking-created-missing": ("marking-definition", _drop("created"), "'created' is missing"),
    # §3.1 property names
    "property-name-uppercase": ("tool", _set("Name2", "x"), "property name 'Name2'"),
    "property-name-short": ("tool", _set("ab", "x"), "property name 'ab'"),
    "property-name-hyphen": ("tool", _set("x-acme", "x"), "property name 'x-acme'"),
    # §3.2 common properties
    "created-by-ref-not-identity": (
        "tool",
        _set("created_by_ref", f"tool--{UUID2}"),
        "'created_by_ref' must refer to identity",
    ),
    "created-by-ref-malformed": ("tool", _set("created_by_ref", "me"), "'created_by_ref'"),
    "revoked-string": ("tool", _set("revoked", "false"), "'revoked' must be a boolean"),
    "labels-not-list": ("tool", _set("labels", "a"), "'labels'"),
    "labels-not-strings": ("tool", _set("labels", [1]), "'labels'"),
    "confidence-high": ("tool", _set("confidence", 101), "'confidence' must be between 0 and 100"),
    "confidence-negative": ("tool", _set("confidence", -1), "'confidence'"),
    "confidence-bool": ("tool", _set("confidence", True), "'confidence' must be an integer"),
    "confidence-float": ("tool", _set("confidence", 50.5), "'confidence' must be an integer"),
    "lang-not-string": ("tool", _set("lang", ["no"]), "'lang'"),
    "marking-refs-not-markings": (
        "tool",
        _set("object_marking_refs", [IDENTITY]),
        "'object_marking_refs' must refer to marking-definition",
    ),
    "marking-refs-not-list": ("tool", _set("object_marking_refs", TLP_GREEN), "'object_marking"),
    "external-reference-no-source": (
        "tool",
        _set("external_references", [{"url": "https://x"}]),
        "'source_name' is missing",
    ),
    "external-reference-bare": (
        "tool",
        _set("external_references", [{"source_name": "x"}]),
        "'description', 'url', 'external_id'",
    ),
    "external-reference-not-object": ("tool", _set("external_references", ["x"]), "non-object"),
    "granular-no-selectors": (
        "tool",
        _set("granular_markings", [{"marking_ref": TLP_GREEN}]),
        "'selectors' is missing",
    ),
    "granular-no-marking": (
        "tool",
        _set("granular_markings", [{"selectors": ["name"]}]),
        "'marking_ref', 'lang'",
    ),
    "granular-both": (
        "tool",
        _set(
            "granular_markings", [{"selectors": ["name"], "marking_ref": TLP_GREEN, "lang": "no"}]
        ),
        "must not both be present",
    ),
    "granular-bad-ref": (
        "tool",
        _set("granular_markings", [{"selectors": ["name"], "marking_ref": IDENTITY}]),
        "'marking_ref' must refer to marking-definition",
    ),
    "extensions-not-object": ("tool", _set("extensions", []), "'extensions'"),
    "extension-value-not-object": ("tool", _set("extensions", {"x-ext": 1}), "extension 'x-ext'"),
    # §4 SDOs
    "attack-pattern-name": ("attack-pattern", _drop("name"), "'name' is missing"),
    "attack-pattern-phases": (
        "attack-pattern",
        _set("kill_chain_phases", [{"phase_name": "x"}]),
        "'kill_chain_phases'",
    ),
    "campaign-name": ("campaign", _drop("name"), "'name' is missing"),
    "campaign-seen-order": (
        "campaign",
        _set("last_seen", "2000-01-01T00:00:00Z"),
        "'last_seen' must be equal to or later than 'first_seen'",
    ),
    "course-of-action-name": ("course-of-action", _drop("name"), "'name' is missing"),
    "grouping-context": ("grouping", _drop("context"), "'context' is missing"),
    "grouping-refs": ("grouping", _drop("object_refs"), "'object_refs' is missing"),
    "identity-name": ("identity", _drop("name"), "'name' is missing"),
    "incident-name": ("incident", _drop("name"), "'name' is missing"),
    "indicator-pattern": ("indicator", _drop("pattern"), "'pattern' is missing"),
    "indicator-pattern-type": ("indicator", _drop("pattern_type"), "'pattern_type' is missing"),
    "indicator-valid-from": ("indicator", _drop("valid_from"), "'valid_from' is missing"),
    "indicator-valid-from-bad": (
        "indicator",
        _set("valid_from", "2024-13-01T00:00:00Z"),
        "property 'valid_from' is not an RFC 3339 timestamp: '2024-13-01T00:00:00Z'",
    ),
    "indicator-valid-until-equal": (
        "indicator",
        _set("valid_until", CREATED),
        "'valid_until' must be later than 'valid_from'",
    ),
    "indicator-bad-stix-pattern": (
        "indicator",
        _set("pattern", "[ipv4-addr:value = '1.2.3.4'"),
        "indicator pattern is not valid STIX patterning: ",
    ),
    "indicator-bad-hash": (
        "indicator",
        _set("pattern", "[file:hashes.MD5 = 'abc']"),
        "is not a valid MD5 hash",
    ),
    "indicator-pattern-not-string": ("indicator", _set("pattern", ["x"]), "'pattern'"),
    "infrastructure-name": ("infrastructure", _drop("name"), "'name' is missing"),
    "intrusion-set-name": ("intrusion-set", _drop("name"), "'name' is missing"),
    "location-nothing": ("location-region", _drop("region"), "'region', 'country', 'latitude'"),
    "location-latitude-alone": (
        "location-coordinates",
        _drop("longitude"),
        "'latitude' and 'longitude' must be present together",
    ),
    "location-latitude-range": ("location-coordinates", _set("latitude", 91), "'latitude'"),
    "location-longitude-range": ("location-coordinates", _set("longitude", -181), "'longitude'"),
    "location-precision-alone": (
        "location-region",
        _set("precision", 10.0),
        "'precision' requires",
    ),
    "malware-is-family": ("malware", _drop("is_family"), "'is_family' is missing"),
    "malware-is-family-string": ("malware", _set("is_family", "true"), "'is_family' must be a"),
    "malware-family-name": ("malware", _drop("name"), "'name' is missing"),
    "malware-analysis-product": ("malware-analysis", _drop("product"), "'product' is missing"),
    "malware-analysis-result": (
        "malware-analysis",
        _drop("result"),
        "'result', 'analysis_sco_refs'",
    ),
    "note-content": ("note", _drop("content"), "'content' is missing"),
    "note-refs-empty": ("note", _set("object_refs", []), "'object_refs' must be a non-empty"),
    "observed-data-first": ("observed-data", _drop("first_observed"), "'first_observed'"),
    "observed-data-count-zero": ("observed-data", _set("number_observed", 0), "number_observed"),
    "observed-data-count-high": (
        "observed-data",
        _set("number_observed", 1_000_000_000),
        "'number_observed' must be between 1 and 999999999",
    ),
    "observed-data-no-refs": ("observed-data", _drop("object_refs"), "'object_refs', 'objects'"),
    "observed-data-both": (
        "observed-data",
        _set("objects", {"0": {"type": "ipv4-addr", "value": "1.2.3.4"}}),
        "must not both be present",
    ),
    "observed-data-order": (
        "observed-data",
        _set("last_observed", "2000-01-01T00:00:00Z"),
        "'last_observed'",
    ),
    "opinion-value": ("opinion", _set("opinion", "maybe"), "'opinion' must be one of"),
    "opinion-refs": ("opinion", _drop("object_refs"), "'object_refs' is missing"),
    "report-name": ("report", _drop("name"), "'name' is missing"),
    "report-published": ("report", _drop("published"), "'published' is missing"),
    "report-refs-malformed": ("report", _set("object_refs", ["x"]), "malformed identifier"),
    "threat-actor-name": ("threat-actor", _drop("name"), "'name' is missing"),
    "tool-name": ("tool", _drop("name"), "'name' is missing"),
    "tool-name-not-string": ("tool", _set("name", 5), "'name' must be a string"),
    "vulnerability-name": ("vulnerability", _drop("name"), "'name' is missing"),
    # §5 SROs
    "relationship-type": ("relationship", _drop("relationship_type"), "'relationship_type'"),
    "relationship-type-chars": (
        "relationship",
        _set("relationship_type", "Indicates"),
        "'relationship_type' may only hold",
    ),
    "relationship-source": ("relationship", _drop("source_ref"), "'source_ref' is missing"),
    "relationship-target-malformed": ("relationship", _set("target_ref", "x"), "'target_ref'"),
    "relationship-stop-before-start": (
        "relationship",
        _set("stop_time", CREATED),
        "'stop_time' must be later than 'start_time'",
    ),
    "sighting-of": ("sighting", _drop("sighting_of_ref"), "'sighting_of_ref' is missing"),
    "sighting-count": ("sighting", _set("count", -1), "'count'"),
    "sighting-where": (
        "sighting",
        _set("where_sighted_refs", [f"tool--{UUID2}"]),
        "'where_sighted_refs' must refer to identity or location",
    ),
    # §7 meta objects
    "marking-no-definition": (
        "marking-definition",
        _drop("definition_type", "definition"),
        "'definition_type' and 'definition' or 'extensions'",
    ),
    "marking-definition-missing": (
        "marking-definition",
        _drop("definition"),
        "'definition' is missing",
    ),
    "marking-spec-version": ("marking-definition", _drop("spec_version"), "'spec_version'"),
    "language-content-ref": ("language-content", _drop("object_ref"), "'object_ref'"),
    "language-content-contents": ("language-content", _drop("contents"), "'contents'"),
    "extension-definition-creator": (
        "extension-definition",
        _drop("created_by_ref"),
        "'created_by_ref' is missing",
    ),
    "extension-definition-kind": (
        "extension-definition",
        _set("extension_types", ["new-thing"]),
        "'extension_types' holds an unknown value",
    ),
    "custom-object-created": ("custom-object", _drop("created"), "'created' is missing"),
    # §6 SCOs
    "ipv4-value": ("ipv4-addr", _drop("value"), "'value' is missing"),
    "ipv6-value": ("ipv6-addr", _drop("value"), "'value' is missing"),
    "domain-value": ("domain-name", _set("value", 1), "'value' must be a string"),
    "url-value": ("url", _drop("value"), "'value' is missing"),
    "email-addr-value": ("email-addr", _drop("value"), "'value' is missing"),
    "mac-addr-value": ("mac-addr", _drop("value"), "'value' is missing"),
    "sco-id-missing": ("ipv4-addr", _drop("id"), "'id' is missing"),
    "autonomous-system-number": ("autonomous-system", _set("number", "64500"), "'number'"),
    "file-nothing": ("file-name", _drop("name"), "'hashes', 'name'"),
    "file-hashes-empty": ("file-hashes", _set("hashes", {}), "'hashes' must be a non-empty"),
    "network-traffic-protocols": ("network-traffic", _drop("protocols"), "'protocols'"),
    "network-traffic-endpoints": ("network-traffic", _drop("dst_ref"), "'src_ref', 'dst_ref'"),
    "software-name": ("software", _drop("name"), "'name' is missing"),
    "directory-path": ("directory", _drop("path"), "'path' is missing"),
    "artifact-both": ("artifact-url", _set("payload_bin", "aA=="), "must not both be present"),
    "artifact-url-without-hashes": ("artifact-url", _drop("hashes"), "'hashes' is required"),
    "email-message-multipart": ("email-message", _drop("is_multipart"), "'is_multipart'"),
    "mutex-name": ("mutex", _drop("name"), "'name' is missing"),
    "sco-defanged": ("ipv4-addr", _set("defanged", "yes"), "'defanged' must be a boolean"),
}


@pytest.mark.parametrize(("base", "edit", "fragment"), INVALID.values(), ids=INVALID.keys())
def test_invalid_objects_are_rejected_with_precise_reason(
    base: str, edit: Edit, fragment: str
) -> None:
    obj = copy.deepcopy(VALID[base])
    edit(obj)
    with pytest.raises(InvalidStixObject) as caught:
        validate_object(obj)
    reason = caught.value.reason
    assert fragment in reason
    assert "\n" not in reason
    assert str(caught.value) == reason


def test_reason_names_object_id_and_property() -> None:
    obj = copy.deepcopy(VALID["indicator"])
    obj["valid_from"] = "2024-13-01T00:00:00Z"
    with pytest.raises(InvalidStixObject) as caught:
        validate_object(obj)
    assert caught.value.reason == (
        f"indicator--{UUID}: property 'valid_from' is not an RFC 3339 timestamp: "
        "'2024-13-01T00:00:00Z'"
    )


@pytest.mark.parametrize("value", [None, [], "indicator", 5, ["type"]])
def test_non_objects_are_rejected(value: object) -> None:
    with pytest.raises(InvalidStixObject, match="must be a JSON object"):
        validate_object(value)


def test_huge_values_are_shortened_in_reasons() -> None:
    obj = copy.deepcopy(VALID["tool"])
    obj["created"] = "x" * 10_000
    with pytest.raises(InvalidStixObject) as caught:
        validate_object(obj)
    assert len(caught.value.reason) < 200


def test_facts_of_a_versioned_object() -> None:
    obj = sdo("tool", name="nmap", revoked=True, object_marking_refs=[TLP_GREEN])
    assert validate_object(obj) == ValidatedObject(
        stix_id=f"tool--{UUID}",
        type="tool",
        spec_version="2.1",
        created=CREATED,
        modified=MODIFIED,
        version_key="2024-03-02T10:00:00.000000000Z",
        name="nmap",
        marking_refs=(TLP_GREEN,),
        revoked=True,
    )


def test_facts_of_an_observable() -> None:
    facts = validate_object(sco("domain-name", value="evil.example"))
    assert facts.created is None
    assert facts.modified is None
    assert facts.version_key == ""
    assert facts.name is None
    assert facts.marking_refs == ()
    assert facts.revoked is False
    assert facts.spec_version == "2.1"


def test_marking_definition_version_is_its_creation() -> None:
    facts = validate_object(copy.deepcopy(VALID["marking-definition"]))
    assert facts.version_key == "2017-01-20T00:00:00.000000000Z"
    assert facts.modified is None
    assert facts.name == "TLP:GREEN"


def test_timestamps_are_kept_exactly_as_received() -> None:
    obj = sdo("tool", name="t", created="2024-03-01T10:00:00Z", modified="2024-03-01T10:00:00.5Z")
    facts = validate_object(obj)
    assert facts.created == "2024-03-01T10:00:00Z"
    assert facts.modified == "2024-03-01T10:00:00.5Z"
    assert facts.version_key == "2024-03-01T10:00:00.500000000Z"


def test_non_string_name_is_not_indexed() -> None:
    facts = validate_object(sdo("x-acme-widget", name=["not", "a", "string"]))
    assert facts.name is None


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("2024-03-01T10:00:00Z", "2024-03-01T10:00:00.000000000Z"),
        ("2024-03-01T10:00:00.1Z", "2024-03-01T10:00:00.100000000Z"),
        ("2024-03-01T10:00:00.123Z", "2024-03-01T10:00:00.123000000Z"),
        ("2024-03-01T10:00:00.123456789Z", "2024-03-01T10:00:00.123456789Z"),
        ("2024-03-01T10:00:00.1234567891Z", "2024-03-01T10:00:00.123456789Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000000Z"),
    ],
)
def test_timestamp_key_is_fixed_width(value: str, key: str) -> None:
    assert timestamp_key(value) == key
    assert len(timestamp_key(value)) == 30


def test_timestamp_keys_sort_chronologically() -> None:
    values = [
        "2024-03-01T10:00:00.5Z",
        "2024-03-01T10:00:00Z",
        "2023-12-31T23:59:59.999999Z",
        "2024-03-01T10:00:00.05Z",
    ]
    by_key = sorted(values, key=timestamp_key)
    by_time = sorted(values, key=parse_timestamp)
    assert by_key == by_time


@pytest.mark.parametrize(
    "value",
    [
        "",
        "2024-03-01",
        "2024-03-01T10:00:00",
        "2024-03-01T10:00:00+00:00",
        "2024-03-01T10:00:00.Z",
        "2024-02-30T10:00:00Z",
        "2024-03-01T10:60:00Z",
        "2024-03-01T10:00:60Z",
        "2024-3-01T10:00:00Z",
        "２０２４-03-01T10:00:00Z",
        "2024-03-01t10:00:00Z",
    ],
)
def test_invalid_timestamps_raise(value: str) -> None:
    with pytest.raises(InvalidStixObject):
        timestamp_key(value)
    with pytest.raises(InvalidStixObject):
        parse_timestamp(value)


def test_parse_timestamp_is_aware_utc_and_truncates_to_microseconds() -> None:
    parsed = parse_timestamp("2024-03-01T10:00:00.1234567Z")
    assert parsed == datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert parsed.tzinfo is UTC


def test_parse_timestamp_rejects_non_strings() -> None:
    with pytest.raises(InvalidStixObject):
        parse_timestamp(1700000000)  # type: ignore[arg-type]
