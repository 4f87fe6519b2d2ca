"""The object page as a place to pivot from: names, incidents, sightings and the actions offered.

Each action is offered only when the policy would allow it, and its POST decides again.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, csrf_of, sign_in
from varsel.clearances import rules
from varsel.incidents import service as incidents
from varsel.incidents.models import ObjectLink
from varsel.orgs import service as orgs
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.ingest import marking
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP
from varsel.web import names

CREATED = "2026-02-01T00:00:00.000Z"


def _share(hub: Hub, world: World, username: str, *objects: dict[str, Any]) -> None:
    with hub.session() as s:
        coll = sharing.get_collection(session=s, collection_id=world.collection_id)
        result = ingesting.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, username),
            body=f.envelope(*objects),
        )
        assert not result.failures, [x.message for x in result.failures]
        s.commit()


def _post(client: TestClient, page: str, action: str, data: dict[str, str]) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**data, "csrf": token}, follow_redirects=False)


def _rel(source: str, target: str, kind: str = "indicates") -> dict[str, Any]:
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f.stix_id("relationship"),
        "created": CREATED,
        "modified": CREATED,
        "relationship_type": kind,
        "source_ref": source,
        "target_ref": target,
        "object_marking_refs": [TLP.GREEN.stix_id],
    }


def test_names_are_values_and_unreadable_ids_are_redacted() -> None:
    indicator = f.indicator(value="203.0.113.7", name="Payload URL")
    assert names.display_name(indicator) == "203.0.113.7"
    both = {
        **indicator,
        "pattern": "[url:value = 'http://x.example/a'] OR [ipv4-addr:value = '192.0.2.1']",
    }
    assert names.display_name(both) == "http://x.example/a, 192.0.2.1"
    assert names.display_name({"type": "domain-name", "value": "evil.example"}) == "evil.example"
    assert names.display_name({"type": "file", "hashes": {"SHA-256": "ab" * 32}}).startswith(
        "SHA-256 "
    )
    assert names.display_name({"type": "malware", "name": "Lynx"}) == "Lynx"
    assert names.kind_of("attack-pattern") == "Attack pattern"
    seen, unseen = f.stix_id("malware"), f.stix_id("intrusion-set")
    text = f"{seen} and {unseen} under {TLP.RED.stix_id}"
    out = names.redact(text, {seen})
    assert seen in out and unseen not in out and "intrusion-set" not in out
    assert TLP.RED.stix_id in out  # the well-known marking definitions are no secret
    assert names.ids_in({"a": [seen, {"b": unseen}]}) == {seen, unseen}
    # Classification markings have public, deterministic ids: named, never hidden.
    secret = marking.marking_id(rules.parse_label("NO:KONFIDENSIELT"))
    assert names.redact(secret, set()) == secret
    assert names.well_known()[secret].name == "NO:KONFIDENSIELT"
    assert names.well_known()[TLP.AMBER.stix_id].name == "TLP:AMBER"


def test_the_page_says_what_the_object_is_and_shows_relationships_by_name(
    hub: Hub, world: World
) -> None:
    seen = f.indicator(tlp=TLP.GREEN, value="203.0.113.7", name="Payload URL")
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": f.stix_id("malware"),
        "created": CREATED,
        "modified": CREATED,
        "name": "Lynx loader",
        "is_family": True,
        "object_marking_refs": [TLP.GREEN.stix_id],
    }
    _share(hub, world, "bob", seen, malware, _rel(seen["id"], malware["id"]))
    with TestClient(hub.app) as alice:
        sign_in(alice, "alice")
        page = alice.get(f"/objects/{seen['id']}").text
    assert "<title>Indicator: 203.0.113.7" in page
    assert '<svg class="graph"' in page and "Lynx loader" in page
    assert f'href="/objects/{malware["id"]}">Lynx loader</a>' in page
    assert "1 relationship" in page
    # Sightings: none of our own, and a plain note that the community figures need k.
    assert "Your organisation has shared no sighting" in page
    assert 'id="few-sightings"' in page and "Fewer than 3 organisations" in page
    # Not an AMBER object, not alice's: no re-share and no revoke offered; export always.
    assert "/reshare" not in page and "/revoke" not in page
    assert f"/objects/{seen['id']}/bundle?related=yes" in page


def test_link_to_an_incident_picked_from_a_list(hub: Hub, world: World) -> None:
    obj = f.indicator(tlp=TLP.AMBER, value="198.51.100.20")
    _share(hub, world, "bob", obj)
    with hub.session() as s:
        mine = incidents.create(session=s, principal=f.principal(s, "alice"), title="Phish wave")
        theirs = incidents.create(session=s, principal=f.principal(s, "bob"), title="Svea outage")
        incidents.add_participant(
            session=s,
            principal=f.principal(s, "bob"),
            incident_id=theirs.id,
            role="responder",
            org="Fjordnett",
        )
        s.commit()
        mine_id, theirs_id = mine.id, theirs.id
    page_url = f"/objects/{obj['id']}"
    with TestClient(hub.app) as alice:
        sign_in(alice, "alice")
        page = alice.get(page_url).text
        # Only the incident alice may change is offered; the one she only reads is not.
        assert f'<option value="{mine_id}">Phish wave' in page
        assert f'<option value="{theirs_id}"' not in page
        assert 'name="collection"' not in page  # no collection asked: the object is known
        bad = _post(alice, page_url, f"{page_url}/link", {"incident": str(theirs_id)})
        assert bad.status_code == 403 and "field-error" in bad.text
        nonsense = _post(alice, page_url, f"{page_url}/link", {"incident": "x"})
        assert nonsense.status_code == 400 and "choose an incident" in nonsense.text
        done = _post(alice, page_url, f"{page_url}/link", {"incident": str(mine_id), "note": "C2"})
        assert done.status_code == 303
        assert done.headers["location"] == f"{page_url}?notice=object_linked#incidents"
        after = alice.get(done.headers["location"]).text
        assert "was linked to the incident" in after
        assert f'href="/incidents/{mine_id}">Phish wave</a>' in after
        assert f'<option value="{mine_id}"' not in after  # linked once; the form is gone
        assert "198.51.100.20" in alice.get(f"/incidents/{mine_id}").text
    with hub.session() as s:
        rows = s.execute(select(ObjectLink.incident_id, ObjectLink.collection_id)).all()
    assert rows == [(mine_id, world.collection_id)]


def test_reshare_is_offered_for_amber_to_clients_only(hub: Hub, world: World) -> None:
    amber = f.indicator(tlp=TLP.AMBER, value="198.51.100.30")
    green = f.indicator(tlp=TLP.GREEN, value="198.51.100.31")
    _share(hub, world, "bob", amber, green)
    with hub.session() as s:
        f.org(s, "Kunde", "NO")
        f.user(s, "kari", "Kunde")
        orgs.add_client(session=s, provider="Fjordnett", client="Kunde")
        s.commit()
    with TestClient(hub.app) as kari:
        sign_in(kari, "kari")
        assert kari.get(f"/objects/{amber['id']}").status_code == 404
    with TestClient(hub.app) as alice:
        sign_in(alice, "alice")
        assert "/reshare" not in alice.get(f"/objects/{green['id']}").text
        url = f"/objects/{amber['id']}"
        assert "<option>Kunde</option>" in alice.get(url).text
        done = _post(alice, url, f"{url}/reshare", {"client": "Kunde"})
        assert done.status_code == 303 and "object_reshared" in done.headers["location"]
        wrong = _post(alice, url, f"{url}/reshare", {"client": "Svea"})
        assert wrong.status_code == 403 and "not a registered client" in wrong.text
    with TestClient(hub.app) as kari:
        sign_in(kari, "kari")
        assert "198.51.100.30" in kari.get(f"/objects/{amber['id']}").text


def test_revoke_is_the_producers_and_shares_a_revoked_version(hub: Hub, world: World) -> None:
    obj = f.indicator(tlp=TLP.GREEN, value="198.51.100.40")
    _share(hub, world, "bob", obj)
    url = f"/objects/{obj['id']}"
    with TestClient(hub.app) as alice:
        sign_in(alice, "alice")
        assert "/revoke" not in alice.get(url).text
        refused = _post(alice, url, f"{url}/revoke", {})
        assert refused.status_code == 403
    with TestClient(hub.app) as bob:
        sign_in(bob, "bob")
        assert f'action="{url}/revoke"' in bob.get(url).text
        done = _post(bob, url, f"{url}/revoke", {})
        assert done.status_code == 303 and "object_revoked" in done.headers["location"]
        after = bob.get(url).text
        assert "revoked</strong>" in after and f'action="{url}/revoke"' not in after
        assert "Versions (2)" in after
    with hub.session() as s:
        raws = s.execute(
            select(StixObject.raw).where(StixObject.stix_id == obj["id"], StixObject.is_latest)
        ).scalars()
        latest = json.loads(next(iter(raws)))
    assert latest["revoked"] is True and latest["modified"] > obj["modified"]


def test_export_is_the_object_or_it_with_its_readable_neighbours(hub: Hub, world: World) -> None:
    seen = f.indicator(tlp=TLP.GREEN, value="203.0.113.50")
    red = f.indicator(tlp=TLP.RED, value="203.0.113.51", recipients=["Svea"])
    other = f.indicator(tlp=TLP.GREEN, value="203.0.113.52")
    rels = [_rel(seen["id"], red["id"], "related-to"), _rel(seen["id"], other["id"], "related-to")]
    _share(hub, world, "bob", seen, red, other, *rels)
    with TestClient(hub.app) as alice:
        sign_in(alice, "alice")
        one = alice.get(f"/objects/{seen['id']}/bundle")
        assert one.headers["content-type"].startswith("application/stix+json")
        assert "attachment" in one.headers["content-disposition"]
        assert [o["id"] for o in one.json()["objects"]] == [seen["id"]]
        many = alice.get(f"/objects/{seen['id']}/bundle?related=yes").json()
        got = {o["id"] for o in many["objects"]}
        assert got == {seen["id"], other["id"], *(r["id"] for r in rels)}
        assert red["id"] not in got
        assert alice.get(f"/objects/{red['id']}/bundle").status_code == 404
        page = alice.get(f"/objects/{seen['id']}").text
        norsk = alice.get(f"/objects/{seen['id']}", headers={"Accept-Language": "nb"}).text
    assert "et objekt du ikke kan se" in norsk and red["id"] not in norsk
    # The relationship to the RED object is readable; its other end is not named.
    assert "an object you cannot see" in page and red["id"] not in page
    assert re.search(r"related-to this object|This object related-to", page)


def test_the_producer_may_share_its_object_into_another_collection(hub: Hub, world: World) -> None:
    with hub.session() as s:
        f.community(s, "Fjord", ["Fjordnett"])
        extra = f.collection(s, "Fjord feed", "Fjord", default_tlp="amber", alias="fjord")
        s.commit()
        extra_id = extra.id
    mine = f.indicator(tlp=TLP.AMBER, value="198.51.100.60")
    theirs = f.indicator(tlp=TLP.GREEN, value="198.51.100.61")
    _share(hub, world, "alice", mine)
    _share(hub, world, "bob", theirs)
    with TestClient(hub.app) as alice:
        sign_in(alice, "alice")
        # bob's object: alice may write the Fjord collection, but only bob may share it again.
        assert "/copy" not in alice.get(f"/objects/{theirs['id']}").text
        url = f"/objects/{theirs['id']}"
        refused = _post(alice, url, f"{url}/copy", {"collection": extra_id})
        assert refused.status_code == 403
        url = f"/objects/{mine['id']}"
        page = alice.get(url).text
        assert f'<option value="{extra_id}">Fjord feed</option>' in page
        assert f'<option value="{world.collection_id}"' not in page  # it is already there
        done = _post(alice, url, f"{url}/copy", {"collection": extra_id})
        assert done.status_code == 303 and "object_copied" in done.headers["location"]
        after = alice.get(url).text
        assert "Fjord feed" in after and "/copy" not in after  # no collection left to offer
    with hub.session() as s:
        held = set(
            s.execute(
                select(StixObject.collection_id).where(StixObject.stix_id == mine["id"])
            ).scalars()
        )
    assert held == {world.collection_id, extra_id}
