"""An item is placed under its event with the collection's community: no reader both do not allow.

A sharing group's attribute inside a "this community only" event must not reach a group member
outside the community (MISP shows an attribute only to whom may see it and its event), and a
community attribute inside a sharing group's event must not reach the group's outsiders either.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tests import factories as f
from tests.misp.write.conftest import Setup
from tests.misp.write.events import attribute, event
from varsel.misp import service
from varsel.misp.flows import writing
from varsel.policy import Action, restrict
from varsel.policy.principal import local_operator
from varsel.sharing.models import Collection, StixObject

_GROUP = "4f8e2b4c-8a5e-4c7e-9d3b-1a2b3c4d5e6f"


def _readers(setup: Setup, stix_id: str) -> set[str]:
    """Return the users (of alice, bob, olga) who may read the latest version of ``stix_id``."""
    found = set()
    with setup.hub.session() as s:
        for user in ("alice", "bob", "olga"):
            query = select(StixObject.stix_id).where(
                StixObject.stix_id == stix_id, StixObject.is_latest.is_(True)
            )
            if s.execute(restrict(query, f.principal(s, user), Action.READ)).first():
                found.add(user)
    return found


def _outsider_and_group(setup: Setup) -> None:
    with setup.hub.session() as s:
        f.org(s, "outside", country="DK")
        f.user(s, "olga", "outside", password=None)
        service.set_sharing_group(
            session=s,
            principal=local_operator(),
            uuid=_GROUP,
            name="acme, beta and outside",
            recipients=["acme", "beta", "outside"],
        )
        s.commit()


def _share(setup: Setup, evt: dict[str, object]) -> writing.EventOutcome:
    with setup.hub.session() as s:
        outcome = writing.share_event(
            session=s,
            principal=f.principal(s, "alice"),
            collection=s.get(Collection, setup.collection_id),
            event=evt,
        )
        s.commit()
        return outcome


def test_a_group_attribute_in_a_community_event_stays_in_the_community(setup: Setup) -> None:
    _outsider_and_group(setup)
    grouped = attribute("30.1.2.3")
    grouped["distribution"] = "4"
    grouped["SharingGroup"] = {"uuid": _GROUP, "name": "acme, beta and outside"}
    outcome = _share(setup, event([grouped], distribution=1, tags=("tlp:green",)))
    assert outcome.status is writing.Status.NEW, outcome
    # The group names olga's organisation, but the event is the community's: acme and beta only.
    assert _readers(setup, f"indicator--{grouped['uuid']}") == {"alice", "bob"}


def test_a_community_attribute_in_a_group_event_stays_with_the_group_members_inside(
    setup: Setup,
) -> None:
    _outsider_and_group(setup)
    inherited = attribute("30.1.2.4")
    inherited["distribution"] = "1"
    evt = event([inherited], distribution=4, tags=("tlp:amber",))
    evt["Event"]["SharingGroup"] = {"uuid": _GROUP, "name": "acme, beta and outside"}
    evt["Event"]["uuid"] = str(uuid.uuid4())
    outcome = _share(setup, evt)
    assert outcome.status is writing.Status.NEW, outcome
    assert _readers(setup, f"indicator--{inherited['uuid']}") == {"alice", "bob"}
