"""Clearances against the sources: RESTRICTED without clearance, `--at`, aliases, agreements."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.cli.test_cli import run
from tests.conftest import Hub
from tests.factories import TAXII
from varsel.clearances import rules, service
from varsel.clearances.decision import Subject, evaluate
from varsel.clearances.models import Clearance, RecognitionRequest
from varsel.sharing import ingest as ingesting
from varsel.sharing.ingest.marking import marking_id
from varsel.sharing.models import Collection


def _world(hub: Hub) -> str:
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.org(s, "Dansk Sky", "DK")
        f.org(s, "Svea Moln AB", "SE")
        f.org(s, "Outsider", "BR")
        for name, org in [
            ("producer", "Dansk Sky"),
            ("ola", "Fjordnett AS"),
            ("dana", "Dansk Sky"),
            ("eva", "Svea Moln AB"),
            ("bruno", "Outsider"),
        ]:
            f.user(s, name, org, password=None)
        f.community(s, "C", ["Fjordnett AS", "Dansk Sky", "Svea Moln AB", "Outsider"])
        coll = f.collection(s, "K", "C", "green")
        s.commit()
        return coll.id


def test_nato_restricted_and_restreint_ue_need_no_clearance_only_a_party(hub: Hub) -> None:
    coll = _world(hub)
    nr = f.indicator(object_marking_refs=[marking_id(rules.parse_label("NATO:NATO RESTRICTED"))])
    rue = f.indicator(object_marking_refs=[marking_id(rules.parse_label("EU:RESTREINT UE"))])
    nc = f.indicator(object_marking_refs=[marking_id(rules.parse_label("NATO:NATO CONFIDENTIAL"))])
    with hub.session() as s:
        result = ingesting.ingest(
            session=s,
            collection=s.get(Collection, coll),
            principal=f.principal(s, "producer"),
            body=f.envelope(nr, rue, nc),
        )
        assert not result.failures
        tokens = {u: f.token(s, u) for u in ("ola", "dana", "eva", "bruno")}
        s.commit()
    expected = {
        "ola": {nr["id"]},  # Norway: NATO, not EU
        "dana": {nr["id"], rue["id"]},  # Denmark: both
        "eva": {nr["id"], rue["id"]},  # Sweden: both (NATO since 2024)
        "bruno": set(),  # Brazil: neither
    }
    with TestClient(hub.app) as client:
        for user, ids in expected.items():
            auth = {"Authorization": f"Bearer {tokens[user]}"}
            taxii = client.get(
                f"/taxii2/hub/collections/{coll}/objects/", headers={**auth, "Accept": TAXII}
            )
            rest = client.get("/api/v1/objects", headers=auth)
            assert {o["id"] for o in taxii.json().get("objects", [])} == ids, user
            assert {o["id"] for o in rest.json()["objects"]} == ids, user
    # The reason names the agreement and says the clause is unverified.
    got = evaluate(
        subject=_subject("NO"),
        material=rules.level("NATO", "NR"),
        at=datetime(2026, 5, 1, tzinfo=UTC),
    )
    assert got.allowed
    assert any(
        "needs no personnel clearance under 'Agreement between the Parties" in r
        for r in got.reasons
    )
    assert not evaluate(
        subject=_subject("NO"),
        material=rules.level("EU", "RESTREINT UE"),
        at=datetime(2026, 5, 1, tzinfo=UTC),
    ).allowed
    # Sweden's people: no NATO RESTRICTED before the agreement bound Sweden.
    assert not evaluate(
        subject=_subject("SE"),
        material=rules.level("NATO", "NR"),
        at=datetime(2024, 4, 5, tzinfo=UTC),
    ).allowed


def _subject(country: str) -> Subject:
    return Subject(name="P", employer_org_id=1, employer_country=country)


def test_the_nato_agreement_dates_follow_its_text() -> None:
    nato = next(a for a in rules.agreements() if a.id == "nato")
    assert nato.in_force == date(1952, 4, 19)  # the 1952 agreement it superseded (Art. 6(c))
    assert not nato.verified and "Trb. 1998, 187" in nato.source
    assert nato.binds("FI", "FI", date(2023, 5, 4)) and not nato.binds("FI", "FI", date(2023, 5, 3))
    assert nato.binds("SE", "SE", date(2024, 4, 6)) and not nato.binds("SE", "SE", date(2024, 4, 5))
    assert nato.binds("NO", "US", date(1990, 1, 1))


def test_an_eu_clearance_issued_outside_the_eu_is_refused_at_registration(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.user(s, "sec", "Fjordnett AS", role="org-admin", password=None)
        token = f.token(s, "sec")
        person = service.add_person(
            session=s, principal=None, name="Ola", nationality="NO", employer="Fjordnett AS"
        )
        s.commit()
    body = {
        "person": person.id,
        "country": "NO",
        "scope": "eu",
        "level": "SECRET UE",
        "authority": "NSM",
        "valid_from": "2025-01-01",
        "valid_until": "2099-01-01",
    }
    with TestClient(hub.app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        refused = client.post("/api/v1/clearances", headers=auth, json=body)
        assert refused.status_code == 400
        assert "an EU clearance issued by NO can never count" in refused.json()["detail"]
        # A NATO clearance issued by Norway is fine.
        nato = {**body, "scope": "nato", "level": "NATO SECRET"}
        assert client.post("/api/v1/clearances", headers=auth, json=nato).status_code == 201
    with hub.session() as s:
        assert s.query(Clearance).count() == 1


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("YTTERST HEMLIG", "ERITTÄIN SALAINEN"),
        ("Hemlig", "SALAINEN"),
        ("konfidentiell", "LUOTTAMUKSELLINEN"),
        ("BEGRÄNSAD TILLGÅNG", "KÄYTTÖ RAJOITETTU"),
        ("BEGRANSAD TILLGANG", "KÄYTTÖ RAJOITETTU"),
        ("KAYTTO RAJOITETTU", "KÄYTTÖ RAJOITETTU"),
        ("erittain salainen", "ERITTÄIN SALAINEN"),
    ],
)
def test_finnish_swedish_language_and_undotted_spellings_are_aliases(
    written: str, canonical: str
) -> None:
    assert rules.level("FI", written).name == canonical


def test_other_schemes_fold_diacritics_and_near_misses_are_suggested() -> None:
    assert rules.level("IS", "TRUNADARMAL").name == "TRÚNAÐARMÁL"
    assert rules.level("SE", "BEGRANSAT HEMLIG").name == "BEGRÄNSAT HEMLIG"
    assert rules.level("EU", "TRES SECRET UE/EU TOP SECRET").grade == 4
    with pytest.raises(rules.UnknownLevel, match="did you mean 'HEMMELIG'"):
        rules.level("NO", "HEMMELGI")
    with pytest.raises(rules.UnknownLevel, match="did you mean 'KÄYTTÖ RAJOITETTU'"):
        rules.level("FI", "KAYTO RAJOITETTU")
    with pytest.raises(rules.UnknownLevel) as nothing_near:
        rules.level("NO", "BANANA")
    assert "did you mean" not in str(nothing_near.value)


def test_check_at_answers_as_of_then_and_names_a_pending_request(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Svea Moln AB", "SE")
        f.org(s, "NSM", "NO", kind="authority")
        f.user(s, "eva", "Svea Moln AB", password=None)
        f.user(s, "nsm", "NSM", role="org-admin", password=None)
        person = service.add_person(
            session=s,
            principal=None,
            name="Eva",
            nationality="SE",
            employer="Svea Moln AB",
            username="eva",
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
        s.commit()
        cid, rid = c.id, r.id

    def check(at: datetime | None) -> tuple[int, dict]:  # type: ignore[type-arg]
        args = ["clearance", "check", "eva", "--level", "NO:KONFIDENSIELT", "--json"]
        done = run(hub, *args, *(["--at", at.isoformat()] if at else []))
        return done.returncode, json.loads(done.stdout)

    code, pending = check(None)
    assert code == 4
    assert any(f"request #{rid}" in x and "still pending" in x for x in pending["reasons"])
    # Recognised, then revoked: back-date the acts so that there is a past to ask about.
    with hub.session() as s:
        service.decide_recognition(
            session=s, principal=f.principal(s, "nsm"), request_id=rid, approve=True
        )
        service.revoke_clearance(session=s, principal=None, clearance_id=cid, reason="left")
        now = datetime.now(UTC).replace(tzinfo=None)
        row = s.get(Clearance, cid)
        assert row is not None
        row.verified_at = now - timedelta(days=30)
        row.revoked_at = now - timedelta(days=5)
        req = s.get(RecognitionRequest, rid)
        assert req is not None
        req.requested_at = now - timedelta(days=25)
        req.decided_at = now - timedelta(days=10)
        s.commit()
    ago = datetime.now(UTC)
    code, today = check(None)
    assert code == 4 and any("revoked" in x for x in today["reasons"])
    # Between recognition and revocation: allowed, as the hub answered then.
    code, then = check(ago - timedelta(days=7))
    assert code == 0, then["reasons"]
    # Before the recognition: refused, and the request was pending then.
    code, before = check(ago - timedelta(days=15))
    assert code == 4
    assert any(f"request #{rid}" in x and "still pending" in x for x in before["reasons"])
    # Before the verification: it counted for nothing yet.
    code, earlier = check(ago - timedelta(days=40))
    assert code == 4 and any("verified only on" in x for x in earlier["reasons"])
