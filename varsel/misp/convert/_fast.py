"""What ``misp-stix`` makes of a plain attribute of a common type, built without ``misp-stix``.

For the common simple types (IP addresses, domains, hostnames, URLs, MD5/SHA-1/SHA-256,
e-mail addresses, file names) with a plain value, a valid category and nothing else attached
(no tags, galaxies, sightings, first/last seen), what ``misp-stix`` writes is a template: for
a to_ids attribute the indicator (its other four objects are left out anyway, ``_compact``),
for another the observed-data and its observables, with the same ids, pattern, labels, kill
chain phase and timestamps. Building that JSON
directly skips PyMISP's and stix2's object models, which is most of the conversion's time.
``tests/misp/convert/test_fast.py`` checks, over many generated attributes and the corpus, that
the result equals what ``misp-stix`` writes; anything else goes through ``misp-stix``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from pymisp.abstract import describe_types

_HOST: Final = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_URL: Final = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]+")
_EMAIL: Final = re.compile(r"[a-z0-9._%+-]+@" + _HOST.pattern)
_FILENAME: Final = re.compile(r"[A-Za-z0-9._-]{1,200}")
_HEX: Final = {
    32: re.compile(r"[0-9a-f]{32}"),
    40: re.compile(r"[0-9a-f]{40}"),
    64: re.compile(r"[0-9a-f]{64}"),
}


_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4: Final = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
"""An IPv4 address as ``ipaddress`` writes it (no leading zeros): checked without parsing."""


def _ip(side: str) -> Callable[[str], str | None]:
    def pattern(value: str) -> str | None:
        if _IPV4.fullmatch(value):
            kind = "ipv4-addr"
        else:
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                return None
            if str(address) != value or address.version != 6:
                return None
            kind = "ipv6-addr"
        return (
            f"[network-traffic:{side}_ref.type = '{kind}' AND "
            f"network-traffic:{side}_ref.value = '{value}']"
        )

    return pattern


def _matching(regex: re.Pattern[str], template: str) -> Callable[[str], str | None]:
    def pattern(value: str) -> str | None:
        return template.format(value) if regex.fullmatch(value) else None

    return pattern


PATTERNS: Final[dict[str, Callable[[str], str | None]]] = {
    "ip-src": _ip("src"),
    "ip-dst": _ip("dst"),
    "domain": _matching(_HOST, "[domain-name:value = '{}']"),
    "hostname": _matching(_HOST, "[domain-name:value = '{}']"),
    "url": _matching(_URL, "[url:value = '{}']"),
    "md5": _matching(_HEX[32], "[file:hashes.MD5 = '{}']"),
    "sha1": _matching(_HEX[40], "[file:hashes.'SHA-1' = '{}']"),
    "sha256": _matching(_HEX[64], "[file:hashes.'SHA-256' = '{}']"),
    "email": _matching(_EMAIL, "[email-addr:value = '{}']"),
    "email-src": _matching(_EMAIL, "[email-message:from_ref.value = '{}']"),
    "email-dst": _matching(_EMAIL, "[email-message:to_refs[*].value = '{}']"),
    "filename": _matching(_FILENAME, "[file:name = '{}']"),
}
"""The fast types and the pattern of a value ``misp-stix`` would write as it is (else None)."""

_CATEGORIES: Final[dict[str, frozenset[str]]] = {
    kind: frozenset(
        category
        for category, kinds in describe_types["category_type_mappings"].items()
        if kind in kinds
    )
    for kind in PATTERNS
}
# Anything attached that misp-stix turns into more than the template (or PyMISP would check).
_ATTACHED: Final = (
    "Tag",
    "Galaxy",
    "Sighting",
    "first_seen",
    "last_seen",
    "data",
    "object_relation",
    "Note",
    "Opinion",
    "Relationship",
    "AttributeTag",
)
_UUID: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)  # RFC 4122


@lru_cache(maxsize=4096)
def _stamps(seconds: int) -> tuple[str, str]:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"), moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sco(kind: str, uuid: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "spec_version": "2.1", "id": f"{kind}--{uuid}", **fields}


def _observables(kind: str, value: str, uuid: str) -> list[dict[str, Any]]:
    """Return the observables ``misp-stix`` writes for a value of ``kind``, first referred first."""
    if kind in ("ip-src", "ip-dst"):
        address = "ipv4-addr" if ":" not in value else "ipv6-addr"
        side = "src_ref" if kind == "ip-src" else "dst_ref"
        traffic = _sco("network-traffic", uuid, **{side: f"{address}--{uuid}"})
        traffic["protocols"] = ["tcp"]
        return [traffic, _sco(address, uuid, value=value)]
    if kind in ("domain", "hostname"):
        return [_sco("domain-name", uuid, value=value)]
    if kind == "url":
        return [_sco("url", uuid, value=value)]
    if kind in _HASHES:
        return [_sco("file", uuid, hashes={_HASHES[kind]: value})]
    if kind == "filename":
        return [_sco("file", uuid, name=value)]
    if kind == "email":
        return [_sco("email-addr", uuid, value=value)]
    address = f"email-addr--{uuid}"
    refs = {"from_ref": address} if kind == "email-src" else {"to_refs": [address]}
    message = _sco("email-message", uuid, is_multipart=False, **refs)
    return [message, _sco("email-addr", uuid, value=value)]


_HASHES: Final = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}
_TRUE: Final = (True, "1", "true", "True", 1)
_FALSE: Final = (False, "0", "false", "False", 0)


def build(attribute: Mapping[str, Any], creator: str | None) -> list[dict[str, Any]] | None:
    """Return what ``misp-stix`` makes of ``attribute`` — the indicator of a to_ids one, the
    observed-data and its observables of another — or None when the attribute is not one the
    fast path takes (then it goes through ``misp-stix``)."""
    flag = attribute.get("to_ids", False)
    if flag in _TRUE:
        made = indicator(attribute, creator)
        return None if made is None else [made]
    if flag not in _FALSE or not _plain(attribute):
        return None
    value = attribute["value"]
    kind = attribute["type"]
    if PATTERNS[kind](value) is None:
        return None
    uuid = attribute["uuid"]
    created, observed = _stamps(int(attribute["timestamp"]))
    scos = _observables(kind, value, uuid)
    obj: dict[str, Any] = {
        "type": "observed-data",
        "spec_version": "2.1",
        "id": f"observed-data--{uuid}",
    }
    if creator is not None:
        obj["created_by_ref"] = creator
    obj["created"] = created
    obj["modified"] = created
    obj["first_observed"] = observed
    obj["last_observed"] = observed
    obj["number_observed"] = 1
    obj["object_refs"] = [sco["id"] for sco in scos]
    obj["labels"] = [f'misp:type="{kind}"', f'misp:category="{attribute["category"]}"']
    return [obj, *scos]


def _plain(attribute: Mapping[str, Any]) -> bool:
    """Return whether an attribute is of a fast type with nothing misp-stix would add."""
    kind = attribute.get("type")
    if kind not in PATTERNS or attribute.get("category") not in _CATEGORIES[kind]:
        return False
    if any(attribute.get(key) for key in _ATTACHED):
        return False
    comment = attribute.get("comment")
    if comment is not None and not isinstance(comment, str):
        return False
    return _UUID.fullmatch(attribute["uuid"]) is not None


def indicator(attribute: Mapping[str, Any], creator: str | None) -> dict[str, Any] | None:
    """Return the indicator ``misp-stix`` makes of a to_ids ``attribute``, or None when the
    attribute is not one the fast path takes (then it goes through ``misp-stix``)."""
    if attribute.get("to_ids") not in _TRUE or not _plain(attribute):
        return None
    kind = attribute["type"]
    category = attribute["category"]
    comment = attribute.get("comment") or ""
    pattern = PATTERNS[kind](attribute["value"])
    if pattern is None:
        return None
    created, valid_from = _stamps(int(attribute["timestamp"]))
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{attribute['uuid']}",
    }
    if creator is not None:
        obj["created_by_ref"] = creator
    obj["created"] = created
    obj["modified"] = created
    if comment:
        obj["description"] = comment
    obj["pattern"] = pattern
    obj["pattern_type"] = "stix"
    obj["pattern_version"] = "2.1"
    obj["valid_from"] = valid_from
    obj["kill_chain_phases"] = [{"kill_chain_name": "misp-category", "phase_name": category}]
    obj["labels"] = [f'misp:type="{kind}"', f'misp:category="{category}"']
    return obj


def merge(
    event: Mapping[str, Any],
    objects: list[dict[str, Any]],
    built: dict[str, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Return ``objects`` (misp-stix's of the rest of ``event``) with those ``built`` directly
    where misp-stix would have put them: the grouping refers to them in attribute order."""
    empty_note = f"note--{event['uuid']}"
    if not event.get("Attribute") or len(built) < len(event["Attribute"]):
        empty_note = ""  # misp-stix saw attributes, so it wrote no "empty event" note
    kept = [o for o in objects if o["id"] != empty_note]
    grouping = next(o for o in kept if o["type"] == "grouping")
    attribute_uuids = {a["uuid"] for a in event.get("Attribute", ())}
    by_item: dict[str, list[str]] = {}
    rest: list[str] = []
    for ref in grouping["object_refs"]:
        if ref == empty_note:
            continue
        item = ref.partition("--")[2]
        if item in attribute_uuids:
            by_item.setdefault(item, []).append(ref)
        else:
            rest.append(ref)
    refs: list[str] = []
    for attribute in event.get("Attribute", ()):
        if attribute["uuid"] in built:
            refs.extend(obj["id"] for obj in built[attribute["uuid"]])
        else:
            refs.extend(by_item.get(attribute["uuid"], ()))
    grouping["object_refs"] = refs + rest
    at = kept.index(grouping) + 1
    made = [obj for objs in built.values() for obj in objs]
    return kept[:at] + made + kept[at:]


