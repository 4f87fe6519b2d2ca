"""Making tombstones: a producer's DELETE, a new version that narrows a peer hub's reach and an
administrator's purge tell exactly the peer hubs that could read what went (both databases).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories as f
from tests.conftest import SECRET, Hub
from varsel import config
from varsel.audit.models import AuditEvent
from varsel.errors import Forbidden
from varsel.policy.principal import local_operator
from varsel.provenance import keys, seal
from varsel.sharing import ingest, query, tombstones
from varsel.sharing.models import Collection, StixObject, Tombstone, TombstoneAudience
from varsel.sharing.tlp import TLP

HERE = "hub-a"
V1, V2 = "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"


@dataclass
class World:
    """Hub A: CERT-A (anna) and Other-A in community Nordic with peer hub-x; hub-y outside."""

    hub: Hub
    collection_id: str
    hub_x: int
    hub_y: int

    def session(self) -> Session:
        return self.hub.session()

    def share(self, *objs: dict[str, Any]) -> None:
        with self.session() as s:
            coll = s.get(Collection, self.collection_id)
            assert coll is not None
            result = ingest.ingest(
                session=s, collection=coll, principal=f.principal(s, "anna"), body=f.envelope(*objs)
            )
            assert not result.failures, result.failures
            s.commit()

    def delete(self, stix_id: str, versions: tuple[str, ...] = ("all",)) -> None:
        with self.session() as s:
            query.delete_object(
                session=s,
                collection_id=self.collection_id,
                principal=f.principal(s, "anna"),
                stix_id=stix_id,
                filters=query.Filters(versions=versions),
            )
            s.commit()

    def tombstones(self) -> list[tuple[dict[str, Any], set[int], int]]:
        """Return each tombstone's document, audience and position, in order."""
        with self.session() as s:
            rows = s.execute(select(Tombstone).order_by(Tombstone.date_added_us)).scalars()
            return [
                (
                    json.loads(t.document),
                    set(
                        s.execute(
                            select(TombstoneAudience.org_id).where(
                                TombstoneAudience.tombstone_id == t.id
                            )
                        ).scalars()
                    ),
                    t.date_added_us,
                )
                for t in rows
            ]


def _world(hub: Hub, *, peers: bool) -> World:
    with hub.session() as s:
        f.org(s, "CERT-A", "SE")
        f.org(s, "Other-A", "SE")
        f.user(s, "anna", "CERT-A", password=None)
        members = ["CERT-A", "Other-A"]
        hub_x = hub_y = 0
        if peers:
            hub_x = f.org(s, "hub-x", "NO", kind="hub")
            hub_y = f.org(s, "hub-y", "DK", kind="hub")
            members.append("hub-x")
        f.community(s, "Nordic", members)
        coll = f.collection(s, "Shared", "Nordic", default_tlp="amber")
        s.commit()
        return World(hub, coll.id, hub_x, hub_y)


@pytest.fixture
def world(hub: Hub, configure: Callable[..., config.Settings]) -> Iterator[World]:
    configure(hub_name=HERE)
    yield _world(hub, peers=True)


def _signed_here(document: dict[str, Any]) -> bool:
    settings = config.current()
    public = keys.current(settings.data_dir, settings.hub_name).private.public_key()
    return document["origin"] == HERE and seal.verify_tombstone(document, public)


def test_a_producers_delete_tells_the_peer_hubs_that_could_read_it(world: World) -> None:
    obj = f.indicator()
    world.share(obj)
    world.delete(obj["id"])
    ((doc, audience, position),) = world.tombstones()
    assert audience == {world.hub_x}  # hub-y is in no community that reads it
    assert {k: doc[k] for k in ("type", "stix_id", "versions", "reason")} == {
        "type": "varsel-tombstone",
        "stix_id": obj["id"],
        "versions": [obj["modified"]],
        "reason": "deleted",
    }
    assert doc["id"].startswith(f"{HERE}/") and _signed_here(doc)
    with world.session() as s:
        coll = s.get(Collection, world.collection_id)
        assert coll is not None and coll.last_added_us == position


def test_deleting_some_versions_names_them(world: World) -> None:
    v1 = f.indicator(modified=V1)
    world.share(v1, {**v1, "modified": V2})
    world.delete(v1["id"], versions=(V1,))
    ((doc, audience, _),) = world.tombstones()
    assert (doc["versions"], audience) == ([V1], {world.hub_x})


