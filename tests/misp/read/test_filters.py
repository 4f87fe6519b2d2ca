"""MISP's search filters, checked and applied to events (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from varsel.errors import InvalidInput
from varsel.misp.flows.reading import parse_query
from varsel.misp.flows.reading._search import _narrow


def event(*attributes: dict[str, Any], tags: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "Event": {
            "uuid": "u",
            "Tag": [{"name": t} for t in tags],
            "Attribute": list(attributes),
            "Object": [
                {
                    "name": "file",
                    "Attribute": [
                        {"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e", "to_ids": True}
                    ],
                }
            ],
        }
    }


IP = {"type": "ip-dst", "value": "198.51.100.7", "to_ids": True}
PORT = {
    "type": "ip-dst|port",
    "value": "198.51.100.8|443",
    "to_ids": False,
    "Tag": [{"name": "kill"}],
}


def values(found: dict[str, Any] | None) -> set[str]:
    assert found is not None
    body = found["Event"]
    out = {a["value"] for a in body["Attribute"]}
    return out | {a["value"] for o in body["Object"] for a in o["Attribute"]}


def test_value_type_and_wildcards() -> None:
    e = event(IP, PORT)
    assert values(_narrow(e, parse_query({"value": "198.51.100.7"}))) == {"198.51.100.7"}
    assert values(_narrow(e, parse_query({"value": "198.51.100.8|443"}))) == {"198.51.100.8|443"}
    assert values(_narrow(e, parse_query({"value": "198.51.100.8"}))) == {"198.51.100.8|443"}
    assert values(_narrow(e, parse_query({"value": "198.51.%"}))) == {
        "198.51.100.7",
        "198.51.100.8|443",
    }
    assert values(_narrow(e, parse_query({"type": ["md5"]}))) == {
        "d41d8cd98f00b204e9800998ecf8427e"
    }
    assert values(_narrow(e, parse_query({"to_ids": 0}))) == {"198.51.100.8|443"}
    assert _narrow(e, parse_query({"value": "203.0.113.1"})) is None


def test_tags() -> None:
    e = event(IP, PORT, tags=("tlp:green",))
    assert _narrow(e, parse_query({"tags": ["tlp:green"]})) == e
    assert values(_narrow(e, parse_query({"tags": ["kill"]}))) == {"198.51.100.8|443"}
    assert values(_narrow(e, parse_query({"tags": ["!kill"]}))) == {
        "198.51.100.7",
        "d41d8cd98f00b204e9800998ecf8427e",
    }
    assert _narrow(e, parse_query({"tags": ["!tlp:green"]})) is None
    assert _narrow(e, parse_query({"tags": ["tlp:red"]})) is None
    # An event tagged as asked is found even without attributes.
    empty = {"Event": {"uuid": "e", "Tag": [{"name": "tlp:green"}], "Attribute": [], "Object": []}}
    assert _narrow(empty, parse_query({"tags": "tlp:green"})) == empty


def test_times_and_pages() -> None:
    q = parse_query({"timestamp": [1700000000, "2026-01-02"], "limit": "10", "page": 2})
    assert (q.since, q.until, q.limit, q.page) == (1700000000, 1767312000, 10, 2)
    q = parse_query({"last": "1d", "published": True, "minimal": 1})
    assert q.since is not None and q.published is True and q.minimal is True
    assert parse_query({"request": {"eventid": ["5", "ABC"]}}).events == ("5", "abc")


@pytest.mark.parametrize(
    "body",
    [
        {"timestamp": "soon"},
        {"timestamp": [1, 2, 3]},
        {"limit": 0},
        {"page": "two"},
        {"published": "maybe"},
        {"value": {"OR": ["a"]}},
    ],
)
def test_bad_filters_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        parse_query(body)
