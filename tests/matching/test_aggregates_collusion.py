"""Sighting aggregates resist collusion: sybils, re-dating, self-counting, classified dates.

The attacks are those of issue 12 item 13, each through the REST API as an attacker runs it;
organisations are vouched for through the CLI, as an operator does it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tests import factories as f
from tests.matching.conftest import World
from varsel.audit.models import AuditEvent
from varsel.clearances import rules
from varsel.cli.main import app as cli
from varsel.config import Settings
from varsel.orgs import service as orgs
from varsel.orgs.models import Organisation
from varsel.sharing.ingest.marking import marking_id
from varsel.sharing.tlp import TLP

URL = "/api/v1/sightings/aggregates"


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(world.hub.app) as c:
        yield c


def vouch(world: World, *names: str, remove: bool = False) -> None:
    """Vouch for organisations with ``varsel org vouch``, as the hub's operator does."""
    for name in names:
        args = ["org", "vouch", name, "--database-url", world.hub.settings.database_url]
        result = CliRunner().invoke(cli, [*args, "--remove"] if remove else args)
        assert result.exit_code == 0, result.output
        assert name in result.output


def member(world: World, username: str, org: str) -> None:
    """Create ``org`` with user ``username`` in the community 'Nordic'."""
    with world.hub.session() as s:
        f.org(s, org, "NO")
        f.user(s, username, org, password=None)
        orgs.add_member(session=s, community="Nordic", org=org, actor="test")
        world.tokens[username] = f.token(s, username)
        s.commit()


def sighting(world: World, user: str, indicator_id: str, day: str, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f.stix_id("sighting"),
        "created": f"{day}T10:00:00.000Z",
        "modified": f"{day}T10:00:00.000Z",
        "sighting_of_ref": indicator_id,
        "count": 1,
        "first_seen": f"{day}T09:00:00Z",
        "last_seen": f"{day}T09:30:00Z",
        "object_marking_refs": [TLP.AMBER.stix_id],
    }
    obj.update(extra)
    world.share(user, obj, collection=world.sightings)
    return obj


def aggregates(world: World, client: TestClient, user: str) -> list[dict[str, Any]]:
    answer = client.get(URL, headers={"Authorization": f"Bearer {world.tokens[user]}"})
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["aggregates"]
    return rows


def indicator(world: World) -> str:
    made = f.indicator(value="198.51.100.99")
    world.share("alice", made)
    return str(made["id"])


def test_sybil_organisations_do_not_make_up_k(world: World, client: TestClient) -> None:
    target = indicator(world)
    member(world, "sybil1", "Sybil One AS")
    member(world, "sybil2", "Sybil Two AS")
    vouch(world, "Dansk")
    sighting(world, "dag", target, "2026-03-03")  # the victim
    sighting(world, "sybil1", target, "2026-03-03")
    sighting(world, "sybil2", target, "2026-03-03")
    # Two made-up organisations and one victim are not three organisations.
    assert aggregates(world, client, "alice") == []
    # Once the operator vouches for them they count: vouching is what k rests on.
    vouch(world, "Sybil One AS", "Sybil Two AS")
    [shown] = aggregates(world, client, "alice")
    assert shown["organisations"] == 3
    vouch(world, "Sybil Two AS", remove=True)
    assert aggregates(world, client, "alice") == []
    with world.hub.session() as s:
        acts = s.execute(
            select(AuditEvent.action, AuditEvent.target).where(
                AuditEvent.action.in_(["org.vouch", "org.unvouch"])
            )
        ).all()
        assert sorted(acts) == [
            ("org.unvouch", "Sybil Two AS"),
            ("org.vouch", "Dansk"),
            ("org.vouch", "Sybil One AS"),
            ("org.vouch", "Sybil Two AS"),
        ]
        org = s.execute(
            select(Organisation).where(Organisation.name == "Sybil One AS")
        ).scalar_one()
        assert org.vouched_by.startswith("operator:") and org.vouched_at is not None


def test_redated_colluding_sightings_reveal_no_day_of_the_victim(
    world: World, client: TestClient
) -> None:
    vouch(world, "Svea", "Dansk", "Suomi")
    # Colluders bob and eero date their sightings to one day; the victim dag saw the first
    # indicator on a Monday and the second on a Friday of the same week.
    early, late = indicator(world), indicator(world)
    for target, victim_day in ((early, "2026-03-02"), (late, "2026-03-06")):
        sighting(world, "bob", target, "2026-03-04")
        sighting(world, "eero", target, "2026-03-04")
        sighting(world, "dag", target, victim_day)
    shown = {row.pop("indicator_id"): row for row in aggregates(world, client, "alice")}
    # With k-1 colluders, any statistic of the dates is the victim's alone; only the week shows.
    assert (
        shown[early]
        == shown[late]
        == {
            "organisations": 3,
            "countries": 3,
            "first_week": "2026-W10",
            "last_week": "2026-W10",
        }
    )


def test_the_callers_own_sighting_does_not_count_toward_k(world: World, client: TestClient) -> None:
    vouch(world, "Fjordnett", "Svea", "Dansk", "Suomi")
    target = indicator(world)
    for user in ("alice", "bob", "dag"):
        sighting(world, user, target, "2026-03-03")
    # Alice plus two others: what alice sees would be the two others' sightings alone.
    assert aggregates(world, client, "alice") == []
    assert aggregates(world, client, "bob") == []
    # Eero did not sight it: three other organisations did.
    [shown] = aggregates(world, client, "eero")
    assert shown["organisations"] == 3


def test_a_classified_sighting_shows_in_no_uncleared_aggregate(
    world: World, client: TestClient, configure: Callable[..., Settings]
) -> None:
    vouch(world, "Svea", "Dansk", "Suomi")
    # After the CLI ran in this process: a command installs the environment's settings.
    configure(accreditation_ceiling="NO:HEMMELIG", sighting_k=2)
    target = indicator(world)
    sighting(world, "bob", target, "2026-03-03")
    sighting(world, "dag", target, "2026-03-04")
    secret = marking_id(rules.parse_label("NO:HEMMELIG"))
    sighting(
        world,
        "eero",
        target,
        "2026-04-21",
        object_marking_refs=[secret, TLP.AMBER.stix_id],
    )
    # Alice holds no clearance: eero's classified sighting, its org and its week stay out.
    assert aggregates(world, client, "alice") == [
        {
            "indicator_id": target,
            "organisations": 2,
            "countries": 2,
            "first_week": "2026-W10",
            "last_week": "2026-W10",
        }
    ]
