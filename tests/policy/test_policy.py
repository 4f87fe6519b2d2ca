"""Worked cases of the access policy, one rule at a time, through the service layer."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories as f
from tests.conftest import Hub
from varsel.errors import Forbidden
from varsel.orgs import service as orgs
from varsel.policy import Action, restrict
from varsel.sharing import browse
from varsel.sharing import ingest as ingesting
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP


def _world(s: Session) -> Collection:
    for name, country in [
        ("Fjordnett", "NO"),
        ("Svea", "SE"),
        ("Nordvakt", "SE"),
        ("Kraft", "SE"),
        ("Partner", "US"),
    ]:
        f.org(s, name, country)
    for username, org in [
        ("alice", "Fjordnett"),
        ("alice2", "Fjordnett"),
        ("bob", "Svea"),
        ("mssp", "Nordvakt"),
        ("kraft", "Kraft"),
        ("us", "Partner"),
    ]:
        f.user(
            s, username, org, role="org-admin" if username == "mssp" else "analyst", password=None
        )
    f.community(s, "Nordic", ["Fjordnett", "Svea", "Nordvakt"])
    orgs.add_client(session=s, provider="Nordvakt", client="Kraft")
    coll = f.collection(s, "Indicators", "Nordic", default_tlp="green")
    s.commit()
    return coll


def _share(s: Session, coll: Collection, who: str, obj: dict[str, object]) -> None:
    result = ingesting.ingest(
        session=s, collection=coll, principal=f.principal(s, who), body=f.envelope(obj)
    )
    assert not result.failures, result.failures
    s.commit()


def _visible(s: Session, who: str) -> set[str]:
    query = restrict(select(StixObject.stix_id), f.principal(s, who), Action.READ)
    return set(s.execute(query).scalars())


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (TLP.CLEAR, {"alice", "alice2", "bob", "mssp", "kraft", "us"}),
        (TLP.GREEN, {"alice", "alice2", "bob", "mssp"}),
        (TLP.AMBER, {"alice", "alice2", "bob", "mssp"}),
        (TLP.AMBER_STRICT, {"alice", "alice2", "bob", "mssp"}),
        (None, {"alice", "alice2", "bob", "mssp"}),  # collection default: GREEN
    ],
)
def test_levels_reach_the_right_people(hub: Hub, level: TLP | None, expected: set[str]) -> None:
    with hub.session() as s:
        coll = _world(s)
        obj = f.indicator(tlp=level)
        _share(s, coll, "alice", obj)
        readers = {
            u
            for u in ["alice", "alice2", "bob", "mssp", "kraft", "us"]
            if obj["id"] in _visible(s, u)
        }
    assert readers == expected


def test_red_reaches_only_named_organisations_and_users_and_the_producer(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        to_org = f.indicator(tlp=TLP.RED, recipients=["Svea"])
        to_user = f.indicator(tlp=TLP.RED, recipients=["user:alice2"])
        _share(s, coll, "mssp", to_org)
        _share(s, coll, "bob", to_user)
        assert to_org["id"] in _visible(s, "bob")
        assert to_org["id"] in _visible(s, "mssp")  # producer
        assert to_org["id"] not in _visible(s, "alice")  # a member, but not named
        assert to_user["id"] in _visible(s, "alice2")
        assert to_user["id"] not in _visible(s, "alice")  # same organisation, not named
        assert to_user["id"] in _visible(s, "bob")  # producer organisation


def test_amber_reaches_a_client_only_after_a_reshare_and_while_it_holds(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        obj = f.indicator(tlp=TLP.AMBER)
        _share(s, coll, "alice", obj)
        assert obj["id"] not in _visible(s, "kraft")
        browse.reshare(
            session=s,
            principal=f.principal(s, "mssp"),
            collection_id=coll.id,
            stix_id=obj["id"],
            client="Kraft",
        )
        s.commit()
        assert obj["id"] in _visible(s, "kraft")
        # The client relation ends: the re-share stops at once.
        orgs.remove_client(session=s, provider="Nordvakt", client="Kraft")
        s.commit()
        assert obj["id"] not in _visible(s, "kraft")


def test_amber_strict_and_red_are_never_reshared(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        strict = f.indicator(tlp=TLP.AMBER_STRICT)
        _share(s, coll, "alice", strict)
        with pytest.raises(Forbidden, match="only TLP:AMBER"):
            browse.reshare(
                session=s,
                principal=f.principal(s, "mssp"),
                collection_id=coll.id,
                stix_id=strict["id"],
                client="Kraft",
            )


def test_reshare_only_to_a_registered_client(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        obj = f.indicator(tlp=TLP.AMBER)
        _share(s, coll, "alice", obj)
        with pytest.raises(Forbidden, match="not a registered client"):
            browse.reshare(
                session=s,
                principal=f.principal(s, "bob"),
                collection_id=coll.id,
                stix_id=obj["id"],
                client="Kraft",
            )


def test_membership_changes_take_effect_at_once(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        obj = f.indicator(tlp=TLP.GREEN)
        _share(s, coll, "alice", obj)
        assert obj["id"] in _visible(s, "bob")
        orgs.remove_member(session=s, community="Nordic", org="Svea")
        s.commit()
        assert obj["id"] not in _visible(s, "bob")
        orgs.add_member(session=s, community="Nordic", org="Partner")
        s.commit()
        assert obj["id"] in _visible(s, "us")


def test_read_roles_limit_community_levels_but_not_clear(hub: Hub) -> None:
    with hub.session() as s:
        _world(s)
        coll = f.collection(s, "Admins only", "Nordic", default_tlp="green", read_roles="org-admin")
        s.commit()
        green = f.indicator(tlp=TLP.GREEN)
        clear = f.indicator(tlp=TLP.CLEAR)
        _share(s, coll, "alice", green)
        _share(s, coll, "alice", clear)
        assert green["id"] in _visible(s, "mssp")  # org-admin
        assert green["id"] not in _visible(s, "bob")  # analyst
        assert clear["id"] in _visible(s, "bob")


def test_non_members_cannot_write_and_unknown_queries_return_nothing(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        with pytest.raises(Forbidden):
            ingesting.ingest(
                session=s,
                collection=coll,
                principal=f.principal(s, "us"),
                body=f.envelope(f.indicator()),
            )
        # A query over an entity the policy does not know returns nothing at all.
        from varsel.sharing.models import IngestStatus

        assert (
            s.execute(restrict(select(IngestStatus), f.principal(s, "alice"), Action.READ)).all()
            == []
        )
        assert s.execute(restrict(select(StixObject), None, Action.READ)).all() == []


def test_people_and_tokens_are_visible_by_role(hub: Hub) -> None:
    from varsel.orgs.models import ApiToken, User

    with hub.session() as s:
        _world(s)
        f.user(s, "root", "Partner", role="hub-admin", password=None)
        for name in ("alice", "alice2", "mssp"):
            f.token(s, name)
        s.commit()

        def users(who: str) -> set[str]:
            query = restrict(select(User.username), f.principal(s, who), Action.READ)
            return set(s.execute(query).scalars())

        def tokens(who: str) -> int:
            query = restrict(select(ApiToken.id), f.principal(s, who), Action.READ)
            return len(s.execute(query).all())

        assert users("alice") == {"alice"}
        assert users("mssp") == {"mssp"}  # org-admin of a one-user org
        assert users("root") >= {"alice", "alice2", "bob", "mssp", "root"}
        assert (tokens("alice"), tokens("bob"), tokens("root")) == (1, 0, 3)
