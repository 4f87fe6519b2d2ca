"""A small shared world for TAXII tests: two Nordic organisations and an outsider."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from tests import factories as f
from tests.conftest import Hub


class BearerAuth(requests.auth.AuthBase):
    """Bearer-token authentication for the OASIS taxii2-client (which uses requests)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@dataclass
class World:
    """Users alice (Fjordnett, NO) and bob (Svea, SE) share community 'Nordic'; carol (US) not."""

    collection_id: str
    tokens: dict[str, str]


@pytest.fixture
def world(hub: Hub) -> World:
    """Create the shared world and return its collection and tokens."""
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.org(s, "Svea", "SE")
        f.org(s, "Outsider", "US", kind="international-partner")
        f.user(s, "alice", "Fjordnett")
        f.user(s, "bob", "Svea")
        f.user(s, "carol", "Outsider")
        # Listed, so that outsiders see the collection and these tests exercise the object
        # rules alone; unlisted communities are tested in tests/policy/test_visibility*.py.
        f.community(s, "Nordic", ["Fjordnett", "Svea"], visibility="listed")
        coll = f.collection(s, "Indicators", "Nordic", default_tlp="amber", alias="indicators")
        tokens = {name: f.token(s, name) for name in ("alice", "bob", "carol")}
        s.commit()
        return World(collection_id=coll.id, tokens=tokens)
