"""No action is offered that the service would refuse; an analyst sees their own clearance.

bob (Svea's officer) registers sven's clearance, so bob may not verify it (two persons: one
registers, another checks); the register shows why instead of a Verify button. sven, an
analyst, reads his own record on /account and is offered no way to change it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, sign_in
from varsel.clearances import service as register
from varsel.config import Settings

TODAY = datetime.now(UTC).date()


@pytest.fixture(autouse=True)
def _accredited(configure: Callable[..., Settings]) -> None:
    configure(accreditation_ceiling="NO:HEMMELIG")
    configure(security_agreements=None)


@pytest.fixture
def sven_cleared(hub: Hub, world: World) -> int:
    """Register analyst sven (Svea) and a clearance of his, declared by bob; return its id."""
    with hub.session() as s:
        f.user(s, "sven", "Svea")
        bob = f.principal(s, "bob")
        person = register.add_person(
            session=s,
            principal=bob,
            name="Sven Svensson",
            nationality="SE",
            employer="Svea",
            username="sven",
        )
        clearance = register.add_clearance(
            session=s,
            principal=bob,
            person=person,
            country="SE",
            level="Hemlig",
            authority="Säkerhetspolisen",
            valid_from=TODAY - timedelta(days=10),
            valid_until=TODAY + timedelta(days=300),
        )
        s.commit()
        return clearance.id


def _row(html: str, clearance_id: int) -> str:
    match = re.search(rf'<tr data-clearance-id="{clearance_id}".*?</tr>', html, re.S)
    assert match, f"clearance {clearance_id} is not on the page"
    return match.group(0)


def test_the_registrar_is_not_offered_verify_but_told_why(hub: Hub, sven_cleared: int) -> None:
    with TestClient(hub.app) as bob:
        sign_in(bob, "bob")
        row = _row(bob.get("/clearances").text, sven_cleared)
        assert 'action="/clearances/verify"' not in row
        assert "You cannot verify it" in row and "registered this clearance" in row
        # Revoking is still his to do, so it is offered.
        assert 'action="/clearances/revoke"' in row
    with hub.session() as s:
        # The page's answer is the service's own: verifying would be refused for that reason.
        why = register.verify_refusal(
            session=s, principal=f.principal(s, "bob"), clearance_id=sven_cleared
        )
        assert why and "registered this clearance" in why


def test_an_analyst_reads_their_own_clearance_on_the_account_page(
    hub: Hub, sven_cleared: int
) -> None:
    with TestClient(hub.app) as sven:
        sign_in(sven, "sven")
        html = sven.get("/account").text
        assert 'id="my-clearances"' in html
        row = _row(html, sven_cleared)
        assert "Hemlig" in row and "Säkerhetspolisen" in row
        assert "/clearances/verify" not in html and "/clearances/revoke" not in html
        # The officers' register stays closed to him.
        assert sven.get("/clearances", follow_redirects=False).status_code == 403
    with TestClient(hub.app) as alice:
        sign_in(alice, "alice")
        assert 'id="my-clearances"' not in alice.get("/account").text  # no record, no section
