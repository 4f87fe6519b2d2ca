"""Splitting an envelope keeps each object's bytes and rejects malformed JSON precisely."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from varsel.errors import InvalidInput
from varsel.sharing.envelope import split


def test_objects_keep_their_exact_text() -> None:
    raw = ['{"b": 1,   "a": "\\u00e6"}', '{\n "x": [1, 2.50, 1e3]\n}', "42", '"s"']
    envelope = split('{ "more": false, "objects" : [ ' + " ,\n".join(raw) + " ] }")
    assert [r for r, _ in envelope.objects] == raw
    assert envelope.objects[1][1] == {"x": [1, 2.5, 1000.0]}
    assert envelope.properties == {"more": False, "objects": None}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "{",
        '{"objects": [}',
        '{"objects": [1,]}',
        '{"objects": [1 2]}',
        '{"a": 1 "b": 2}',
        '{"objects": []} trailing',
        "{1: 2}",
        '{"objects": [{"a": }]}',
    ],
)
def test_malformed_json_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        split(text)


# Strict JSON only (issue 12.10): no NaN or infinities, integers of at most 20 digits.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20) + 1, max_value=10**20 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    st.lists(json_values, max_size=6),
    st.sampled_from(["", " ", "\n  "]),
)
def test_split_agrees_with_json_loads(
    props: dict[str, object], objects: list[object], ws: str
) -> None:
    props.pop("objects", None)
    body = {**props, "objects": objects}
    text = json.dumps(body, indent=2 if ws else None)
    envelope = split(text)
    assert [value for _, value in envelope.objects] == json.loads(text)["objects"]
    assert [json.loads(raw) for raw, _ in envelope.objects] == objects
    assert {k: v for k, v in envelope.properties.items() if k != "objects"} == props
