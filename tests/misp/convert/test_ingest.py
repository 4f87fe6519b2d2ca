"""The hub takes what the conversion makes: every corpus event ingests whole, on both databases."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests import factories as f
from tests.conftest import Hub
from tests.misp.convert.conftest import CORPUS, tag_placer
from varsel.misp.convert import event_to_stix
from varsel.sharing import ingest as ingesting
from varsel.sharing.envelope import Envelope
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP, level_of_marking

_NAMESPACE = uuid.UUID("3f0c3cf4-3a59-4d1e-9b49-3c3f4b4f6f01")


def _own(path: Path) -> dict[str, Any]:
    """Return a corpus event with uuids of its own: misp-stix's test events share theirs."""
    text = path.read_text(encoding="utf-8")
    event = json.loads(text)
    found: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("uuid"), str) and "GalaxyCluster" not in node:
                found.add(node["uuid"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(event["Event"])
    for old in found:
        text = text.replace(old, str(uuid.uuid5(_NAMESPACE, path.name + old)))
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_every_corpus_event_ingests_whole_and_again_unchanged(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "CERT-A", "NO")
        f.org(s, "CERT-B", "SE")
        f.user(s, "alice", "CERT-A", password=None)
        f.community(s, "Nordic", ["CERT-A", "CERT-B"])
        coll = f.collection(s, "MISP", "Nordic", default_tlp="amber")
        s.commit()
        principal = f.principal(s, "alice")
        converted = [
            event_to_stix(_own(p), place=tag_placer) for p in sorted(CORPUS.glob("*.json"))
        ]
        failures: list[str] = []
        stored = 0
        for rounds in range(2):
            for event in converted:
                raws = [(json.dumps(o, separators=(",", ":")), o) for o in event.objects]
                result = ingesting.ingest(
                    session=s,
                    collection=coll,
                    principal=principal,
                    body=Envelope(objects=raws, properties={}),
                )
                s.commit()
                failures += [f"{event.uuid} {d.id}: {d.message}" for d in result.failures]
            count = s.execute(select(func.count()).select_from(StixObject)).scalar_one()
            if rounds == 0:
                stored = count
        assert not failures, "\n".join(failures[:20])
        assert stored > 700
        assert count == stored, "the same events again add no object and no version"
        levels = {
            level_of_marking(ref)
            for raw in s.execute(select(StixObject.raw)).scalars()
            for ref in json.loads(raw).get("object_marking_refs", ())
        }
        assert levels <= set(TLP) and TLP.CLEAR in levels and TLP.RED not in levels
