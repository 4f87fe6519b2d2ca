"""The register, the recognition flow and the audit trail, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from varsel.audit.models import AuditEvent
from varsel.clearances import service
from varsel.clearances.decision import decide
from varsel.errors import Conflict, Forbidden, InvalidInput, NotFound
from varsel.policy.principal import Principal

# Decisions are asked as of now: a clearance counts only once verified and recognised.


def _world(hub: Hub) -> dict[str, Principal]:
    with hub.session() as s:
        f.org(s, "Svea Moln AB", "SE")
        f.org(s, "Fjordnett AS", "NO")
        f.org(s, "NSM", "NO", kind="authority")
        f.org(s, "Yankee Cloud", "US")
        for name, org, role in [
            ("sec-se", "Svea Moln AB", "org-admin"),
            ("eng", "Svea Moln AB", "analyst"),
            ("sec-no", "Fjordnett AS", "org-admin"),
            ("nsm", "NSM", "org-admin"),
            ("sec-us", "Yankee Cloud", "org-admin"),
            ("yank", "Yankee Cloud", "analyst"),
        ]:
            f.user(s, name, org, role=role, password=None)
        s.commit()
        return {u: f.principal(s, u) for u in ("sec-se", "eng", "sec-no", "nsm", "sec-us", "yank")}


def test_swedish_engineer_and_norwegian_konfidensielt(hub: Hub) -> None:
    p = _world(hub)
    with hub.session() as s:
        person = service.add_person(
            session=s,
            principal=p["sec-se"],
            name="Eva Engineer",
            nationality="SE",
            employer="Svea Moln AB",
            username="eng",
        )
        clearance = service.add_clearance(
            session=s,
            principal=p["eng"],
            person=person,
            country="SE",
            level="Hemlig",
            authority="Säkerhetspolisen",
            valid_from=date(2025, 1, 1),
            valid_until=date(2027, 12, 31),
        )
        assert clearance.level == "Hemlig" and clearance.level_name == "HEMLIG"
        s.commit()

        def ask() -> bool:
            return decide(
                session=s, person=person, country="NO", level="KONFIDENSIELT", at=datetime.now(UTC)
            ).allowed

        assert not ask()  # only declared
        with pytest.raises(Forbidden):  # not by herself
            service.verify_clearance(session=s, principal=p["eng"], clearance_id=clearance.id)
        with pytest.raises(Conflict):  # verify first
            service.request_recognition(
                session=s, principal=p["sec-se"], clearance_id=clearance.id, country="NO"
            )
        service.verify_clearance(session=s, principal=p["sec-se"], clearance_id=clearance.id)
        assert decide(
            session=s, person=person, country="SE", level="HEMLIG", at=datetime.now(UTC)
        ).allowed
        assert not ask()  # Norway has not recognised it
        request = service.request_recognition(
            session=s,
            principal=p["sec-se"],
            clearance_id=clearance.id,
            country="NO",
            note="SOC serves Norway",
        )
        # The authority asked to decide sees whose clearance it is; another org-admin does not.
        from varsel.clearances.models import Clearance, Person
        from varsel.policy import Action, restrict

        def visible(who: str) -> tuple[list[str], list[int]]:
            names = s.execute(restrict(select(Person.name), p[who], Action.READ)).scalars()
            ids = s.execute(restrict(select(Clearance.id), p[who], Action.READ)).scalars()
            return list(names), list(ids)

        assert visible("nsm") == (["Eva Engineer"], [clearance.id])
        assert visible("sec-no") == ([], [])
        with pytest.raises(NotFound):  # not an authority of Norway
            service.decide_recognition(
                session=s, principal=p["sec-no"], request_id=request.id, approve=True
            )
        with pytest.raises(InvalidInput):
            service.decide_recognition(
                session=s, principal=p["nsm"], request_id=request.id, approve=False
            )
        service.decide_recognition(
            session=s, principal=p["nsm"], request_id=request.id, approve=True
        )
        s.commit()
        decision = service.check(
            session=s,
            principal=p["sec-se"],
            person=person,
            label="NO:KONFIDENSIELT",
            at=datetime.now(UTC),
        )
        assert decision.allowed, decision.reasons
        assert any("recognised it (nsm@NSM" in r for r in decision.reasons)
        assert not decide(
            session=s, person=person, country="NO", level="STRENGT HEMMELIG", at=datetime.now(UTC)
        ).allowed
        service.revoke_clearance(
            session=s, principal=p["sec-se"], clearance_id=clearance.id, reason="left the company"
        )
        assert not ask()
        s.commit()
        actions = [
            a
            for (a,) in s.execute(select(AuditEvent.action).order_by(AuditEvent.id))
            if a.startswith("clearance.")
        ]
    assert actions == [
        "clearance.person.add",
        "clearance.add",
        "clearance.verify",
        "clearance.recognition.request",
        "clearance.recognition.approve",
        "clearance.check",
        "clearance.revoke",
    ]


def test_refusal_is_final_and_recorded(hub: Hub) -> None:
    p = _world(hub)
    with hub.session() as s:
        person = service.add_person(
            session=s, principal=None, name="Bo", nationality="SE", employer="Svea Moln AB"
        )
        c = service.add_clearance(
            session=s,
            principal=None,
            person=person,
            country="SE",
            level="KONFIDENTIELL",
            authority="Säpo",
            valid_from=date(2025, 1, 1),
            valid_until=date(2027, 1, 1),
        )
        service.verify_clearance(session=s, principal=None, clearance_id=c.id)
        r = service.request_recognition(session=s, principal=None, clearance_id=c.id, country="NO")
        service.decide_recognition(
            session=s,
            principal=p["nsm"],
            request_id=r.id,
            approve=False,
            reason="certificate not received",
        )
        with pytest.raises(Conflict):
            service.decide_recognition(session=s, principal=p["nsm"], request_id=r.id, approve=True)
        assert not decide(
            session=s, person=person, country="NO", level="KONFIDENSIELT", at=datetime.now(UTC)
        ).allowed
        # The employer may ask again after a refusal.
        again = service.request_recognition(
            session=s, principal=None, clearance_id=c.id, country="NO"
        )
        assert again.status == "pending"


def test_us_partner_refused_without_agreement_allowed_with_one(
    hub: Hub, register_agreement: Callable[..., None]
) -> None:
    p = _world(hub)
    with hub.session() as s:
        person = service.add_person(
            session=s,
            principal=p["sec-us"],
            name="Sam Yank",
            nationality="US",
            employer="Yankee Cloud",
            username="yank",
        )
        c = service.add_clearance(
            session=s,
            principal=p["yank"],  # declared by the holder, verified by the officer
            person=person,
            country="US",
            level="SECRET",
            authority="DCSA",
            valid_from=date(2025, 1, 1),
            valid_until=date(2028, 1, 1),
        )
        service.verify_clearance(session=s, principal=p["sec-us"], clearance_id=c.id)
        refused = decide(
            session=s, person=person, country="NO", level="HEMMELIG", at=datetime.now(UTC)
        )
        assert not refused.allowed
        assert any(
            "no security agreement in force binds United States and Norway" in r
            for r in refused.reasons
        )
        with pytest.raises(Conflict, match="register one"):
            service.request_recognition(
                session=s, principal=p["sec-us"], clearance_id=c.id, country="NO"
            )
        register_agreement("NO", "US")
        r = service.request_recognition(
            session=s, principal=p["sec-us"], clearance_id=c.id, country="NO"
        )
        service.decide_recognition(session=s, principal=p["nsm"], request_id=r.id, approve=True)
        allowed = decide(
            session=s, person=person, country="NO", level="HEMMELIG", at=datetime.now(UTC)
        )
        assert allowed.allowed, allowed.reasons
        # No agreement binds the US and Sweden: still refused there.
        assert not decide(
            session=s, person=person, country="SE", level="HEMLIG", at=datetime.now(UTC)
        ).allowed


def test_bad_input_is_refused_precisely(hub: Hub) -> None:
    p = _world(hub)
    with hub.session() as s:
        person = service.add_person(
            session=s, principal=None, name="X", nationality="NO", employer="Fjordnett AS"
        )
        args = {
            "session": s,
            "principal": None,
            "person": person,
            "authority": "NSM",
            "valid_from": date(2025, 1, 1),
            "valid_until": date(2026, 1, 1),
        }
        with pytest.raises(InvalidInput, match="not a Norway classification level"):
            service.add_clearance(country="NO", level="HEMLIG", **args)
        with pytest.raises(InvalidInput, match="scope"):
            service.add_clearance(country="NO", level="HEMMELIG", scope="galactic", **args)
        with pytest.raises(InvalidInput, match="no scheme"):
            service.add_clearance(country="DE", level="GEHEIM", **args)
        with pytest.raises(InvalidInput, match="before"):
            service.add_clearance(
                country="NO", level="HEMMELIG", **{**args, "valid_until": date(2024, 1, 1)}
            )
        with pytest.raises(Forbidden):
            service.add_person(
                session=s,
                principal=p["sec-no"],
                name="Y",
                nationality="SE",
                employer="Svea Moln AB",
            )
        with pytest.raises(InvalidInput, match="another organisation"):
            service.add_person(
                session=s,
                principal=None,
                name="Y",
                nationality="SE",
                employer="Fjordnett AS",
                username="eng",
            )
        with pytest.raises(InvalidInput, match="SCHEME:LEVEL"):
            service.check(session=s, principal=None, person=person, label="HEMMELIG")


def test_visibility_of_the_register(hub: Hub) -> None:
    p = _world(hub)
    with hub.session() as s:
        eva = service.add_person(
            session=s,
            principal=None,
            name="Eva",
            nationality="SE",
            employer="Svea Moln AB",
            username="eng",
        )
        service.add_person(
            session=s, principal=None, name="Ola", nationality="NO", employer="Fjordnett AS"
        )
        s.commit()
        names = {
            u: sorted(x.name for x in service.list_persons(session=s, principal=p[u]))
            for u in ("sec-se", "eng", "sec-no", "yank")
        }
        assert names == {"sec-se": ["Eva"], "eng": ["Eva"], "sec-no": ["Ola"], "yank": []}
        assert service.find_person(session=s, principal=p["eng"], ref="eng").id == eva.id
