"""Fixtures of real hub processes: a fresh federation per test, and the chain A → B → C.

The modules that use them mark themselves ``federation`` (slow, real processes). None takes the
suite's ``database_url`` parameter, so each runs once, whatever the backend matrix: the chain
puts hub C on PostgreSQL and A and B on SQLite itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.federation import harness as h


@pytest.fixture
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[h.Federation]:
    """Yield an empty federation; every hub started in it is stopped and removed after."""
    fed = h.Federation(tmp_path_factory.mktemp("federation"))
    try:
        yield fed
    finally:
        fed.close()


@dataclass
class Chain:
    """Hubs A → B → C (C on PostgreSQL), connected as the issue's simplest federation.

    At A: CERT-A produces into ``Intel`` (community Nordic); A-OTHER is another member.
    At B: ``From-A`` (community B-Community: ORG-B1, ORG-B2, and hub-c) pulls A's ``Intel``;
    OUT-B is an organisation of B outside that community. B's and C's communities are listed,
    so that outsiders see the collection and only the policy's TLP rules keep objects from them.
    At C: ``From-B`` (community C-Community: ORG-C1) pulls B's ``From-A``; OUT-C is outside;
    C pins A's key (``peer trust``), since A's versions reach it through B.
    """

    a: h.Hub
    b: h.Hub
    c: h.Hub
    intel: str  # collection ids
    from_a: str
    from_b: str
    tokens: dict[str, str] = field(default_factory=dict)  # by organisation (reader) name
    peer_tokens: dict[str, str] = field(default_factory=dict)  # "hub-b@hub-a": B's token at A

    def share(self, *objects: dict[str, object], **props: object) -> list[str]:
        """Share ``objects`` at A as CERT-A; return their ids."""
        self.a.share(self.tokens["CERT-A"], self.intel, *objects, **props)
        return h.ids(objects)

    def at_b(self, org: str) -> set[str]:
        """Return the ids ORG reads in B's ``From-A``."""
        return {i for i, _ in self.b.readable(self.tokens[org], self.from_a)}

    def at_c(self, org: str) -> set[str]:
        """Return the ids ORG reads in C's ``From-B``."""
        return {i for i, _ in self.c.readable(self.tokens[org], self.from_b)}


def _local_world(
    hub: h.Hub,
    orgs: dict[str, str],
    community: str,
    members: list[str],
    collection: str,
    country: str,
    listed: bool = False,
) -> tuple[str, dict[str, str]]:
    """Add organisations (name -> kind) with a user each, a community and its collection;
    return the collection id and a token per organisation."""
    ids, tokens = hub.populate(
        orgs=orgs,
        users={f"{org.lower()}-user": org for org in orgs},
        communities={community: members},
        collections={collection: (community, "amber")},
        country=country,
        listed=[community] if listed else [],
    )
    return ids[collection], {org: tokens[f"{org.lower()}-user"] for org in orgs}


def _setup_a(a: h.Hub) -> tuple[str, dict[str, str]]:
    return _local_world(
        a, {"CERT-A": "csirt", "A-OTHER": "company"}, "Nordic", ["CERT-A", "A-OTHER"], "Intel", "NO"
    )


def _setup_b(b: h.Hub) -> tuple[str, dict[str, str]]:
    orgs = dict.fromkeys(("ORG-B1", "ORG-B2", "OUT-B"), "company")
    return _local_world(b, orgs, "B-Community", ["ORG-B1", "ORG-B2"], "From-A", "SE", listed=True)


def _setup_c(c: h.Hub) -> tuple[str, dict[str, str]]:
    orgs = dict.fromkeys(("ORG-C1", "OUT-C"), "company")
    return _local_world(c, orgs, "C-Community", ["ORG-C1"], "From-B", "DK", listed=True)


def build_chain(fed: h.Federation) -> Chain:
    """Start A, B (SQLite) and C (PostgreSQL) and connect them A → B → C."""
    a, b, c = fed.start(["hub-a", "hub-b", "hub-c"], {"hub-c": "postgresql"})
    (intel, ta), (from_a, tb), (from_b, tc) = h.parallel(
        lambda: _setup_a(a), lambda: _setup_b(b), lambda: _setup_c(c)
    )
    ab = h.connect(
        a, b, upstream_community="Nordic", remote_collection=intel, local_collection=from_a
    )
    bc = h.connect(
        b, c, upstream_community="B-Community", remote_collection=from_a, local_collection=from_b
    )
    _, key_a = a.hub_id()
    c.cli("peer", "trust", "hub-a", "--public-key", key_a, "--country", "NO")
    return Chain(
        a=a,
        b=b,
        c=c,
        intel=intel,
        from_a=from_a,
        from_b=from_b,
        tokens={**ta, **tb, **tc},
        peer_tokens={"hub-b@hub-a": ab.token, "hub-c@hub-b": bc.token},
    )


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """Yield the chain A → B → C, shared by a module's tests (each uses its own objects)."""
    fed = h.Federation(tmp_path_factory.mktemp("chain"))
    try:
        yield build_chain(fed)
    finally:
        fed.close()
