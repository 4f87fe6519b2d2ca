"""Keep an indicator alone for a to_ids attribute when it gives the attribute back whole.

``misp-stix`` writes a to_ids attribute as observed-data, its observables, an indicator and a
``based-on`` relationship between them: five objects where the hub needs one. For the
attribute types in :data:`INDICATOR_ALONE`, ``misp-stix``'s own STIX → MISP parser gives back
the same attribute (type, category, value, to_ids, comment, uuid, timestamp, tags) from the
indicator alone — ``tests/misp/convert/test_compact.py`` proves it type by type — so the other
four are left out. References to the observed-data left out point at the indicator instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

INDICATOR_ALONE: Final[frozenset[str]] = frozenset(
    {
        "attachment",
        "authentihash",
        "domain",
        "domain|ip",
        "email",
        "email-attachment",
        "email-body",
        "email-dst",
        "email-header",
        "email-message-id",
        "email-reply-to",
        "email-src",
        "email-subject",
        "email-x-mailer",
        "filename",
        "filename|authentihash",
        "filename|imphash",
        "filename|md5",
        "filename|pehash",
        "filename|sha1",
        "filename|sha224",
        "filename|sha256",
        "filename|sha3-224",
        "filename|sha3-256",
        "filename|sha3-384",
        "filename|sha3-512",
        "filename|sha384",
        "filename|sha512",
        "filename|sha512/224",
        "filename|sha512/256",
        "filename|ssdeep",
        "filename|tlsh",
        "filename|vhash",
        "hostname",
        "hostname|port",
        "imphash",
        "ip-dst",
        "ip-dst|port",
        "ip-src",
        "ip-src|port",
        "link",
        "md5",
        "mutex",
        "pehash",
        "regkey",
        "regkey|value",
        "sha1",
        "sha224",
        "sha256",
        "sha3-224",
        "sha3-256",
        "sha3-384",
        "sha3-512",
        "sha384",
        "sha512",
        "sha512/224",
        "sha512/256",
        "ssdeep",
        "telfhash",
        "tlsh",
        "uri",
        "url",
        "user-agent",
        "vhash",
        "x509-fingerprint-md5",
        "x509-fingerprint-sha1",
        "x509-fingerprint-sha256",
    }
)
"""Attribute types whose indicator alone round-trips through misp-stix (proven by a test)."""

_SDO_LIKE: Final = frozenset({"observed-data", "relationship", "indicator", "sighting", "opinion"})


def truthy(value: Any) -> bool:
    """Return whether MISP would read ``value`` (bool, 0/1, "0"/"1", "true"/"false") as true."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return bool(value)


def compactable(attribute: Mapping[str, Any]) -> bool:
    """Return whether a top-level attribute is kept as its indicator alone."""
    return truthy(attribute.get("to_ids")) and attribute.get("type") in INDICATOR_ALONE


def compact(
    objects: list[dict[str, Any]], event: Mapping[str, Any], *, done: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Return ``objects`` without the observed-data, observables and based-on relationship of
    each compactable to_ids attribute of ``event`` whose indicator is among them.

    ``done`` are the uuids of attributes already written compact (the fast path's)."""
    ids = {obj["id"] for obj in objects}
    alone = {
        a["uuid"]
        for a in event.get("Attribute", ())
        if a["uuid"] not in done and compactable(a) and f"indicator--{a['uuid']}" in ids
    }
    if not alone:
        return objects
    replaced: dict[str, str] = {f"observed-data--{u}": f"indicator--{u}" for u in alone}
    dropped: set[str] = set(replaced)
    for obj in objects:
        kind, _, uuid = obj["id"].partition("--")
        if uuid not in alone:
            continue
        if kind not in _SDO_LIKE:
            dropped.add(obj["id"])  # an observable of the observed-data left out
    for obj in objects:
        if (
            obj["type"] == "relationship"
            and obj.get("relationship_type") == "based-on"
            and replaced.get(obj.get("target_ref", "")) == obj.get("source_ref")
        ):
            dropped.add(obj["id"])
    kept = []
    for obj in objects:
        if obj["id"] in dropped:
            continue
        _rewrite(obj, replaced, dropped)
        kept.append(obj)
    return kept


def _rewrite(obj: dict[str, Any], replaced: dict[str, str], dropped: set[str]) -> None:
    for key, value in obj.items():
        if key in ("source_ref", "target_ref", "sighting_of_ref") and value in replaced:
            obj[key] = replaced[value]
        elif key == "observed_data_refs" and isinstance(value, list):
            obj[key] = [v for v in value if v not in dropped]
        elif key == "object_refs" and isinstance(value, list):
            obj[key] = list(
                dict.fromkeys(
                    replaced.get(v, v) for v in value if v in replaced or v not in dropped
                )
            )
    if obj.get("observed_data_refs") == []:
        del obj["observed_data_refs"]
