"""A small world for reading tests: Nordic members share MISP events and loose objects.

alice (Fjordnett, NO) and bob (Svea, SE) and dag (Dansk, DK) are members of the community
"Nordic" that owns the collection "Indicators"; carol (Outsider, US) is not. alice shares:

- ``green``: a MISP event (the grouping ``grouping--<uuid>``) of two TLP:GREEN indicators;
- ``amber``: a TLP:AMBER event of one TLP:AMBER indicator;
- loose objects no grouping names: a TLP:CLEAR indicator and a TLP:RED one addressed to Svea,
  served as alice's day event of the collection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests import factories as f
from tests.conftest import Hub
from varsel.matching import exports
from varsel.misp.flows import reading
from varsel.sharing import ingest
from varsel.sharing import service as sharing
from varsel.sharing.tlp import TLP

USERS = {
    "alice": ("Fjordnett", "NO"),
    "bob": ("Svea", "SE"),
    "dag": ("Dansk", "DK"),
    "carol": ("Outsider", "US"),
}
CREATED = "2026-03-01T10:00:00.000Z"


def grouping(name: str, refs: list[str], tlp: TLP, *, event: str | None = None) -> dict[str, Any]:
    """Return the grouping a MISP event is stored as."""
    return {
        "type": "grouping",
        "spec_version": "2.1",
        "id": f"grouping--{event or uuid.uuid4()}",
        "created": CREATED,
        "modified": CREATED,
        "name": name,
        "context": "suspicious-activity",
        "object_refs": refs,
        "object_marking_refs": [tlp.stix_id],
    }


@dataclass
class World:
    """The hub, its collection and tokens, and what alice shared."""

    hub: Hub
    collection: str
    tokens: dict[str, str]
    green: str
    amber: str
    green_values: tuple[str, str]
    amber_value: str
    clear_value: str
    red_value: str

    def share(self, username: str, *objects: dict[str, Any]) -> None:
        """Share ``objects`` into the collection as ``username`` and commit."""
        with self.hub.session() as s:
            coll = sharing.get_collection(session=s, collection_id=self.collection)
            result = ingest.ingest(
                session=s,
                collection=coll,
                principal=f.principal(s, username),
                body=f.envelope(*objects),
            )
            s.commit()
        assert not result.failures, result.failures


@pytest.fixture
def world(hub: Hub) -> Iterator[World]:
    """Create the world and share alice's events and loose objects."""
    reading.cache_clear()
    exports.cache_clear()
    with hub.session() as s:
        for username, (org, country) in USERS.items():
            f.org(s, org, country)
            f.user(s, username, org, password=None)
        f.community(s, "Nordic", ["Fjordnett", "Svea", "Dansk"])
        coll = f.collection(s, "Indicators", "Nordic", default_tlp="amber", alias="indicators")
        tokens = {name: f.token(s, name) for name in USERS}
        s.commit()
    green_ind = [
        f.indicator(tlp=TLP.GREEN, value="198.51.100.1", created=CREATED),
        f.indicator(tlp=TLP.GREEN, value="198.51.100.2", created=CREATED),
    ]
    amber_ind = f.indicator(tlp=TLP.AMBER, value="203.0.113.9", created=CREATED)
    green = grouping("Green event", [i["id"] for i in green_ind], TLP.GREEN)
    amber = grouping("Amber event", [amber_ind["id"]], TLP.AMBER)
    clear = f.indicator(tlp=TLP.CLEAR, value="192.0.2.55", created=CREATED)
    red = f.indicator(tlp=TLP.RED, value="192.0.2.66", created=CREATED, recipients=["Svea"])
    w = World(
        hub=hub,
        collection=coll.id,
        tokens=tokens,
        green=green["id"].split("--")[1],
        amber=amber["id"].split("--")[1],
        green_values=("198.51.100.1", "198.51.100.2"),
        amber_value="203.0.113.9",
        clear_value="192.0.2.55",
        red_value="192.0.2.66",
    )
    w.share("alice", *green_ind, green, amber_ind, amber, clear, red)
    yield w
    reading.cache_clear()
    exports.cache_clear()
