"""A small hub for incident tests: a cloud provider, a Swedish partner, CERT-SE, an outsider."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub


@dataclass
class World:
    """Clients authenticated as each test user."""

    client: TestClient
    tokens: dict[str, str]

    def as_(self, username: str) -> dict[str, str]:
        """Return the Authorization header of ``username``."""
        return {"Authorization": f"Bearer {self.tokens[username]}"}


@pytest.fixture
def world(hub: Hub) -> World:
    with hub.session() as s:
        f.org(s, "Pilvi Oy", country="FI")
        f.org(s, "Svea Moln AB", country="SE")
        f.org(s, "CERT-SE", country="SE", kind="csirt")
        f.org(s, "Outsider AS", country="NO")
        tokens = {}
        for username, org, role in [
            ("lead", "Pilvi Oy", "analyst"),
            ("partner", "Svea Moln AB", "analyst"),
            ("certse", "CERT-SE", "analyst"),
            ("outsider", "Outsider AS", "analyst"),
            ("admin", "Outsider AS", "hub-admin"),
        ]:
            f.user(s, username, org, role=role, password=None)
            tokens[username] = f.token(s, username)
        s.commit()
    return World(client=TestClient(hub.app), tokens=tokens)
