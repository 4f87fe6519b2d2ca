"""Versions stored before federation get their provenance and a seal, batch by batch
(``varsel.sharing.provenance.seal_unsealed``, run by ``varsel init``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tests import factories as f
from tests.conftest import Hub
from varsel.provenance import keys
from varsel.provenance import seal as sealing
from varsel.sharing import ingest as ingesting
from varsel.sharing.models import Seal, StixObject
from varsel.sharing.provenance import seal_unsealed
from varsel.sharing.tlp import TLP


@pytest.fixture(autouse=True)
def _this_hub(configure: Callable[..., Any]) -> None:
    configure(hub_name="hub-a")


def test_every_unsealed_version_is_sealed_once_one_seal_per_batch(hub: Hub, tmp_path: Path) -> None:
    key = keys.load(tmp_path, "hub-a")
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.org(s, "hub-b", "SE", kind="hub")
        f.user(s, "alice", "Fjordnett", password=None)
        f.community(s, "Nordic", ["Fjordnett", "hub-b"])
        coll = f.collection(s, "Indicators", "Nordic", default_tlp="green")
        objs = [
            f.indicator(tlp=TLP.RED, recipients=["CERT-SE@hub-b", "Fjordnett"]),
            f.indicator(tlp=TLP.AMBER),
            f.indicator(),  # the collection's default, GREEN
        ]
        result = ingesting.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, "alice"),
            body=f.envelope(*objs),
        )
        assert not result.failures, result.failures
        s.execute(update(StixObject).values(seal_id=None, provenance=None))
        s.execute(Seal.__table__.delete())
        s.commit()

        assert seal_unsealed(session=s, key=key, batch=2) == 3
        assert seal_unsealed(session=s, key=key, batch=2) == 0  # nothing left
        s.commit()
        rows = s.execute(
            select(StixObject.stix_id, StixObject.seal_id, StixObject.provenance, StixObject.raw)
        ).all()
        seals = {r.seal_id for r in rows}
        assert len(seals) == 2 and None not in seals  # three versions, batches of two
        stored = s.execute(select(Seal)).scalars().all()
        assert {x.id for x in stored} == seals
        public = key.private.public_key()
        for x in stored:
            signed = sealing.Seal(x.id, x.origin_hub, x.manifest, x.signature)
            assert x.id.startswith("hub-a/") and sealing.verify_seal(signed, public)
        by_seal = {x.id: sealing.Seal(x.id, x.origin_hub, x.manifest, x.signature) for x in stored}
        for row in rows:
            assert sealing.digest(row.provenance, row.raw) in by_seal[row.seal_id].digests
        docs = {r.stix_id: sealing.parse_provenance(r.provenance) for r in rows}
        assert docs[objs[0]["id"]] == {
            "class": None,
            "origin": "hub-a",
            "producer": "Fjordnett",
            "recipients": ["CERT-SE@hub-b", "Fjordnett@hub-a"],
            "tlp": "red",
        }
        assert docs[objs[2]["id"]]["tlp"] == "green"
        assert docs[objs[1]["id"]]["recipients"] == []