# -- the way back ------------------------------------------------------------------------------

_LABEL: Final = re.compile(r'misp:(type|category)="([^"]*)"')
_IGNORED: Final = ("object_marking_refs", "granular_markings", "created_by_ref")


def _same(stored: Mapping[str, Any], made: Mapping[str, Any]) -> bool:
    """Return whether ``stored`` is ``made``, markings and the hub's own properties aside."""
    for key in stored:
        if key not in made and key not in _IGNORED and not key.startswith("x_varsel_"):
            return False
    return all(stored.get(key) == value for key, value in made.items())


@lru_cache(maxsize=4096)
def _seconds(stamp: str) -> int | None:
    if not stamp.endswith(".000Z"):
        return None
    try:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp())


def _value_of(kind: str, obj: Mapping[str, Any], members: Mapping[str, Any]) -> str | None:
    if obj["type"] == "indicator":
        pattern = obj.get("pattern")
        if not isinstance(pattern, str):
            return None
        if kind in ("ip-src", "ip-dst"):
            start = pattern.rfind(".value = '")
            return pattern[start + 10 : -2] if start >= 0 else None
        start = pattern.find(" = '")
        return pattern[start + 4 : -2] if start >= 0 else None
    refs = obj.get("object_refs") or ()
    last = members.get(refs[-1]) if refs else None
    if not isinstance(last, Mapping):
        return None
    if kind in _HASHES:
        hashes = last.get("hashes")
        return hashes.get(_HASHES[kind]) if isinstance(hashes, Mapping) else None
    found = last.get("name" if kind == "filename" else "value")
    return found if isinstance(found, str) else None


