"""An event already here at its timestamp is answered unconverted (a feed fetched again)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests import factories as f
from tests.misp.write.conftest import Setup, rows
from tests.misp.write.events import addresses, event
from varsel.misp import convert
from varsel.misp.flows import importing, writing
from varsel.sharing.models import Collection


def _import(setup: Setup, events: list[dict[str, Any]]) -> list[writing.EventOutcome]:
    with setup.hub.session() as s:
        items = [importing.Item(source=f"e{n}.json", event=e) for n, e in enumerate(events)]
        return importing.share_items(
            session=s,
            principal=f.principal(s, "alice"),
            collection=s.get(Collection, setup.collection_id),
            items=items,
        )


def test_a_known_event_is_settled_without_the_converter(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = event(addresses(3), timestamp=1_700_000_000)
    older = copy.deepcopy(first)
    older["Event"]["timestamp"] = "1699999999"
    newer = copy.deepcopy(first)
    newer["Event"]["timestamp"] = "1700000100"
    assert [o.status for o in _import(setup, [first])] == [writing.Status.NEW]
    stored = rows(setup.hub)

    def converter_must_not_run(*_a: Any, **_k: Any) -> convert.Converted:
        raise AssertionError("the converter ran for an event already here")

    monkeypatch.setattr(convert, "event_to_stix", converter_must_not_run)
    again, stale = _import(setup, [copy.deepcopy(first), older])
    assert again.status is writing.Status.UNCHANGED
    assert again.reason == "this version of the event, timestamp 1700000000, is already here"
    assert again.attributes == 3
    assert stale.status is writing.Status.REFUSED and stale.refusal is writing.Refusal.STALE
    assert "a newer version of this event, timestamp 1700000000" in (stale.reason or "")
    assert rows(setup.hub) == stored
    # A newer timestamp is converted: the converter is asked (and here refuses the event).
    (converted,) = _import(setup, [newer])
    assert converted.status is writing.Status.REFUSED
    assert "the converter ran" in (converted.reason or "")
