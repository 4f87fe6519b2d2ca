"""The demo hub keeps the promise it makes: its hub-admin administers, and reads no intelligence."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from varsel import demo
from varsel.orgs.models import CommunityMember, Organisation, User


def _objects(live: str, token: str) -> list[dict[str, object]]:
    answer = httpx.get(
        f"{live}/api/v1/objects",
        params={"limit": 1000},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["more"] is False
    objects: list[dict[str, object]] = body["objects"]
    return objects


def test_the_demo_hub_admin_reads_no_intelligence(hub: Hub, live: str) -> None:
    with hub.session() as s:
        demo.seed(session=s, password="demo-password-123")
        admin = s.execute(
            select(Organisation.name, Organisation.id)
            .join(User, User.org_id == Organisation.id)
            .where(User.username == "admin")
        ).one()
        memberships = s.execute(
            select(CommunityMember).where(CommunityMember.org_id == admin.id)
        ).all()
        tokens = {u: f.token(s, u) for u in ("admin", "csirt.no")}
        s.commit()
    seen = _objects(live, tokens["admin"])
    assert seen, "TLP:CLEAR advisories are open to every user"
    assert {o["tlp"] for o in seen} == {"clear"}
    # The demo holds intelligence under every other level, which its analysts read.
    levels = {o["tlp"] for o in _objects(live, tokens["csirt.no"])}
    assert {"green", "amber", "amber+strict", "red"} <= levels
    # The hub-admin's organisation is one of its own, in no community.
    assert admin.name == "Varsel hub operations"
    assert memberships == []
