"""Property: no object of an event is placed broader than its event or its own item."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.misp.convert.conftest import EVENT_UUID, attribute, event
from varsel.misp.convert import event_to_stix
from varsel.misp.sharing import Placement, Scope
from varsel.sharing.ingest import RECIPIENTS_PROPERTY
from varsel.sharing.tlp import TLP, level_of_marking

ORGS = ("CERT-A", "CERT-B", "CERT-C")


def placer(scope: Scope) -> Placement:
    """An arbitrary but fixed mapping: the level and recipients follow from the whole scope."""
    digest = hashlib.sha256(repr(scope).encode()).digest()
    level = list(TLP)[digest[0] % len(TLP)]
    named = tuple(org for i, org in enumerate(ORGS) if digest[1] >> i & 1)
    if level in (TLP.RED, TLP.AMBER_STRICT):
        return Placement(level, named or ORGS[:1])
    return Placement(level)


_ITEM = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["ip-dst", "domain", "md5", "AS", "comment"]),
        "to_ids": st.booleans(),
        "distribution": st.sampled_from(["0", "1", "2", "3", "4", "5"]),
        "tags": st.lists(st.sampled_from(["tlp:red", "tlp:green", "tlp:clear", "x"]), max_size=2),
    }
)
_VALUES = {
    "ip-dst": "203.0.113.9",
    "domain": "example.org",
    "md5": "0" * 32,
    "AS": "AS174",
    "comment": "text",
}


def _level(obj: dict[str, Any]) -> TLP:
    levels = [lvl for ref in obj["object_marking_refs"] if (lvl := level_of_marking(ref))]
    assert len(levels) == 1, obj
    return levels[0]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(_ITEM, min_size=1, max_size=5),
    st.sampled_from(["0", "1", "2", "3", "4"]),
    st.lists(st.sampled_from(["tlp:red", "tlp:amber", "tlp:clear"]), max_size=2),
)
def test_nothing_is_broader_than_its_event_or_its_item(
    items: list[dict[str, Any]], spread: str, tags: list[str]
) -> None:
    attributes = [
        attribute(
            str(uuid.uuid5(uuid.NAMESPACE_URL, str(i))),
            item["kind"],
            _VALUES[item["kind"]],
            category="Network activity" if item["kind"] != "md5" else "Payload delivery",
            to_ids=item["to_ids"],
            distribution=item["distribution"],
            SharingGroup={"uuid": EVENT_UUID},
            Tag=[{"name": t} for t in item["tags"]],
        )
        for i, item in enumerate(items)
    ]
    sample = event(
        *attributes,
        distribution=spread,
        SharingGroup={"uuid": EVENT_UUID},
        Tag=[{"name": t} for t in tags],
    )
    converted = event_to_stix(sample, place=placer)
    grouping = converted.objects[0]
    top = _level(grouping)
    top_recipients = set(grouping.get(RECIPIENTS_PROPERTY, ()))
    lost = {loss.item for loss in converted.losses}
    for obj in converted.objects:
        if obj["type"] == "marking-definition":
            continue
        level = _level(obj)
        assert level.rank >= top.rank, obj["id"]
        if top_recipients:
            assert set(obj.get(RECIPIENTS_PROPERTY, ())) <= top_recipients, obj["id"]
            assert obj.get(RECIPIENTS_PROPERTY), obj["id"]
    for attr in attributes:
        own = [o for o in converted.objects if o["id"].endswith(attr["uuid"])]
        assert own or attr["uuid"] in lost, "an attribute is converted or its loss named"
        mine = placer(
            Scope(
                int(attr["distribution"]) if attr["distribution"] != "5" else int(spread),
                EVENT_UUID
                if attr["distribution"] in ("4",) or (attr["distribution"] == "5" and spread == "4")
                else None,
                tuple(dict.fromkeys([*(t["name"] for t in attr["Tag"]), *tags])),
                "CERT-A",
            )
        )
        for obj in own:
            assert _level(obj).rank >= mine.level.rank, "never broader than the item itself"
            if mine.recipients:
                assert set(obj.get(RECIPIENTS_PROPERTY, ())) <= set(mine.recipients)
