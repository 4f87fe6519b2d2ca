"""A small hub for alert tests: two Nordic organisations in one community and an outsider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests import factories as f
from tests.conftest import Hub
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing


@dataclass
class World:
    """alice and anna (Fjordnett, NO), bob (Svea, SE, org-admin), carol (Outsider, US, in no
    community), root (hub-admin at Fjordnett); collection ``Indicators`` of community Nordic."""

    hub: Hub
    collection_id: str

    def share(self, username: str, *objects: dict[str, Any], **kwargs: Any) -> None:
        """Share ``objects`` into Indicators as ``username`` (through ingest and the policy)."""
        with self.hub.session() as s:
            result = ingesting.ingest(
                session=s,
                collection=sharing.get_collection(session=s, collection_id=self.collection_id),
                principal=f.principal(s, username),
                body=f.envelope(*objects),
                **kwargs,
            )
            assert not result.failures, result.failures
            s.commit()


@pytest.fixture
def world(hub: Hub) -> World:
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.org(s, "Svea", "SE")
        f.org(s, "Outsider", "US", kind="international-partner")
        f.user(s, "alice", "Fjordnett", password=None)
        f.user(s, "anna", "Fjordnett", password=None)
        f.user(s, "bob", "Svea", role="org-admin", password=None)
        f.user(s, "carol", "Outsider", password=None)
        f.user(s, "root", "Fjordnett", role="hub-admin", password=None)
        f.community(s, "Nordic", ["Fjordnett", "Svea"])
        coll = f.collection(s, "Indicators", "Nordic", default_tlp="amber")
        s.commit()
        return World(hub=hub, collection_id=coll.id)