def test_no_tombstone_when_no_peer_hub_could_read_it(world: World) -> None:
    red = f.indicator(tlp=TLP.RED, recipients=["Other-A"])
    world.share(red)
    world.delete(red["id"])
    assert world.tombstones() == []
    # Named as a recipient, a peer hub hears of it.
    named = f.indicator(tlp=TLP.RED, recipients=["hub-y"])
    world.share(named)
    world.delete(named["id"])
    assert [a for _, a, _ in world.tombstones()] == [{world.hub_y}]


def test_a_hub_without_peers_writes_no_tombstone(
    hub: Hub, configure: Callable[..., config.Settings]
) -> None:
    configure(hub_name=HERE)
    world = _world(hub, peers=False)
    obj = f.indicator(modified=V1)
    world.share(obj)
    world.share(
        {**obj, "modified": V2, "object_marking_refs": [TLP.RED.stix_id]}
        | {"x_varsel_recipients": ["Other-A"]}
    )
    world.delete(obj["id"])
    assert world.tombstones() == []


def test_a_version_that_narrows_reach_withdraws_the_older_ones(world: World) -> None:
    obj = f.indicator(modified=V1)
    world.share(obj)
    # Still readable by hub-x: nothing to withdraw.
    world.share({**obj, "modified": V2, "name": "renamed"})
    assert world.tombstones() == []
    v3 = "2026-03-01T00:00:00.000Z"
    world.share(
        {**obj, "modified": v3, "object_marking_refs": [TLP.RED.stix_id]}
        | {"x_varsel_recipients": ["Other-A"]}
    )
    ((doc, audience, position),) = world.tombstones()
    assert (doc["reason"], doc["versions"], audience) == ("withdrawn", [V1, V2], {world.hub_x})
    assert _signed_here(doc)
    with world.session() as s:
        newest = s.execute(
            select(StixObject.date_added_us).where(StixObject.is_latest.is_(True))
        ).scalar_one()
    assert position > newest  # after the version that narrowed it, in the collection's order


def test_narrowing_to_a_recipient_that_is_the_peer_hub_withdraws_nothing(world: World) -> None:
    obj = f.indicator(modified=V1)
    world.share(obj)
    world.share(
        {**obj, "modified": V2, "object_marking_refs": [TLP.RED.stix_id]}
        | {"x_varsel_recipients": ["hub-x"]}
    )
    assert world.tombstones() == []


def test_purge_is_for_hub_admins_and_tells_the_peers(world: World) -> None:
    obj = f.indicator()
    world.share(obj)
    with world.session() as s, pytest.raises(Forbidden):
        tombstones.purge(session=s, principal=f.principal(s, "anna"), stix_id=obj["id"])
    with world.session() as s:
        deleted = tombstones.purge(session=s, principal=local_operator(), stix_id=obj["id"])
        s.commit()
    assert deleted == {world.collection_id: 1}
    ((doc, audience, _),) = world.tombstones()
    assert (doc["reason"], doc["versions"], audience) == ("purged", None, {world.hub_x})


def test_varsel_object_purge_from_the_command_line(world: World, tmp_path: Path) -> None:
    obj = f.indicator()
    world.share(obj)
    env = {
        **os.environ,
        "VARSEL_DATABASE_URL": world.hub.settings.database_url,
        "VARSEL_SECRET_KEY": SECRET,
        "VARSEL_DATA_DIR": str(tmp_path),
        "VARSEL_HUB_NAME": HERE,
    }
    command = [sys.executable, "-m", "varsel", "object", "purge", obj["id"]]
    done = subprocess.run(
        [*command, "--collection", "Shared"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert obj["id"] in done.stdout
    with world.session() as s:
        assert s.execute(select(StixObject)).first() is None
        (event,) = s.execute(
            select(AuditEvent).where(AuditEvent.action == "objects.purge")
        ).scalars()
        assert event.actor.startswith("operator:")
    ((doc, _, _),) = world.tombstones()
    assert seal.verify_tombstone(doc, keys.load(tmp_path, HERE).private.public_key())
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "no versions" in again.stderr


def test_a_tombstone_wakes_the_streams_on_postgresql(world: World) -> None:
    if world.hub.backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite streams poll")
    obj = f.indicator()
    world.share(obj)
    url = world.hub.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN varsel_feed")
        world.delete(obj["id"])
        heard = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    assert heard == [world.collection_id]
