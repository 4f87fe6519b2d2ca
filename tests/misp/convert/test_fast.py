"""The fast path builds exactly what misp-stix writes, and a compact indicator round-trips."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.misp.convert.conftest import (
    CORPUS,
    EVENT_TIME,
    attribute,
    event,
    tag_placer,
    tag_scope,
)
from tests.misp.convert.roundtrip import Tally, round_trip
from varsel.misp.convert import _compact, _fast, event_to_stix, stix_to_event
from varsel.misp.convert._fidelity import attributes, differences

_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_HOSTS = st.lists(_LABEL, min_size=1, max_size=3).map(lambda parts: ".".join(parts) + ".org")
_VALUES = {
    "ip-src": st.ip_addresses().map(str),
    "ip-dst": st.ip_addresses().map(str),
    "domain": _HOSTS,
    "hostname": _HOSTS,
    "url": _HOSTS.map(lambda h: f"https://{h}/a?b=1"),
    "md5": st.binary(min_size=16, max_size=16).map(bytes.hex),
    "sha1": st.binary(min_size=20, max_size=20).map(bytes.hex),
    "sha256": st.binary(min_size=32, max_size=32).map(bytes.hex),
    "email": _HOSTS.map(lambda h: f"x.y@{h}"),
    "email-src": _HOSTS.map(lambda h: f"a@{h}"),
    "email-dst": _HOSTS.map(lambda h: f"b@{h}"),
    "filename": st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True),
}
_CATEGORY = {kind: sorted(found) for kind, found in _fast._CATEGORIES.items()}


@st.composite
def _attributes(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(_VALUES)))
    return attribute(
        str(uuid.UUID(bytes=draw(st.binary(min_size=16, max_size=16)), version=4)),
        kind,
        draw(_VALUES[kind]),
        category=draw(st.sampled_from(_CATEGORY[kind])),
        to_ids=draw(st.sampled_from([True, True, False])),
        comment=draw(st.sampled_from(["", "a comment", "ünïcode \"quoted\" 'x'"])),
        timestamp=str(EVENT_TIME + draw(st.integers(0, 10**8))),
    )


def _same(sample: dict[str, Any]) -> None:
    fast = event_to_stix(copy.deepcopy(sample), place=tag_placer)
    slow = event_to_stix(copy.deepcopy(sample), place=tag_placer, fast=False)
    assert fast.objects[0] == slow.objects[0], "the grouping, object_refs in the same order"
    assert {o["id"]: o for o in fast.objects} == {o["id"]: o for o in slow.objects}
    assert fast.losses == slow.losses
    grouping, members = fast.objects[0], fast.objects[1:]
    quick = stix_to_event(grouping, members, scope=tag_scope)
    thorough = stix_to_event(grouping, members, scope=tag_scope, fast=False)
    assert quick == thorough, "the way back reads what misp-stix's parser reads"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_attributes(), min_size=1, max_size=8, unique_by=lambda a: a["uuid"]))
def test_the_fast_path_writes_what_misp_stix_writes(generated: list[dict[str, Any]]) -> None:
    _same(event(*generated))


def test_the_fast_path_agrees_with_misp_stix_on_every_corpus_event() -> None:
    taken = 0
    for path in sorted(CORPUS.glob("*.json")):
        sample = json.loads(path.read_text(encoding="utf-8"))
        _same(sample)
        taken += sum(
            1
            for a in sample["Event"].get("Attribute") or ()
            if isinstance(a, dict) and "uuid" in a and _fast.indicator(a, None) is not None
        )
    assert taken >= 15, "the corpus exercises the fast path"


def test_the_fast_path_takes_the_common_types_and_leaves_the_rest() -> None:
    plain = attribute(str(uuid.uuid4()), "ip-dst", "203.0.113.7")
    assert _fast.indicator(plain, None) is not None
    for changed in (
        {"to_ids": False},
        {"Tag": [{"name": "x"}]},
        {"value": "203.0.113.07"},
        {"category": "Attribution"},
        {"type": "AS", "value": "AS174"},
        {"uuid": "00000000-0000-0000-0000-000000000001"},
    ):
        assert _fast.indicator({**plain, **changed}, None) is None, changed


def test_each_indicator_alone_type_gives_its_attribute_back_through_misp_stix() -> None:
    """For every type kept as an indicator alone, misp-stix's own parser gives back the same
    attribute from it, for each to_ids attribute of that type in the corpus."""
    proven: set[str] = set()
    for path in sorted(CORPUS.glob("*.json")):
        sample = json.loads(path.read_text(encoding="utf-8"))
        for item in sample["Event"].get("Attribute") or ():
            if not (isinstance(item, dict) and _compact.compactable(item)):
                continue
            alone = copy.deepcopy(sample)
            alone["Event"].update(Attribute=[item], Object=[], EventReport=[])
            converted = event_to_stix(alone, place=tag_placer)
            if converted.losses:
                continue  # not convertible at all (an invalid value): a named loss, not ours
            kinds = {o["type"] for o in converted.objects if item["uuid"] in o["id"]}
            if "indicator" not in kinds:
                continue  # misp-stix wrote no indicator for this value: nothing to compact
            assert kinds == {"indicator"}, (path.name, item["type"], kinds)
            tally = Tally()
            back = round_trip(alone, tally)
            returned = {a["uuid"]: a for a in attributes(back)}.get(item["uuid"])
            diff = differences(item, returned)
            # Galaxies and confidence tags change tags whatever the form (see the corpus test).
            if (
                diff
                and not item.get("Galaxy")
                and not any("confidence" in t["name"] for t in item.get("Tag", ()))
            ):
                raise AssertionError((path.name, item["type"], diff))
            proven.add(item["type"])
    assert proven >= set(_fast.PATTERNS), "every fast type is proven on the corpus"
    unproven = _compact.INDICATOR_ALONE - proven
    assert not unproven, f"types kept alone with no corpus attribute to prove them: {unproven}"
