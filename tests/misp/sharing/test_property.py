"""A property: what :func:`place` puts in the hub is never readable by more organisations than
MISP's side allowed (issue 16, "Proof").

A real hub — a producer and another organisation in the collection's community K, an
organisation outside K, and a peer hub (an organisation of kind ``hub``) inside K — takes random
MISP scopes, mappings (ceilings broader than the defaults included: the table could be edited
behind the service's back) and collection defaults. An item may sit under a parent (an attribute
in an event): both are placed and combined with :func:`within`, and MISP allows only those both
scopes allow. Each item is placed, stored through :func:`varsel.sharing.ingest.ingest` and read
back through :func:`varsel.policy.restrict` as a user of every organisation; the organisations
that read it must be among those MISP allowed.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories as f
from tests.conftest import Hub
from varsel.misp.sharing import Mapping, Scope, place, within
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import ingest as ingesting
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP

PRODUCER = "Fjordnett"
IN_K = ("Fjordnett", "Svea", "hub-b")
OUTSIDE = ("Ålands Kraft",)
EVERYONE = IN_K + OUTSIDE
USERS = {"Fjordnett": "alice", "Svea": "bob", "hub-b": "peer-b", "Ålands Kraft": "dag"}
MAPPED = "0b6f0f3e-7d1c-4f6a-9c2e-1a2b3c4d5e6f"
UNMAPPED = "9d8c7b6a-5f4e-4d3c-8b2a-0f1e2d3c4b5a"

_TAGS = st.lists(
    st.sampled_from(
        [
            "tlp:clear",
            "tlp:white",
            "tlp:green",
            "tlp:amber",
            "tlp:amber+strict",
            "tlp:red",
            "TLP:GREEN",
            "tlp:ex:chr",
            "tlp:unclear",
            'misp-galaxy:threat-actor="Sofacy"',
        ]
    ),
    max_size=3,
)
_LEVELS = st.sampled_from(list(TLP))
_SCOPES = st.builds(
    Scope,
    distribution=st.sampled_from([0, 1, 2, 3, 4, 4, 5]),
    sharing_group=st.sampled_from([MAPPED, UNMAPPED, None]),
    tags=_TAGS.map(tuple),
    producer=st.just(PRODUCER),
)
_MAPPINGS = st.builds(
    Mapping,
    ceilings=st.fixed_dictionaries(dict.fromkeys(range(4), _LEVELS)),
    groups=st.lists(st.sampled_from(EVERYONE), min_size=1, max_size=3, unique=True).map(
        lambda names: {MAPPED: tuple(names)}
    ),
)


def _world(s: Session) -> tuple[Collection, dict[str, Principal]]:
    for name in EVERYONE:
        f.org(s, name, "NO", kind="hub" if name == "hub-b" else "company")
        f.user(s, USERS[name], name, password=None)
    f.community(s, "Nordic", list(IN_K))
    coll = f.collection(s, "MISP events", "Nordic", default_tlp="amber")
    s.commit()
    readers = {name: f.principal(s, USERS[name]) for name in EVERYONE}
    return coll, readers


def _allowed(scope: Scope, mapping: Mapping) -> set[str]:
    """Return the organisations MISP's side lets read ``scope``, as the hub interprets it."""
    if scope.distribution == 1:
        return set(IN_K)
    if scope.distribution in (2, 3):
        return set(EVERYONE)
    if scope.distribution == 4:
        return set(mapping.groups.get(scope.sharing_group or "", ())) | {PRODUCER}
    return {PRODUCER}


def _readers(s: Session, stix_id: str, readers: dict[str, Principal]) -> set[str]:
    query = select(StixObject.id).where(StixObject.stix_id == stix_id)
    return {
        name
        for name, principal in readers.items()
        if s.execute(restrict(query, principal, Action.READ)).first() is not None
    }


def test_placing_never_lets_more_organisations_read_than_misp_allowed(hub: Hub) -> None:
    with hub.session() as s:
        coll, readers = _world(s)
        seen_levels: set[TLP] = set()

        @settings(
            max_examples=100,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(scope=_SCOPES, mapping=_MAPPINGS, default=_LEVELS, parent=st.none() | _SCOPES)
        # Every level, and both kinds of AMBER+STRICT, always among the examples.
        @example(
            scope=Scope(3, None, ("tlp:clear",), PRODUCER),
            mapping=Mapping(),
            default=TLP.RED,
            parent=None,
        )
        @example(
            scope=Scope(1, None, ("tlp:green",), PRODUCER),
            mapping=Mapping(),
            default=TLP.RED,
            parent=None,
        )
        @example(
            scope=Scope(2, None, (), PRODUCER), mapping=Mapping(), default=TLP.AMBER, parent=None
        )
        @example(
            scope=Scope(1, None, ("tlp:amber+strict",), PRODUCER),
            mapping=Mapping(),
            default=TLP.CLEAR,
            parent=None,
        )
        @example(
            scope=Scope(4, MAPPED, ("tlp:clear",), PRODUCER),
            mapping=Mapping(groups={MAPPED: ("Svea", "Ålands Kraft")}),
            default=TLP.CLEAR,
            parent=None,
        )
        @example(
            scope=Scope(0, None, ("tlp:clear",), PRODUCER),
            mapping=Mapping(),
            default=TLP.CLEAR,
            parent=None,
        )
        # A sharing group's attribute in an event for this community only.
        @example(
            scope=Scope(4, MAPPED, (), PRODUCER),
            mapping=Mapping(groups={MAPPED: ("Svea", "Ålands Kraft")}),
            default=TLP.GREEN,
            parent=Scope(1, None, (), PRODUCER),
        )
        def check(scope: Scope, mapping: Mapping, default: TLP, parent: Scope | None) -> None:
            placed = place(scope, mapping, default=default)
            allowed = _allowed(scope, mapping)
            if parent is not None:
                # An attribute of an event: read by those who may read both (within()).
                above = place(parent, mapping, default=default)
                placed = within(placed, above, community=IN_K, producer=PRODUCER)
                allowed &= _allowed(parent, mapping)
            oid = f"indicator--{uuid.uuid4()}"
            obj = f.indicator(
                oid=oid,
                tlp=placed.level,
                recipients=list(placed.recipients) if placed.recipients else None,
            )
            result = ingesting.ingest(
                session=s, collection=coll, principal=readers[PRODUCER], body=f.envelope(obj)
            )
            assert [d.id for d in result.successes] == [oid], result.failures
            seen_levels.add(placed.level)
            can_read = _readers(s, oid, readers)
            assert PRODUCER in can_read
            assert can_read <= allowed, (scope, parent, mapping, placed, can_read)

        check()
        s.rollback()
    # The examples reached every level (the explicit ones see to it).
    assert seen_levels == set(TLP)
