"""A hub with two organisations, each with an analyst, sharing into one MISP collection."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from tests import factories as f
from tests.conftest import Hub
from varsel.misp import service
from varsel.policy.principal import local_operator
from varsel.sharing.models import StixObject


@dataclass
class Setup:
    """What the write tests share into."""

    hub: Hub
    collection_id: str
    alice_token: str
    bob_token: str


@pytest.fixture
def setup(hub: Hub) -> Setup:
    """Return a hub where acme (alice) and beta (bob) share into the collection "misp"."""
    with hub.session() as s:
        f.org(s, "acme")
        f.org(s, "beta", country="SE")
        f.user(s, "alice", "acme")  # a password: she signs in to the web pages too
        f.user(s, "bob", "beta", password=None)
        f.community(s, "nordic", ["acme", "beta"])
        coll = f.collection(s, "misp", "nordic", default_tlp="amber")
        s.flush()
        operator = local_operator()
        service.set_collection(session=s, principal=operator, org="acme", collection=coll.id)
        alice_token = f.token(s, "alice")
        bob_token = f.token(s, "bob")
        s.commit()
        return Setup(hub, coll.id, alice_token, bob_token)


def rows(hub: Hub) -> int:
    """Return how many object versions the hub holds."""
    with hub.session() as s:
        return int(s.execute(select(func.count()).select_from(StixObject)).scalar_one())
