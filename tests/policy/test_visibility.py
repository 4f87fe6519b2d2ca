"""Worked cases of the need-to-know rule for communities (docs/access-policy.md).

The Defence community is unlisted and has Forsvar as its only member; Open is listed. Svea is in
neither. Svea's users must not learn that Defence exists — not from TAXII, REST, the web pages or
a refusal — while the TLP:CLEAR object Forsvar shared in it stays readable by them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.factories import TAXII
from tests.web.conftest import post_form, sign_in
from varsel.audit.models import AuditEvent
from varsel.clearances import service as clearances
from varsel.clearances.models import Person
from varsel.clock import utcnow
from varsel.errors import InvalidInput, NotFound
from varsel.orgs import flows
from varsel.orgs import service as orgs
from varsel.orgs.models import Community
from varsel.policy.principal import local_operator
from varsel.sharing import ingest
from varsel.sharing.tlp import TLP


@dataclass
class Scene:
    defence: str
    open: str
    clear_id: str
    amber_id: str
    tokens: dict[str, str]


@pytest.fixture
def scene(hub: Hub) -> Scene:
    with hub.session() as s:
        f.org(s, "Forsvar", "NO", kind="defence")
        f.org(s, "Svea", "SE")
        f.user(s, "fa", "Forsvar", role="org-admin")
        f.user(s, "fan", "Forsvar")
        f.user(s, "sa", "Svea", role="org-admin")
        f.user(s, "san", "Svea")
        f.user(s, "root", "Svea", role="hub-admin")
        f.community(s, "Defence", ["Forsvar"])  # unlisted: the default
        f.community(s, "Open", ["Forsvar", "Svea"], visibility="listed")
        defence = f.collection(s, "Defence feed", "Defence", "amber", description="drones")
        opened = f.collection(s, "Open feed", "Open", "green")
        clear, amber = f.indicator(tlp=TLP.CLEAR), f.indicator(tlp=TLP.AMBER, value="192.0.2.9")
        result = ingest.ingest(
            session=s,
            collection=defence,
            principal=f.principal(s, "fan"),
            body=f.envelope(clear, amber),
        )
        assert not result.failures
        tokens = {u: f.token(s, u) for u in ("fa", "fan", "sa", "san", "root")}
        s.commit()
        return Scene(defence.id, opened.id, clear["id"], amber["id"], tokens)


def _taxii(scene: Scene, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {scene.tokens[user]}", "Accept": TAXII}


def test_a_new_community_is_unlisted(hub: Hub) -> None:
    with hub.session() as s:
        row = flows.create_community(session=s, principal=local_operator(), name="New")
        assert row.visibility == "unlisted"


def test_outsiders_get_404_for_an_unlisted_collection_like_for_none(hub: Hub, scene: Scene) -> None:
    with TestClient(hub.app) as client:
        listing = client.get("/taxii2/hub/collections/", headers=_taxii(scene, "san"))
        assert [c["id"] for c in listing.json()["collections"]] == [scene.open]
        for path in ("", "objects/", f"objects/{scene.clear_id}/", "manifest/"):
            hidden = client.get(
                f"/taxii2/hub/collections/{scene.defence}/{path}", headers=_taxii(scene, "san")
            )
            made_up = client.get(
                f"/taxii2/hub/collections/{'0' * 8}-0000-4000-8000-{'0' * 12}/{path}",
                headers=_taxii(scene, "san"),
            )
            assert hidden.status_code == made_up.status_code == 404, path
            assert hidden.json()["title"] == made_up.json()["title"]
        # Writing is no oracle either: 404, not the 403 a visible collection answers.
        post = client.post(
            f"/taxii2/hub/collections/{scene.defence}/objects/",
            headers={**_taxii(scene, "sa"), "Content-Type": TAXII},
            content=f.envelope(f.indicator()),
        )
        assert post.status_code == 404


def test_members_and_hub_admins_still_see_it(hub: Hub, scene: Scene) -> None:
    with TestClient(hub.app) as client:
        for user in ("fan", "root"):
            one = client.get(
                f"/taxii2/hub/collections/{scene.defence}/", headers=_taxii(scene, user)
            )
            assert one.status_code == 200
            assert (one.json()["title"], one.json()["description"]) == ("Defence feed", "drones")
        objects = client.get(
            f"/taxii2/hub/collections/{scene.defence}/objects/", headers=_taxii(scene, "fan")
        )
        assert {o["id"] for o in objects.json()["objects"]} == {scene.clear_id, scene.amber_id}


def test_clear_objects_in_it_stay_readable_by_everyone(hub: Hub, scene: Scene) -> None:
    with TestClient(hub.app) as client:
        auth = {"Authorization": f"Bearer {scene.tokens['san']}"}
        listed = client.get("/api/v1/objects", headers=auth).json()["objects"]
        assert [o["id"] for o in listed] == [scene.clear_id]
        versions = client.get(f"/api/v1/objects/{scene.clear_id}", headers=auth)
        assert versions.status_code == 200
        # Searching by the hidden community's name finds nothing: no existence oracle.
        by_name = client.get("/api/v1/objects", params={"community": "Defence"}, headers=auth)
        assert by_name.json()["objects"] == []
        rest = client.get("/api/v1/collections", headers=auth).json()
        assert [c["id"] for c in rest] == [scene.open]


def test_the_web_pages_do_not_name_it_to_outsiders(hub: Hub, scene: Scene) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "sa")
        for page in ("/admin/communities", "/objects", "/share", "/admin/collections"):
            text = client.get(page).text
            assert "Defence" not in text and "drones" not in text, page
        # Proposing a member of it is answered as for a name nobody uses.
        answer = post_form(
            client,
            "/admin/communities",
            "/admin/communities/members",
            {"community": "Defence", "org": "Svea", "op": "add"},
        )
        nobody = post_form(
            client,
            "/admin/communities",
            "/admin/communities/members",
            {"community": "Nobody", "org": "Svea", "op": "add"},
        )
        assert answer.status_code == nobody.status_code == 404  # type: ignore[attr-defined]
        client.cookies.clear()
        sign_in(client, "fan")
        assert "Defence feed" in client.get("/objects").text


def test_who_may_list_or_unlist(hub: Hub, scene: Scene) -> None:
    with hub.session() as s:
        # An outsider's org-admin cannot even name it; a member's analyst may not decide.
        with pytest.raises(NotFound):
            flows.set_visibility(
                session=s, principal=f.principal(s, "sa"), community="Defence", visibility="listed"
            )
        with pytest.raises(Exception, match="org-admin of a member"):
            flows.set_visibility(
                session=s,
                principal=f.principal(s, "fan"),
                community="Defence",
                visibility="listed",
            )
        with pytest.raises(InvalidInput, match="expected one of listed, unlisted"):
            flows.set_visibility(
                session=s, principal=f.principal(s, "fa"), community="Defence", visibility="public"
            )
        s.rollback()
        flows.set_visibility(
            session=s, principal=f.principal(s, "fa"), community="Defence", visibility="listed"
        )
        s.commit()
        event = s.execute(
            select(AuditEvent).where(AuditEvent.action == "community.visibility")
        ).scalar_one()
        assert (event.actor, event.target) == ("fa@Forsvar", "Defence")
        assert s.execute(select(Community.visibility).where(Community.name == "Defence")).scalar()
    with TestClient(hub.app) as client:
        listing = client.get("/taxii2/hub/collections/", headers=_taxii(scene, "san"))
        assert {c["id"] for c in listing.json()["collections"]} == {scene.open, scene.defence}
        # Listed shows the collection, not what rules 1-5 withhold: AMBER stays the members'.
        objects = client.get(
            f"/taxii2/hub/collections/{scene.defence}/objects/", headers=_taxii(scene, "san")
        )
        assert [o["id"] for o in objects.json()["objects"]] == [scene.clear_id]


def test_the_web_form_lists_and_unlists(hub: Hub, scene: Scene) -> None:
    with TestClient(hub.app) as client:
        sign_in(client, "fa")
        page = client.get("/admin/communities").text
        assert 'data-visibility="unlisted"' in page
        done = post_form(
            client,
            "/admin/communities",
            "/admin/communities/visibility",
            {"community": "Defence", "visibility": "listed"},
        )
        assert done.status_code == 303  # type: ignore[attr-defined]
        bad = post_form(
            client,
            "/admin/communities",
            "/admin/communities/visibility",
            {"community": "Defence", "visibility": "everyone"},
        )
        assert bad.status_code == 400  # type: ignore[attr-defined]
        client.cookies.clear()
        sign_in(client, "root")
        created = post_form(
            client,
            "/admin/communities",
            "/admin/communities",
            {"name": "Made listed", "description": "", "visibility": "listed"},
        )
        assert created.status_code == 303  # type: ignore[attr-defined]
    with hub.session() as s:
        seen = dict(s.execute(select(Community.name, Community.visibility)).all())
    assert seen == {"Defence": "listed", "Open": "listed", "Made listed": "listed"}


def test_a_clearance_check_does_not_confirm_an_unlisted_community(hub: Hub, scene: Scene) -> None:
    with hub.session() as s:
        svea = orgs.get_org(session=s, name="Svea")
        person = Person(name="Eva", nationality="SE", employer_org_id=svea.id, created_at=utcnow())
        s.add(person)
        s.flush()
        officer = f.principal(s, "sa")
        answers = []
        for name in ("Defence", "Nobody"):
            with pytest.raises(NotFound) as caught:
                clearances.check(
                    session=s, principal=officer, person=person, label="SE:HEMLIG", community=name
                )
            answers.append(str(caught.value).replace(name, "X"))
        assert answers[0] == answers[1]
        # Its member may name it.
        decision = clearances.check(
            session=s,
            principal=f.principal(s, "fa"),
            person=person,
            label="SE:HEMLIG",
            community="Defence",
        )
        assert decision.allowed is False


def test_sharing_into_it_is_answered_as_for_no_collection(hub: Hub, scene: Scene) -> None:
    with TestClient(hub.app) as client:
        auth = {"Authorization": f"Bearer {scene.tokens['sa']}"}
        answers = [
            client.post(
                f"/api/v1/collections/{ref}/share", headers=auth, content=f.envelope(f.indicator())
            )
            for ref in (scene.defence, "nobody")
        ]
        assert answers[0].status_code == answers[1].status_code == 404
        assert answers[0].json()["detail"].replace(scene.defence, "X") == answers[1].json()[
            "detail"
        ].replace("nobody", "X")
        # A member shares as before (the reference the hub has always accepted).
        member = {"Authorization": f"Bearer {scene.tokens['fan']}"}
        shared = client.post(
            f"/api/v1/collections/{scene.defence}/share",
            headers=member,
            content=f.envelope(f.indicator(value="192.0.2.77")),
        )
        assert shared.status_code == 200 and shared.json()["accepted"], shared.text
