"""Names, not ids: what an object is called on a page, and the ids a reader may not see.

:func:`display_name` gives the value, pattern or name a person recognises an object by (the
address an indicator matches, a domain's name, a malware's name); :func:`kind_of` the words for
its type. :func:`resolve` looks up, through the access policy, which of a set of referenced ids
the reader may read and what they are called; any other id is "an object you cannot see" and
:func:`redact` removes it from text before a page shows it. A STIX id begins with its type, so
even the prefix of an unreadable id would tell the reader what it is: it is never shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.clearances import rules
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.ingest.marking import EXTENSION_ID, IDENTITY_ID, marking_id
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP, level_of_marking

# A STIX identifier (§2.9): type--UUID. Found anywhere in text, so ids inside descriptions or
# nested properties are caught as well as those in *_ref properties.
STIX_ID = re.compile(
    r"[a-z0-9][a-z0-9-]*--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# The values compared in a STIX pattern: [ipv4-addr:value = '203.0.113.7'] gives 203.0.113.7.
_PATTERN_VALUE = re.compile(r"(?:=|LIKE|MATCHES)\s*'((?:[^'\\]|\\.)*)'")
_MAX = 200
_LOOKUP_CHUNK = 500
HIDDEN = "an object you cannot see"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX else text[: _MAX - 1] + "…"


def pattern_values(pattern: str) -> list[str]:
    """Return the literal values a STIX pattern compares against, in order, without repeats."""
    found = [
        m.group(1).replace("\\'", "'").replace("\\\\", "\\")
        for m in _PATTERN_VALUE.finditer(pattern)
    ]
    return list(dict.fromkeys(found))


def display_name(obj: dict[str, Any]) -> str:
    """Return what a person recognises ``obj`` by: its value, pattern values or name.

    An indicator is named by the values of its pattern (``203.0.113.7``), not by a name such
    as "Payload URL" that ten indicators share; a cyber-observable by its value, a file by its
    name or hash; a domain object by its name. The id is the last resort (the caller may read
    the object, so its own id is no secret).
    """
    kind = str(obj.get("type") or "")
    if kind == "indicator" and isinstance(obj.get("pattern"), str):
        values = pattern_values(obj["pattern"])
        if values:
            return _short(", ".join(values))
        return _short(str(obj["pattern"]))
    for key in ("value", "name", "abstract", "path", "key", "number", "user_id", "display_name"):
        value = obj.get(key)
        if isinstance(value, str | int) and str(value).strip():
            return _short(str(value))
    hashes = obj.get("hashes")
    if isinstance(hashes, dict) and hashes:
        algorithm, digest = sorted(hashes.items())[0]
        return _short(f"{algorithm} {digest}")
    if kind == "relationship":
        return _short(str(obj.get("relationship_type") or "related-to"))
    if kind == "note" and isinstance(obj.get("content"), str):
        return _short(obj["content"])
    if kind == "opinion" and isinstance(obj.get("opinion"), str):
        return _short(obj["opinion"])
    return str(obj.get("id") or kind)


def kind_of(stix_type: str) -> str:
    """Return a STIX type as words: ``attack-pattern`` is "Attack pattern"."""
    words = stix_type.replace("-", " ").strip()
    special = {"ipv4 addr": "IPv4 address", "ipv6 addr": "IPv6 address", "url": "URL"}
    if words in special:
        return special[words]
    return (words[:1].upper() + words[1:]) if words else stix_type


@dataclass(frozen=True)
class Named:
    """A referenced object the reader may read: its id, type, name, TLP, and if it is stored.

    ``stored`` is False for the well-known definitions every hub knows without storing them
    (TLP and classification markings, Varsel's extension and identity): named, not linked.
    """

    stix_id: str
    type: str
    name: str
    tlp: str
    stored: bool = True


@cache
def well_known() -> dict[str, Named]:
    """Return the definitions every Varsel hub knows by id: they are public, never hidden."""
    known = {
        level.stix_id: Named(level.stix_id, "marking-definition", level.label, "clear", False)
        for level in TLP
    }
    for scheme in rules.schemes():
        for level in scheme.levels:
            mid = marking_id(level)
            known[mid] = Named(mid, "marking-definition", level.label, "clear", False)
    known[EXTENSION_ID] = Named(
        EXTENSION_ID, "extension-definition", "Varsel classification", "clear", False
    )
    known[IDENTITY_ID] = Named(IDENTITY_ID, "identity", "Varsel", "clear", False)
    return known


def ids_in(value: object) -> set[str]:
    """Return every STIX id that occurs anywhere in ``value`` (a dict, list or text)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return {m.group(0) for m in STIX_ID.finditer(text)}


def resolve(*, session: Session, principal: Principal, ids: Iterable[str]) -> dict[str, Named]:
    """Return the ids among ``ids`` that ``principal`` may read, with what they are called.

    An id missing from the answer is "an object you cannot see" — whether it is unreadable or
    not in the hub at all, the page cannot tell (and so does not tell).
    """
    public = well_known()
    wanted = sorted({i for i in ids if i not in public})
    found: dict[str, Named] = {i: public[i] for i in set(ids) if i in public}
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        query = restrict(
            select(StixObject.stix_id, StixObject.type, StixObject.tlp, StixObject.raw).where(
                StixObject.stix_id.in_(wanted[start : start + _LOOKUP_CHUNK]),
                StixObject.is_latest.is_(True),
            ),
            principal,
            Action.READ,
        )
        for stix_id, kind, tlp, raw in session.execute(query):
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = {"id": stix_id, "type": kind}
            found[stix_id] = Named(stix_id, kind, display_name(obj), tlp)
    return found


def is_marking(stix_id: str) -> bool:
    """Return whether ``stix_id`` is one of the well-known definitions (TLP, classification)."""
    return level_of_marking(stix_id) is not None or stix_id in well_known()


def redact(text: str, readable: Iterable[str], placeholder: str = HIDDEN) -> str:
    """Return ``text`` with every STIX id not in ``readable`` (nor a TLP marking) replaced."""
    keep = set(readable)

    def swap(match: re.Match[str]) -> str:
        found = match.group(0)
        return found if found in keep or is_marking(found) else f"[{placeholder}]"

    return STIX_ID.sub(swap, text)
