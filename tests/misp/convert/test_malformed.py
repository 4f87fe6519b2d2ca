"""Whatever JSON arrives, the conversion answers with objects and losses or InvalidInput."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.misp.convert.conftest import EVENT_UUID, tag_placer, tag_scope
from varsel.errors import InvalidInput
from varsel.misp.convert import event_to_stix, stix_to_event

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELD = st.sampled_from(
    [
        "uuid",
        "type",
        "value",
        "category",
        "to_ids",
        "timestamp",
        "distribution",
        "comment",
        "Tag",
        "Sighting",
        "Galaxy",
        "object_relation",
        "data",
        "first_seen",
        "deleted",
    ]
)


@st.composite
def _attribute(draw: st.DrawFn) -> Any:
    base: dict[str, Any] = {
        "uuid": draw(st.uuids(version=4).map(str)),
        "type": draw(st.sampled_from(["ip-dst", "domain", "md5", "AS", "url", "text", "x"])),
        "category": "Network activity",
        "value": draw(st.text(max_size=30)),
        "timestamp": "1603642920",
    }
    for key, value in draw(st.dictionaries(_FIELD, _JSON, max_size=3)).items():
        base[key] = value
    return draw(st.sampled_from([base, base, base, draw(_JSON)]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_attribute(), max_size=4),
    st.dictionaries(
        st.sampled_from(
            [
                "Tag",
                "Galaxy",
                "Object",
                "EventReport",
                "distribution",
                "Orgc",
                "published",
                "date",
                "info",
            ]
        ),
        _JSON,
        max_size=2,
    ),
)
def test_any_event_converts_or_is_refused(attributes: list[Any], extra: dict[str, Any]) -> None:
    sample = {
        "uuid": EVENT_UUID,
        "info": "fuzzed",
        "timestamp": "1603642920",
        "Attribute": attributes,
        **extra,
    }
    try:
        converted = event_to_stix({"Event": sample}, place=tag_placer)
    except InvalidInput:
        return
    assert converted.objects[0]["type"] == "grouping"
    back = stix_to_event(converted.objects[0], converted.objects[1:], scope=tag_scope)
    assert back["Event"]["uuid"] == EVENT_UUID
