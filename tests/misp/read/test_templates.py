"""The feed's short cut for one-comparison indicators gives exactly misp-stix's attributes.

misp-stix parses every pattern (about 2 ms each); the reading flow converts one indicator of
each shape through it and fills the others' values into that output once two of them proved
the substitution exact (``varsel.misp.flows._templated``). Here the whole event is
converted both ways, and every attribute must be equal, field for field.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import pytest

from tests import factories as f
from varsel.misp.convert import stix_to_event
from varsel.misp.flows import reading
from varsel.misp.flows.reading._convert import _templated
from varsel.sharing.tlp import TLP

SHAPES = [
    ("ipv4-addr:value", lambda r: f"198.51.{r.randrange(256)}.{r.randrange(256)}"),
    ("ipv4-addr:value", lambda r: f"10.{r.randrange(256)}.0.0/16"),
    ("ipv6-addr:value", lambda r: f"2001:db8::{r.randrange(65536):x}"),
    ("domain-name:value", lambda r: f"host{r.randrange(10**6)}.example"),
    ("url:value", lambda r: f"http://bad{r.randrange(10**6)}.example/p?q={r.randrange(99)}"),
    ("email-addr:value", lambda r: f"user{r.randrange(10**6)}@mail.example"),
    ("file:hashes.MD5", lambda r: f"{r.getrandbits(128):032x}"),
    ("file:hashes.'SHA-1'", lambda r: f"{r.getrandbits(160):040x}"),
    ("file:hashes.'SHA-256'", lambda r: f"{r.getrandbits(256):064x}"),
]


def members_of(rng: random.Random, level: TLP) -> list[dict[str, Any]]:
    out = []
    for path, make in SHAPES:
        for n in range(4):
            extra: dict[str, Any] = {}
            if n % 2:
                extra["description"] = f"seen in campaign {rng.randrange(1000)}"
            if n == 3:
                extra["valid_until"] = "2027-01-01T00:00:00Z"
            created = f"2026-0{1 + n}-0{1 + n}T0{n}:00:00.{n}00Z"
            value = make(rng)
            out.append(
                f.indicator(
                    tlp=level,
                    created=created,
                    modified=created if n < 2 else "2026-06-01T12:30:45.5Z",
                    pattern=f"[{path} = '{value}']",
                    value=value,
                    recipients=["Svea"] if level is TLP.RED else None,
                    **extra,
                )
            )
    return out


def canonical(attributes: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(a, sort_keys=True) for a in attributes)


@pytest.mark.parametrize("event_level", [TLP.GREEN, TLP.AMBER])
@pytest.mark.parametrize("level", [TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.RED])
def test_templates_equal_misp_stix(event_level: TLP, level: TLP) -> None:
    reading.cache_clear()
    rng = random.Random(f"{event_level}-{level}")
    members = members_of(rng, level) + members_of(rng, level)
    grouping = {
        "type": "grouping",
        "spec_version": "2.1",
        "id": f"grouping--{uuid.uuid4()}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "shapes",
        "context": "unspecified",
        "object_refs": [m["id"] for m in members],
        "object_marking_refs": [event_level.stix_id],
    }
    expected = stix_to_event(grouping, members)["Event"]["Attribute"]
    made, slow = _templated(grouping, members)
    assert not slow  # every shape here is one comparison
    assert canonical(made) == canonical(expected)
    # The second pass is filled from the proven templates alone, and is equal all the same.
    again, slow = _templated(grouping, members)
    assert not slow and canonical(again) == canonical(expected)


def test_other_patterns_go_through_misp_stix() -> None:
    reading.cache_clear()
    both = f.indicator(
        pattern="[ipv4-addr:value = '192.0.2.1'] OR [domain-name:value = 'a.example']"
    )
    escaped = f.indicator(pattern="[url:value = 'http://x.example/it\\'s']")
    custom = f.indicator(value="192.0.2.9", x_custom="kept")
    grouping = {
        "type": "grouping",
        "id": f"grouping--{uuid.uuid4()}",
        "object_refs": [],
        "object_marking_refs": [TLP.GREEN.stix_id],
    }
    made, slow = _templated(grouping, [both, escaped, custom])
    assert made == [] and slow == [both, escaped, custom]
