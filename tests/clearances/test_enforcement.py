"""Classification markings at ingest (the ceiling) and in every read path (the policy)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests import factories as f
from tests.conftest import Hub
from tests.factories import TAXII
from varsel.clearances import rules, service
from varsel.sharing import ingest as ingesting
from varsel.sharing.ingest.marking import EXTENSION_ID, marking_definition, marking_id
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP


def mark(label: str) -> str:
    return marking_id(rules.parse_label(label))


def _setup(hub: Hub) -> str:
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.org(s, "Svea Moln AB", "SE")
        f.org(s, "Yankee Cloud", "US")
        for name, org in [
            ("producer", "Fjordnett AS"),
            ("cleared", "Svea Moln AB"),
            ("plain", "Svea Moln AB"),
            ("yank", "Yankee Cloud"),
        ]:
            f.user(s, name, org, password=None)
        f.community(s, "Nordic", ["Fjordnett AS", "Svea Moln AB", "Yankee Cloud"])
        coll = f.collection(s, "Indicators", "Nordic", "green")
        s.commit()
        return coll.id


def _share(hub: Hub, coll_id: str, *objects: dict) -> ingesting.IngestResult:  # type: ignore[type-arg]
    with hub.session() as s:
        result = ingesting.ingest(
            session=s,
            collection=s.get(Collection, coll_id),
            principal=f.principal(s, "producer"),
            body=f.envelope(*objects),
        )
        s.commit()
        return result


def test_ingest_refuses_above_the_ceiling_and_stores_nothing_of_it(hub: Hub) -> None:
    coll = _setup(hub)
    top = f.indicator(object_marking_refs=[mark("NO:STRENGT HEMMELIG")])
    granular = f.indicator(
        granular_markings=[{"marking_ref": mark("SE:KVALIFICERAT HEMLIG"), "selectors": ["name"]}]
    )
    ok = f.indicator(object_marking_refs=[mark("NO:HEMMELIG"), TLP.GREEN.stix_id])
    plain = f.indicator()
    result = _share(hub, coll, top, granular, ok, plain)
    assert {o.id for o in result.successes} == {ok["id"], plain["id"]}
    reasons = {o.id: o.message for o in result.failures}
    assert "above what this hub may hold" in reasons[top["id"]]
    assert "NO:STRENGT HEMMELIG" in reasons[top["id"]]
    assert "nothing of it was stored" in reasons[granular["id"]]
    with hub.session() as s:
        rows = dict(s.execute(select(StixObject.stix_id, StixObject.class_grade)).all())
        assert rows == {ok["id"]: 3, plain["id"]: None}
        assert s.execute(
            select(StixObject.class_country, StixObject.class_level).where(
                StixObject.stix_id == ok["id"]
            )
        ).one() == ("NO", "HEMMELIG")


def test_unset_ceiling_refuses_everything_classified(
    hub: Hub, ceiling: Callable[[str], None]
) -> None:
    coll = _setup(hub)
    ceiling("")
    result = _share(hub, coll, f.indicator(object_marking_refs=[mark("NO:BEGRENSET")]))
    assert "not accredited" in (result.failures[0].message or "")
    ceiling("NO:GEHEIM")
    result = _share(hub, coll, f.indicator(object_marking_refs=[mark("NO:BEGRENSET")]))
    assert "not understood" in (result.failures[0].message or "")


def test_markings_defined_in_the_envelope_or_stored_before(hub: Hub) -> None:
    coll = _setup(hub)
    custom = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--1b7a0f3e-0c1d-4d2e-9a0b-6f1f7e8d9c01",
        "created": "2026-01-01T00:00:00.000Z",
        "name": "SE konfidentiell",
        "extensions": {
            EXTENSION_ID: {
                "extension_type": "property-extension",
                "country": "SE",
                "level": "Konfidentiell",
            }
        },
    }
    first = f.indicator(object_marking_refs=[custom["id"]])
    result = _share(hub, coll, custom, first)
    assert not result.failures, result.failures
    later = f.indicator(object_marking_refs=[custom["id"]])
    assert not _share(hub, coll, later).failures
    # A deterministic id whose extension claims another level is a forgery.
    forged = {
        **marking_definition(rules.parse_label("NO:BEGRENSET")),
        "extensions": {
            EXTENSION_ID: {
                "extension_type": "property-extension",
                "country": "NO",
                "level": "HEMMELIG",
            }
        },
    }
    two = f.indicator(object_marking_refs=[mark("NO:HEMMELIG"), mark("SE:HEMLIG")])
    unknown = {
        **custom,
        "id": "marking-definition--2b7a0f3e-0c1d-4d2e-9a0b-6f1f7e8d9c02",
        "extensions": {
            EXTENSION_ID: {
                "extension_type": "property-extension",
                "country": "NO",
                "level": "TOPPHEMMELIG",
            }
        },
    }
    result = _share(hub, coll, forged, two, unknown)
    reasons = {o.id: o.message or "" for o in result.failures}
    assert "its extension says NO:HEMMELIG" in reasons[forged["id"]]
    assert "more than one country" in reasons[two["id"]]
    assert "not a Norway classification level" in reasons[unknown["id"]]
    with hub.session() as s:
        grades = dict(s.execute(select(StixObject.stix_id, StixObject.class_grade)).all())
    assert grades[first["id"]] == 2 and grades[later["id"]] == 2 and grades[custom["id"]] is None


def test_every_read_path_obeys_the_clearance(hub: Hub) -> None:
    coll = _setup(hub)
    secret = f.indicator(object_marking_refs=[mark("NO:HEMMELIG")])
    restricted = f.indicator(object_marking_refs=[mark("NO:BEGRENSET")])
    open_one = f.indicator()
    _share(hub, coll, secret, restricted, open_one)
    with hub.session() as s:
        person = service.add_person(
            session=s,
            principal=None,
            name="Eva",
            nationality="SE",
            employer="Svea Moln AB",
            username="cleared",
        )
        c = service.add_clearance(
            session=s,
            principal=None,
            person=person,
            country="SE",
            level="HEMLIG",
            authority="Säpo",
            valid_from=date(2020, 1, 1),
            valid_until=date(2099, 1, 1),
        )
        service.verify_clearance(session=s, principal=None, clearance_id=c.id)
        r = service.request_recognition(session=s, principal=None, clearance_id=c.id, country="NO")
        service.decide_recognition(session=s, principal=None, request_id=r.id, approve=True)
        tokens = {u: f.token(s, u) for u in ("producer", "cleared", "plain", "yank")}
        s.commit()

    def seen(client: TestClient, user: str) -> tuple[set[str], set[str]]:
        auth = {"Authorization": f"Bearer {tokens[user]}"}
        taxii = client.get(
            f"/taxii2/hub/collections/{coll}/objects/", headers={**auth, "Accept": TAXII}
        )
        rest = client.get("/api/v1/objects", headers=auth)
        assert taxii.status_code == 200 and rest.status_code == 200
        return (
            {o["id"] for o in taxii.json().get("objects", [])},
            {o["id"] for o in rest.json()["objects"]},
        )

    everything = {secret["id"], restricted["id"], open_one["id"]}
    nordic = {restricted["id"], open_one["id"]}
    with TestClient(hub.app) as client:
        # The producing organisation's user holds no clearance: not even its own share.
        assert seen(client, "producer") == (nordic, nordic)
        assert seen(client, "cleared") == (everything, everything)
        assert seen(client, "plain") == (nordic, nordic)
        assert seen(client, "yank") == ({open_one["id"]},) * 2
        one = client.get(
            f"/api/v1/objects/{secret['id']}",
            headers={"Authorization": f"Bearer {tokens['plain']}"},
        )
        assert one.status_code == 404 or one.json().get("versions") == [], one.text
        with hub.session() as s:
            service.revoke_clearance(session=s, principal=None, clearance_id=c.id, reason="test")
            s.commit()
        assert seen(client, "cleared") == (nordic, nordic)  # at once


def test_objects_count_is_unchanged_by_refusals(hub: Hub) -> None:
    coll = _setup(hub)
    result = _share(
        hub, coll, *[f.indicator(object_marking_refs=[mark("EU:EU TOP SECRET")]) for _ in range(3)]
    )
    assert len(result.failures) == 3
    with hub.session() as s:
        assert s.execute(select(func.count()).select_from(StixObject)).scalar_one() == 0
