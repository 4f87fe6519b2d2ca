"""Verification is two-person in fact: nobody arranges it alone through accounts they made."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import csrf_of, sign_in
from varsel.audit import service as audit
from varsel.clearances import service
from varsel.clearances.decision import decide
from varsel.clearances.models import Clearance, Person
from varsel.errors import Forbidden
from varsel.orgs import service as orgs


def _form(client: TestClient, page: str, action: str, data: dict[str, str]) -> object:
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**data, "csrf": token}, follow_redirects=False)


def _world(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Svea Moln AB", "SE")
        f.org(s, "Säkerhetspolisen", "SE", kind="authority")
        f.org(s, "NSM", "NO", kind="authority")
        f.user(s, "anna", "Svea Moln AB", role="org-admin")
        f.user(s, "sapo", "Säkerhetspolisen", role="org-admin", password=None)
        f.user(s, "nsm", "NSM", role="org-admin", password=None)
        s.commit()


def _declare_own(hub: Hub, username: str, org: str) -> int:
    """Register ``username`` as a person who declares their own SE HEMLIG clearance."""
    with hub.session() as s:
        me = f.principal(s, username)
        person = service.add_person(
            session=s,
            principal=None,
            name=username,
            nationality="SE",
            employer=org,
            username=username,
        )
        clearance = service.add_clearance(
            session=s,
            principal=me,
            person=person,
            country="SE",
            level="HEMLIG",
            authority="Säkerhetspolisen",
            valid_from=date(2025, 1, 1),
            valid_until=date(2099, 12, 31),
        )
        s.commit()
        return clearance.id


def _allowed(hub: Hub, username: str) -> bool:
    with hub.session() as s:
        person = service.person_for_user(
            session=s, user_id=orgs.get_user(session=s, username=username).id
        )
        assert person is not None
        return decide(
            session=s, person=person, country="SE", level="HEMLIG", at=datetime.now(UTC)
        ).allowed


def test_org_admin_cannot_have_a_second_org_admin_they_made_verify_them(hub: Hub) -> None:
    """The attack of issue 12 item 4, through the pages and the API an org-admin uses."""
    _world(hub)
    with TestClient(hub.app) as anna:
        sign_in(anna, "anna")
        made = _form(
            anna,
            "/admin/users",
            "/admin/users",
            {
                "username": "anna2",
                "org": "Svea Moln AB",
                "role": "org-admin",
                "password": f.PASSWORD,
            },
        )
        assert made.status_code == 303  # type: ignore[attr-defined]
    clearance_id = _declare_own(hub, "anna", "Svea Moln AB")
    with TestClient(hub.app) as anna2:
        sign_in(anna2, "anna2")
        refused = _form(
            anna2, "/clearances", "/clearances/verify", {"clearance_id": str(clearance_id)}
        )
        assert refused.status_code == 403  # type: ignore[attr-defined]
        text = html.unescape(refused.text)  # type: ignore[attr-defined]
        assert "created or given its role by the holder anna@Svea Moln AB" in text
    with hub.session() as s:
        token = f.token(s, "anna2")
        s.commit()
    with TestClient(hub.app) as client:
        api = client.post(
            f"/api/v1/clearances/{clearance_id}/verify",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert api.status_code == 403 and "could have arranged" in api.json()["detail"]
    with hub.session() as s:
        assert s.get(Clearance, clearance_id).state == "declared"  # type: ignore[union-attr]
    assert not _allowed(hub, "anna")
    # The issuing country's security authority confirms it: that counts.
    with hub.session() as s:
        sapo = f.token(s, "sapo")
        nsm = f.token(s, "nsm")
        s.commit()
    with TestClient(hub.app) as client:
        foreign = client.post(
            f"/api/v1/clearances/{clearance_id}/verify",
            headers={"Authorization": f"Bearer {nsm}"},
        )
        assert foreign.status_code == 404  # another country's authority does not verify
        ok = client.post(
            f"/api/v1/clearances/{clearance_id}/verify",
            headers={"Authorization": f"Bearer {sapo}"},
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["state"] == "verified"
    assert _allowed(hub, "anna")


def test_a_chain_of_made_accounts_and_a_promotion_still_count(hub: Hub) -> None:
    _world(hub)
    with hub.session() as s:
        anna = f.principal(s, "anna")
        # anna makes bo, bo makes cy (an analyst); anna later promotes cy.
        orgs.add_user(
            session=s,
            username="bo",
            org="Svea Moln AB",
            role="org-admin",
            password=None,
            actor=anna.label,
        )
        b = f.principal(s, "bo")
        orgs.add_user(
            session=s,
            username="cy",
            org="Svea Moln AB",
            role="analyst",
            password=None,
            actor=b.label,
        )
        orgs.set_role(session=s, username="cy", role="org-admin", actor=anna.label)
        s.commit()
    clearance_id = _declare_own(hub, "anna", "Svea Moln AB")
    with hub.session() as s:
        for name in ("bo", "cy"):
            with pytest.raises(Forbidden, match="directly or through accounts they made"):
                service.verify_clearance(
                    session=s, principal=f.principal(s, name), clearance_id=clearance_id
                )


def test_puppet_holder_shared_maker_and_registrar_are_refused(hub: Hub) -> None:
    _world(hub)
    with hub.session() as s:
        anna = f.principal(s, "anna")
        # A second officer provisioned independently (by the operator), and two accounts anna made.
        f.user(s, "olle", "Svea Moln AB", role="org-admin", password=None)
        for name, role in (("puppet", "analyst"), ("helper", "org-admin")):
            orgs.add_user(
                session=s,
                username=name,
                org="Svea Moln AB",
                role=role,
                password=None,
                actor=anna.label,
            )
        s.commit()
    puppet = _declare_own(hub, "puppet", "Svea Moln AB")
    with hub.session() as s:
        # anna made the holder: she could be the holder.
        with pytest.raises(Forbidden, match="created or gave its role to the holder"):
            service.verify_clearance(
                session=s, principal=f.principal(s, "anna"), clearance_id=puppet
            )
        # helper and puppet were both made by anna.
        with pytest.raises(Forbidden, match="anna@Svea Moln AB made both"):
            service.verify_clearance(
                session=s, principal=f.principal(s, "helper"), clearance_id=puppet
            )
    with hub.session() as s:
        olle = f.principal(s, "olle")
        # The registrar does not verify what they registered.
        person = service.add_person(
            session=s, principal=olle, name="Sven", nationality="SE", employer="Svea Moln AB"
        )
        sven = service.add_clearance(
            session=s,
            principal=olle,
            person=person,
            country="SE",
            level="HEMLIG",
            authority="Säpo",
            valid_from=date(2025, 1, 1),
            valid_until=date(2099, 1, 1),
        )
        with pytest.raises(Forbidden, match="registered this clearance"):
            service.verify_clearance(session=s, principal=olle, clearance_id=sven.id)
        # An independent officer verifies what another registered: two persons.
        f.user(s, "ulla", "Svea Moln AB", role="org-admin", password=None)
        service.verify_clearance(session=s, principal=f.principal(s, "ulla"), clearance_id=sven.id)
        # The local operator holds the database itself and stays outside the rule.
        service.verify_clearance(session=s, principal=None, clearance_id=puppet)
        s.commit()
        assert s.get(Clearance, puppet).state == "verified"  # type: ignore[union-attr]


def test_a_maker_that_no_longer_resolves_fails_closed(hub: Hub) -> None:
    _world(hub)
    with hub.session() as s:
        f.user(s, "olle", "Svea Moln AB", role="org-admin", password=None)
        # olle's account was given its role by an account the log names but that is gone.
        audit.record(
            session=s,
            actor="ghost@Nowhere AB",
            action="user.role",
            target="olle",
            details={"role": "org-admin"},
        )
        s.commit()
    clearance_id = _declare_own(hub, "anna", "Svea Moln AB")
    with hub.session() as s:
        with pytest.raises(Forbidden, match="cannot be established"):
            service.verify_clearance(
                session=s, principal=f.principal(s, "olle"), clearance_id=clearance_id
            )
        holder = s.execute(select(Person).where(Person.name == "anna")).scalar_one()
        assert holder.user_id is not None


def test_an_account_the_holder_minted_a_token_for_cannot_verify(hub: Hub) -> None:
    _world(hub)
    with hub.session() as s:
        f.user(s, "olle", "Svea Moln AB", role="org-admin", password=None)
        # anna holds a token of olle's account: she could act as olle.
        orgs.create_token(session=s, username="olle", actor=f.principal(s, "anna").label)
        s.commit()
    clearance_id = _declare_own(hub, "anna", "Svea Moln AB")
    with hub.session() as s:
        with pytest.raises(Forbidden, match="holder anna@Svea Moln AB"):
            service.verify_clearance(
                session=s, principal=f.principal(s, "olle"), clearance_id=clearance_id
            )
