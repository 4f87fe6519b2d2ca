"""One event looked up alone is the event the index lists: same members, same timestamp.

MISP's pull compares the index's ``timestamp`` with the event it then fetches; the hub finds a
container's event in two queries and a day event without reading the whole collection, and
both must agree with the catalogue the index is made from, for every reader.
"""

from __future__ import annotations

import uuid

import pytest

from tests import factories as f
from tests.misp.read.conftest import CREATED, World, grouping
from varsel.errors import NotFound
from varsel.misp.flows import reading
from varsel.sharing.tlp import TLP


def relationship(source: str, target: str) -> dict[str, object]:
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{uuid.uuid4()}",
        "created": CREATED,
        "modified": CREATED,
        "relationship_type": "related-to",
        "source_ref": source,
        "target_ref": target,
        "object_marking_refs": [TLP.GREEN.stix_id],
    }


def test_alone_equals_the_catalogue(world: World) -> None:
    a = f.indicator(tlp=TLP.GREEN, value="203.0.113.10", created=CREATED)
    b = f.indicator(tlp=TLP.GREEN, value="203.0.113.11", created=CREATED)
    loose = f.indicator(tlp=TLP.GREEN, value="203.0.113.12", created=CREATED)
    box = grouping("With a relationship", [a["id"], b["id"]], TLP.GREEN)
    inside = relationship(a["id"], b["id"])  # joins the grouping's event
    outside = relationship(loose["id"], f"indicator--{uuid.uuid4()}")
    world.share("bob", a, b, box, inside, loose)
    world.share("alice", outside)
    for user in ("alice", "bob", "dag", "carol"):
        with world.hub.session() as s:
            p = f.principal(s, user)
            metas = reading.catalog(session=s, principal=p)
            assert metas, user
            for meta in metas:
                alone, _ = reading.one_event(session=s, principal=p, ref=meta.uuid)
                assert alone.uuid == meta.uuid
                assert alone.timestamp == meta.timestamp, (user, meta.info)
                assert {m.pk for m in alone.members} == {m.pk for m in meta.members}
                assert alone.producer == meta.producer
                if meta.container is None:
                    assert alone.info == meta.info
                by_id, _ = reading.one_event(session=s, principal=p, ref=meta.id)
                assert by_id.uuid == meta.uuid
            event = (
                next(m for m in metas if m.uuid == box["id"].split("--")[1])
                if user != "carol"
                else None
            )
            if event is not None:
                assert inside["id"] in {m.stix_id for m in event.members}
                days = [m for m in metas if m.container is None]
                assert all(inside["id"] not in {x.stix_id for x in d.members} for d in days)


@pytest.mark.parametrize("ref", ["not-a-uuid", "12", str(uuid.uuid4())])
def test_unknown_refs_are_not_found(world: World, ref: str) -> None:
    with world.hub.session() as s:
        with pytest.raises(NotFound):
            reading.one_event(session=s, principal=f.principal(s, "bob"), ref=ref)


def test_a_hub_report_is_an_event(world: World) -> None:
    ind = f.indicator(tlp=TLP.GREEN, value="203.0.113.44", created=CREATED)
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--{uuid.uuid4()}",
        "created": CREATED,
        "modified": CREATED,
        "name": "Weekly report",
        "published": CREATED,
        "object_refs": [ind["id"]],
        "object_marking_refs": [TLP.GREEN.stix_id],
    }
    world.share("bob", ind, report)
    with world.hub.session() as s:
        meta, event = reading.one_event(
            session=s, principal=f.principal(s, "dag"), ref=report["id"].split("--")[1]
        )
    body = event["Event"]
    assert body["uuid"] == report["id"].split("--")[1]
    assert body["info"] == "Weekly report"
    values = {a["value"] for a in body.get("Attribute", [])}
    values |= {a["value"] for o in body.get("Object", []) for a in o.get("Attribute", [])}
    assert values == {"203.0.113.44"}
    assert body["Orgc"]["name"] == "Svea"
