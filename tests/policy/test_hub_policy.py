"""TLP across hubs: what a peer hub (a user of an organisation of kind ``hub``) may read here,
and TLP:AMBER+STRICT that names its recipients (docs/federation.md, "TLP across hubs")."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories as f
from tests.conftest import Hub
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import ingest as ingesting
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP

EVERYONE = ["alice", "alice2", "bob", "nord", "peer-b", "peer-c", "us"]


@pytest.fixture(autouse=True)
def _this_hub(configure: Callable[..., Any]) -> None:
    configure(hub_name="hub-a")


def _world(s: Session) -> Collection:
    for name, country, kind in [
        ("Fjordnett", "NO", "company"),
        ("Svea", "SE", "company"),
        ("Nordvakt", "SE", "company"),
        ("Partner", "US", "international-partner"),
        ("hub-b", "SE", "hub"),
        ("hub-c", "DK", "hub"),
    ]:
        f.org(s, name, country, kind=kind)
    for username, org in [
        ("alice", "Fjordnett"),
        ("alice2", "Fjordnett"),
        ("bob", "Svea"),
        ("nord", "Nordvakt"),
        ("us", "Partner"),
        ("peer-b", "hub-b"),
        ("peer-c", "hub-c"),
    ]:
        f.user(s, username, org, password=None)
    # Both peer hubs are members: A's administrators delegated to them.
    f.community(s, "Nordic", ["Fjordnett", "Svea", "Nordvakt", "hub-b", "hub-c"])
    coll = f.collection(s, "Indicators", "Nordic", default_tlp="green")
    s.commit()
    return coll


def _share(s: Session, coll: Collection, who: str, *objs: dict[str, Any]) -> None:
    result = ingesting.ingest(
        session=s, collection=coll, principal=f.principal(s, who), body=f.envelope(*objs)
    )
    assert not result.failures, result.failures
    s.commit()


def _visible_to(s: Session, principal: Principal) -> set[str]:
    query = restrict(select(StixObject.stix_id), principal, Action.READ)
    return set(s.execute(query).scalars())


def _readers(s: Session, stix_id: str) -> set[str]:
    return {u for u in EVERYONE if stix_id in _visible_to(s, f.principal(s, u))}


def test_a_peer_hub_is_a_principal_of_kind_hub(hub: Hub) -> None:
    with hub.session() as s:
        _world(s)
        assert f.principal(s, "peer-b").hub
        assert not f.principal(s, "bob").hub


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (TLP.CLEAR, set(EVERYONE)),
        (TLP.GREEN, {"alice", "alice2", "bob", "nord", "peer-b", "peer-c"}),
        (TLP.AMBER, {"alice", "alice2", "bob", "nord", "peer-b", "peer-c"}),
        # A member hub reads neither without being named; the local members do.
        (TLP.AMBER_STRICT, {"alice", "alice2", "bob", "nord"}),
    ],
)
def test_a_member_hub_reads_up_to_amber_but_not_strict_unnamed(
    hub: Hub, level: TLP, expected: set[str]
) -> None:
    with hub.session() as s:
        coll = _world(s)
        obj = f.indicator(tlp=level)
        _share(s, coll, "alice", obj)
        assert _readers(s, obj["id"]) == expected


def test_red_naming_local_recipients_never_reaches_a_hub(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        obj = f.indicator(tlp=TLP.RED, recipients=["Svea"])
        _share(s, coll, "alice", obj)
        assert _readers(s, obj["id"]) == {"alice", "alice2", "bob"}


@pytest.mark.parametrize("level", [TLP.RED, TLP.AMBER_STRICT])
@pytest.mark.parametrize("whom", ["CERT-SE@hub-b", "user:analyst@hub-b", "org:CERT-SE@HUB-B"])
def test_a_named_recipient_at_a_peer_makes_it_readable_by_that_hub_only(
    hub: Hub, level: TLP, whom: str
) -> None:
    with hub.session() as s:
        coll = _world(s)
        obj = f.indicator(tlp=level, recipients=[whom])
        _share(s, coll, "alice", obj)
        # The producer's organisation and hub-b; not hub-c, not the local members.
        assert _readers(s, obj["id"]) == {"alice", "alice2", "peer-b"}


def test_amber_strict_naming_recipients_is_read_by_them_only(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        to_org = f.indicator(tlp=TLP.AMBER_STRICT, recipients=["Svea"])
        to_user = f.indicator(tlp=TLP.AMBER_STRICT, recipients=["user:alice2"])
        # Named by the producer, a recipient outside the community reads it too (as for RED).
        outside = f.indicator(tlp=TLP.AMBER_STRICT, recipients=["Partner"])
        _share(s, coll, "bob", to_org, to_user, outside)
        assert _readers(s, to_org["id"]) == {"bob"}
        assert _readers(s, to_user["id"]) == {"bob", "alice2"}
        assert _readers(s, outside["id"]) == {"bob", "us"}


def test_amber_strict_that_names_nobody_stays_the_communitys(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        obj = f.indicator(tlp=TLP.AMBER_STRICT, recipients=[])
        _share(s, coll, "bob", obj)
        assert _readers(s, obj["id"]) == {"alice", "alice2", "bob", "nord"}


def test_a_hub_that_produced_a_version_reads_it(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        obj = f.indicator(tlp=TLP.RED, recipients=["Svea"])
        _share(s, coll, "peer-b", obj)
        assert _readers(s, obj["id"]) == {"bob", "peer-b"}


def test_narrowing_to_amber_strict_withdraws_every_version_from_a_hub(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        oid = f.stix_id()
        first = f.indicator(oid=oid, tlp=TLP.AMBER, modified="2026-01-01T00:00:00.000Z")
        _share(s, coll, "alice", first)
        assert oid in _visible_to(s, f.principal(s, "peer-b"))
        second = f.indicator(oid=oid, tlp=TLP.AMBER_STRICT, modified="2026-02-01T00:00:00.000Z")
        _share(s, coll, "alice", second)
        # Neither the new version nor the old one: withdrawn is withdrawn.
        assert oid not in _visible_to(s, f.principal(s, "peer-b"))
        assert oid in _visible_to(s, f.principal(s, "bob"))


def test_the_hub_flag_is_part_of_the_memoised_policy(hub: Hub) -> None:
    """The same organisation, user and role with and without ``hub`` must not share a rule."""
    with hub.session() as s:
        coll = _world(s)
        obj = f.indicator(tlp=TLP.AMBER_STRICT)
        _share(s, coll, "alice", obj)
        peer = f.principal(s, "peer-b")
        as_member = dataclasses.replace(peer, hub=False)
        # Either order: the first answer must not be served for the other principal.
        assert obj["id"] in _visible_to(s, as_member)
        assert obj["id"] not in _visible_to(s, peer)
        assert obj["id"] in _visible_to(s, as_member)