def read_back(
    obj: Mapping[str, Any], members: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Any], list[str]] | None:
    """Return the MISP attribute ``misp-stix``'s parser gives back from ``obj`` (an indicator,
    or an observed-data and its observables, as :func:`build` makes them) and the ids read, or
    None when ``obj`` is not exactly what :func:`build` makes of some attribute.

    The attribute is read from the object's labels and value, then built again: only when the
    result equals the stored objects (markings and the hub's own properties aside) is it taken.
    """
    if obj.get("type") not in ("indicator", "observed-data"):
        return None
    labels: dict[str, str] = {}
    for label in obj.get("labels") or ():
        matched = _LABEL.fullmatch(str(label))
        if matched is not None:
            labels[matched[1]] = matched[2]
    kind, category = labels.get("type"), labels.get("category")
    if kind not in PATTERNS or category is None:
        return None
    value = _value_of(kind, obj, members)
    modified = obj.get("modified")
    stamp = _seconds(modified) if isinstance(modified, str) else None
    if value is None or stamp is None:
        return None
    uuid = str(obj["id"]).partition("--")[2]
    to_ids = obj["type"] == "indicator"
    attribute: dict[str, Any] = {
        "uuid": uuid,
        "type": kind,
        "value": value,
        "category": category,
        "to_ids": to_ids,
        "timestamp": str(stamp),
        "disable_correlation": False,
    }
    description = obj.get("description")
    if to_ids and isinstance(description, str) and description:
        attribute["comment"] = description
    made = build(attribute, None)
    if made is None:
        return None
    ids = [o["id"] for o in made]
    stored = [members.get(i) for i in ids]
    if any(s is None or not _same(s, m) for s, m in zip(stored, made, strict=True)):
        return None
    return attribute, ids
