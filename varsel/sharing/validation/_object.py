"""Validate one STIX 2.1 object: common properties (§3), then the rules of its type (§4–7)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from varsel.sharing.envelope import RefusedElement
from varsel.sharing.validation._common import (
    Checker,
    InvalidStixObject,
    is_type_name,
    show,
    split_identifier,
)
from varsel.sharing.validation._rules import MARKING_TYPES, RULES, SCO_TYPES

__all__ = ["ValidatedObject", "validate_object"]

# §3.1: property names are 3..250 characters of a-z, 0-9 and '_'; 'id' is the one exception.
_PROPERTY_NAME_RE: Final = re.compile(r"[a-z0-9_]{3,250}")
_SPEC_VERSION: Final = "2.1"
# "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"
_MAX_VERSION_CHARS: Final = 30


@dataclass(frozen=True, slots=True)
class ValidatedObject:
    """The facts the hub indexes about one valid STIX object."""

    stix_id: str
    type: str
    spec_version: str
    created: str | None
    modified: str | None
    version_key: str
    name: str | None
    marking_refs: tuple[str, ...]
    revoked: bool


def _check_type_and_id(obj: dict[Any, Any]) -> tuple[str, str]:
    """Return the object's type and id after checking that the id names that type."""
    if "type" not in obj:
        raise InvalidStixObject("required property 'type' is missing")
    type_name = obj["type"]
    if not isinstance(type_name, str) or not is_type_name(type_name):
        raise InvalidStixObject(
            "property 'type' must be 3-250 characters of a-z, 0-9 and single hyphens, "
            f"starting and ending with a letter or digit: {show(type_name)}"
        )
    if "id" not in obj:
        raise InvalidStixObject(f"{type_name} object: required property 'id' is missing")
    stix_id = obj["id"]
    if split_identifier(stix_id) != type_name:
        raise InvalidStixObject(
            f"{type_name} object: property 'id' must be '{type_name}--' followed by a "
            f"lowercase UUID: {show(stix_id)}"
        )
    return type_name, stix_id


# Names already found valid: the same dozen names recur in every object of an envelope.
_VALID_NAMES: set[str] = {"id"}
_VALID_NAMES_MAX = 10_000


def _check_property_names(check: Checker) -> None:
    """Check the top-level property names against the §3.1 naming rule."""
    for name in check.obj:
        if name in _VALID_NAMES:
            continue
        if not isinstance(name, str) or _PROPERTY_NAME_RE.fullmatch(name) is None:
            raise check.fail(
                f"property name {show(name)} must be 3-250 characters of a-z, 0-9 and '_'"
            )
        if len(_VALID_NAMES) < _VALID_NAMES_MAX:
            _VALID_NAMES.add(name)


def _check_external_references(check: Checker) -> None:
    """Check external_references: objects with a source_name and something to find it by."""
    if "external_references" not in check.obj:
        return
    references = check.obj["external_references"]
    if not isinstance(references, list):
        raise check.fail("property 'external_references' must be a list of objects")
    for reference in references:
        if not isinstance(reference, dict):
            raise check.fail(
                f"property 'external_references' holds a non-object: {show(reference)}"
            )
        entry = Checker(reference, f"{check.prefix}external reference: ")
        entry.string("source_name", required=True)
        # §2.5: a bare source name identifies nothing, so one locator must accompany it.
        entry.require_one_of("description", "url", "external_id")
        entry.string("description")
        entry.string("url")
        entry.string("external_id")
        entry.mapping("hashes")


def _check_granular_markings(check: Checker) -> None:
    """Check granular_markings: selectors plus exactly one of marking_ref or lang."""
    if "granular_markings" not in check.obj:
        return
    markings = check.obj["granular_markings"]
    if not isinstance(markings, list) or not markings:
        raise check.fail("property 'granular_markings' must be a non-empty list of objects")
    for marking in markings:
        if not isinstance(marking, dict):
            raise check.fail(f"property 'granular_markings' holds a non-object: {show(marking)}")
        entry = Checker(marking, f"{check.prefix}granular marking: ")
        entry.strings("selectors", required=True)
        entry.require_one_of("marking_ref", "lang")
        entry.exclusive("marking_ref", "lang")
        entry.identifier("marking_ref", ("marking-definition",))
        entry.string("lang")


def _check_extensions(check: Checker) -> None:
    """Check extensions: a non-empty object whose every value is an object."""
    if "extensions" not in check.obj:
        return
    extensions = check.obj["extensions"]
    if not isinstance(extensions, dict) or not extensions:
        raise check.fail("property 'extensions' must be a non-empty object")
    for name, extension in extensions.items():
        if not isinstance(extension, dict):
            raise check.fail(f"extension {show(name)} must be an object, not {show(extension)}")


def _check_common(check: Checker, is_sco: bool) -> None:
    """Check the §3.2 common properties that are present."""
    spec_version = check.obj.get("spec_version")
    if "spec_version" not in check.obj:
        if not is_sco:
            raise check.fail("required property 'spec_version' is missing")
    elif spec_version != _SPEC_VERSION:
        raise check.fail(f"property 'spec_version' must be '2.1': {show(spec_version)}")
    check.identifier("created_by_ref", ("identity",))
    check.boolean("revoked")
    check.boolean("defanged")
    check.strings("labels", allow_empty=True)
    check.integer("confidence", 0, 100)
    check.string("lang")
    check.identifiers("object_marking_refs", ("marking-definition",), allow_empty=True)
    _check_external_references(check)
    _check_granular_markings(check)
    _check_extensions(check)


def validate_object(obj: object) -> ValidatedObject:
    """Validate one STIX 2.1 object (already JSON-decoded) and return its indexed facts."""
    if isinstance(obj, RefusedElement):
        found = obj.get("id")
        raise InvalidStixObject(f"{found}: {obj.reason}" if found else obj.reason)
    if not isinstance(obj, dict):
        raise InvalidStixObject(f"a STIX object must be a JSON object, not {type(obj).__name__}")
    type_name, stix_id = _check_type_and_id(obj)
    check = Checker(obj, f"{stix_id}: ")
    _check_property_names(check)
    is_sco = type_name in SCO_TYPES
    _check_common(check, is_sco)

    # SCOs are unversioned; markings are immutable, so only created is required; everything
    # else, unknown custom types included, is versioned like an SDO.
    created_key = check.timestamp("created", required=not is_sco)
    modified_key = check.timestamp(
        "modified", required=not is_sco and type_name not in MARKING_TYPES
    )
    if created_key and modified_key and modified_key < created_key:
        raise check.fail("property 'modified' must be equal to or later than 'created'")
    # The version is kept to the nanosecond (and stored as given): finer digits would be
    # dropped from the key, so two versions could not be told apart, and overflow the column.
    for stamp in ("created", "modified"):
        value = obj.get(stamp)
        if isinstance(value, str) and len(value) > _MAX_VERSION_CHARS:
            raise check.fail(
                f"property '{stamp}' has {len(value) - 21} fractional digits; versions are "
                "kept to the nanosecond, at most 9 fractional digits"
            )

    rule = RULES.get(type_name)
    if rule is not None:
        rule(check)

    name = obj.get("name")
    return ValidatedObject(
        stix_id=stix_id,
        type=type_name,
        spec_version=obj.get("spec_version", _SPEC_VERSION),
        created=obj.get("created"),
        modified=obj.get("modified"),
        version_key=modified_key or created_key or "",
        name=name if isinstance(name, str) else None,
        marking_refs=tuple(obj.get("object_marking_refs", ())),
        revoked=obj.get("revoked") is True,
    )
