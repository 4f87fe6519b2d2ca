"""Type-specific rules of STIX 2.1 §4–7: one function per object type, looked up by type name."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from varsel.sharing.patterns import validate_pattern
from varsel.sharing.validation._common import Checker

__all__ = ["MARKING_TYPES", "META_TYPES", "RULES", "SCO_TYPES", "SDO_TYPES", "SRO_TYPES"]

Rule = Callable[[Checker], None]

SDO_TYPES: Final = frozenset(
    {
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
    }
)
SRO_TYPES: Final = frozenset({"relationship", "sighting"})
SCO_TYPES: Final = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)
MARKING_TYPES: Final = frozenset({"marking-definition"})
# Meta objects other than markings: versioned like SDOs (created and modified required).
META_TYPES: Final = frozenset({"language-content", "extension-definition"})

_OPINIONS: Final = frozenset(
    {"strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"}
)
_EXTENSION_TYPES: Final = frozenset(
    {"new-sdo", "new-sco", "new-sro", "property-extension", "toplevel-property-extension"}
)
_MAX_COUNT: Final = 999_999_999
# §5.1: relationship types use the characters of type names (length limits are not enforced).
_RELATIONSHIP_TYPE_RE: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _kill_chain_phases(check: Checker) -> None:
    """Check kill_chain_phases: a list of {kill_chain_name, phase_name} string pairs."""
    if "kill_chain_phases" not in check.obj:
        return
    phases = check.obj["kill_chain_phases"]
    if not isinstance(phases, list) or not phases:
        raise check.fail("property 'kill_chain_phases' must be a non-empty list of objects")
    for phase in phases:
        if not isinstance(phase, dict) or not all(
            isinstance(phase.get(key), str) for key in ("kill_chain_name", "phase_name")
        ):
            raise check.fail(
                "property 'kill_chain_phases' holds an entry without string "
                "'kill_chain_name' and 'phase_name'"
            )


def _named(check: Checker) -> None:
    """Check the SDOs whose only required property is name."""
    check.string("name", required=True)
    check.strings("aliases")
    _kill_chain_phases(check)


def _seen(check: Checker) -> None:
    """Check a named SDO with an optional first_seen/last_seen window."""
    _named(check)
    check.ordered("first_seen", "last_seen")


def _grouping(check: Checker) -> None:
    """Check a grouping: a context and the objects it groups."""
    check.string("context", required=True)
    check.identifiers("object_refs", required=True)


def _indicator(check: Checker) -> None:
    """Check an indicator, parsing its pattern when it is STIX patterning."""
    check.string("pattern", required=True)
    check.string("pattern_type", required=True)
    check.string("pattern_version")
    check.timestamp("valid_from", required=True)
    check.ordered("valid_from", "valid_until", strict=True)
    check.strings("indicator_types")
    _kill_chain_phases(check)
    if check.obj["pattern_type"] == "stix":
        # Other pattern languages (snort, yara, sigma, ...) are opaque to the hub.
        error = validate_pattern(check.obj["pattern"])
        if error is not None:
            raise check.fail(f"indicator pattern is not valid STIX patterning: {error}")


def _location(check: Checker) -> None:
    """Check a location: region, country or a coordinate pair, within range."""
    check.number("latitude", -90.0, 90.0)
    check.number("longitude", -180.0, 180.0)
    check.number("precision", 0.0, float("inf"))
    has_latitude = "latitude" in check.obj
    if has_latitude != ("longitude" in check.obj):
        raise check.fail("properties 'latitude' and 'longitude' must be present together")
    if "precision" in check.obj and not has_latitude:
        raise check.fail("property 'precision' requires 'latitude' and 'longitude'")
    if not has_latitude:
        check.require_one_of("region", "country", "latitude")
    check.string("region")
    check.string("country")


def _malware(check: Checker) -> None:
    """Check malware: is_family, and a name for a family."""
    check.boolean("is_family", required=True)
    if check.obj["is_family"]:
        check.string("name", required=True)
    else:
        check.string("name")
    check.strings("aliases")
    check.ordered("first_seen", "last_seen")
    check.identifiers("sample_refs", ("artifact", "file"))
    check.identifiers("operating_system_refs", ("software",))
    _kill_chain_phases(check)


def _malware_analysis(check: Checker) -> None:
    """Check a malware analysis: the product and a result or analysed SCOs."""
    check.string("product", required=True)
    check.require_one_of("result", "analysis_sco_refs")
    check.string("result")
    check.identifiers("analysis_sco_refs")
    check.identifier("sample_ref")


def _note(check: Checker) -> None:
    """Check a note: its content and the objects it annotates."""
    check.string("content", required=True)
    check.identifiers("object_refs", required=True)


def _observed_data(check: Checker) -> None:
    """Check observed data: the window, the count and exactly one of refs or objects."""
    check.timestamp("first_observed", required=True)
    check.timestamp("last_observed", required=True)
    check.ordered("first_observed", "last_observed")
    check.integer("number_observed", 1, _MAX_COUNT, required=True)
    check.exclusive("object_refs", "objects")
    check.require_one_of("object_refs", "objects")
    check.identifiers("object_refs")
    check.mapping("objects")


def _opinion(check: Checker) -> None:
    """Check an opinion: a value from the agreement scale and its objects."""
    check.string("opinion", required=True, allowed=_OPINIONS)
    check.identifiers("object_refs", required=True)


def _report(check: Checker) -> None:
    """Check a report: name, publication time and the objects it reports on."""
    check.string("name", required=True)
    check.timestamp("published", required=True)
    check.identifiers("object_refs", required=True)


def _relationship(check: Checker) -> None:
    """Check a relationship: typed, between two identifiers, stop after start."""
    check.string("relationship_type", required=True)
    relationship_type = check.obj["relationship_type"]
    if _RELATIONSHIP_TYPE_RE.fullmatch(relationship_type) is None:
        raise check.fail(
            f"property 'relationship_type' may only hold a-z, 0-9 and '-': {relationship_type!r}"
        )
    check.identifier("source_ref", required=True)
    check.identifier("target_ref", required=True)
    check.ordered("start_time", "stop_time", strict=True)


def _sighting(check: Checker) -> None:
    """Check a sighting: what was seen, how often, when and where."""
    check.identifier("sighting_of_ref", required=True)
    check.integer("count", 0, _MAX_COUNT)
    check.ordered("first_seen", "last_seen")
    check.identifiers("observed_data_refs", ("observed-data",))
    check.identifiers("where_sighted_refs", ("identity", "location"))
    check.boolean("summary")


def _marking_definition(check: Checker) -> None:
    """Check a marking definition: a definition or an extension carrying one."""
    check.string("name")
    if "definition_type" in check.obj or "definition" in check.obj:
        check.string("definition_type", required=True)
        check.mapping("definition", required=True)
    elif "extensions" not in check.obj:
        raise check.fail(
            "a marking definition needs 'definition_type' and 'definition' or 'extensions'"
        )


def _language_content(check: Checker) -> None:
    """Check language content: the object translated and its translations."""
    check.identifier("object_ref", required=True)
    check.timestamp("object_modified")
    check.mapping("contents", required=True)


def _extension_definition(check: Checker) -> None:
    """Check an extension definition: its creator, schema, version and kinds."""
    check.identifier("created_by_ref", ("identity",), required=True)
    check.string("name", required=True)
    check.string("schema", required=True)
    check.string("version", required=True)
    check.strings("extension_types", required=True)
    for value in check.obj["extension_types"]:
        if value not in _EXTENSION_TYPES:
            raise check.fail(f"property 'extension_types' holds an unknown value: {value!r}")


def _value(check: Checker) -> None:
    """Check an SCO whose key property is a string value."""
    check.string("value", required=True)


def _artifact(check: Checker) -> None:
    """Check an artifact: an inline payload or a hashed URL, not both."""
    check.exclusive("payload_bin", "url")
    check.string("payload_bin")
    check.string("url")
    if "url" in check.obj and "hashes" not in check.obj:
        raise check.fail("property 'hashes' is required when 'url' is present")
    check.mapping("hashes")


def _file(check: Checker) -> None:
    """Check a file: it needs hashes or a name."""
    check.require_one_of("hashes", "name")
    check.mapping("hashes")
    check.string("name")


def _network_traffic(check: Checker) -> None:
    """Check network traffic: protocols and at least one endpoint."""
    check.strings("protocols", required=True)
    check.require_one_of("src_ref", "dst_ref")
    check.identifier("src_ref")
    check.identifier("dst_ref")


RULES: Final[dict[str, Rule]] = {
    "attack-pattern": _named,
    "campaign": _seen,
    "course-of-action": _named,
    "grouping": _grouping,
    "identity": _named,
    "incident": _named,
    "indicator": _indicator,
    "infrastructure": _seen,
    "intrusion-set": _seen,
    "location": _location,
    "malware": _malware,
    "malware-analysis": _malware_analysis,
    "note": _note,
    "observed-data": _observed_data,
    "opinion": _opinion,
    "report": _report,
    "threat-actor": _seen,
    "tool": _named,
    "vulnerability": _named,
    "relationship": _relationship,
    "sighting": _sighting,
    "marking-definition": _marking_definition,
    "language-content": _language_content,
    "extension-definition": _extension_definition,
    "artifact": _artifact,
    "autonomous-system": lambda check: check.integer("number", 0, 2**32 - 1, required=True),
    "directory": lambda check: check.string("path", required=True),
    "domain-name": _value,
    "email-addr": _value,
    "email-message": lambda check: check.boolean("is_multipart", required=True),
    "file": _file,
    "ipv4-addr": _value,
    "ipv6-addr": _value,
    "mac-addr": _value,
    "mutex": lambda check: check.string("name", required=True),
    "network-traffic": _network_traffic,
    "software": lambda check: check.string("name", required=True),
    "url": _value,
}
