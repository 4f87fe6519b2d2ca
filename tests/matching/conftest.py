"""A small world for matching tests: four Nordic organisations sharing, and an outsider."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests import factories as f
from tests.conftest import Hub
from varsel.matching import exports, service
from varsel.sharing import ingest
from varsel.sharing import service as sharing


@dataclass
class World:
    """Users alice (NO), bob (SE), dag (DK), eero (FI) share 'Nordic'; carol (US) does not."""

    hub: Hub
    collection: str
    sightings: str
    tokens: dict[str, str]

    def share(
        self, username: str, *objects: dict[str, Any], collection: str | None = None
    ) -> ingest.IngestResult:
        """Share ``objects`` as ``username`` and commit."""
        with self.hub.session() as s:
            coll = sharing.get_collection(session=s, collection_id=collection or self.collection)
            result = ingest.ingest(
                session=s,
                collection=coll,
                principal=f.principal(s, username),
                body=f.envelope(*objects),
            )
            s.commit()
        assert not result.failures, result.failures
        return result


USERS = {
    "alice": ("Fjordnett", "NO"),
    "bob": ("Svea", "SE"),
    "dag": ("Dansk", "DK"),
    "eero": ("Suomi", "FI"),
    "carol": ("Outsider", "US"),
}


@pytest.fixture
def world(hub: Hub) -> Iterator[World]:
    """Create the world; caches of exports and matchers start empty."""
    exports.cache_clear()
    service.cache_clear()
    with hub.session() as s:
        for username, (org, country) in USERS.items():
            f.org(s, org, country)
            f.user(s, username, org, password=None)
        f.community(s, "Nordic", ["Fjordnett", "Svea", "Dansk", "Suomi"])
        coll = f.collection(s, "Indicators", "Nordic", default_tlp="amber", alias="indicators")
        sight = f.collection(s, "Sightings", "Nordic", default_tlp="amber", alias="sightings")
        tokens = {name: f.token(s, name) for name in USERS}
        s.commit()
    yield World(hub=hub, collection=coll.id, sightings=sight.id, tokens=tokens)
    exports.cache_clear()
    service.cache_clear()


def pattern_indicator(pattern: str, **extra: Any) -> dict[str, Any]:
    """Return a valid indicator with ``pattern``."""
    return f.indicator(pattern=pattern, **extra)
