"""No page ever renders the id or type of an object the reader may not see (issue 15).

A world of hidden objects — TLP:RED for another organisation, TLP:AMBER+STRICT for another
organisation, TLP:AMBER in another community's collection — that readable objects reference
(relationships, ``created_by_ref``, ``object_refs``, ``sighting_of_ref``, an id in a
description) and that an incident the reader takes part in links. The reader then crawls every
page it can reach from the home page, following links (so pages others add later are covered
as long as something links to them), and no page may contain a hidden id, its UUID, or — on
object pages — the hidden object's type.

STIX bundles (downloads, ``application/stix+json``) are exempt: they carry objects as their
producers shared them, as TAXII does; the object page's export says so (docs/web.md).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import sign_in
from varsel.incidents import flows as incident_flows
from varsel.incidents import service as incidents
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.tlp import TLP

MAX_PAGES = 600
_HREF = re.compile(r'(?:href|action)="([^"]+)"')
# Never followed: signing out ends the crawl's session; static files hold no data.
_SKIP = ("/logout", "/static/")
_BUNDLES = ("application/stix+json", "application/taxii+json")
# Pages that may name what their reader cannot read, and why. The audit log is the hub-admin's
# tamper-evident record of what was done to which object (THREAT_MODEL.md); redacting it would
# defeat it, and reading it is the hub-admin's office, not a read of intelligence.
EXEMPT = {"/admin/audit": "the audit log records object ids for the hub-admin"}
GREEN = TLP.GREEN
CREATED = "2026-02-01T00:00:00.000Z"


def _sdo(kind: str, tlp: TLP, **props: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": f.stix_id(kind),
        "created": CREATED,
        "modified": CREATED,
        "object_marking_refs": [tlp.stix_id],
        **props,
    }


@dataclass
class Unseen:
    """The hidden objects, the readable ones that point at them, and an incident."""

    hidden: dict[str, dict[str, Any]]
    readable: dict[str, dict[str, Any]]
    incident_id: int


def _world(hub: Hub) -> Unseen:
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.org(s, "Svea", "SE")
        f.org(s, "Outsider", "US", kind="international-partner")
        f.user(s, "alice", "Fjordnett")
        f.user(s, "bob", "Svea")
        f.user(s, "carol", "Outsider")
        f.user(s, "root", "Fjordnett", role="hub-admin")
        f.community(s, "Nordic", ["Fjordnett", "Svea"])
        f.community(s, "Backroom", ["Svea"])
        nordic = f.collection(s, "Indicators", "Nordic", default_tlp="amber", alias="indicators")
        back = f.collection(s, "Backroom feed", "Backroom", default_tlp="amber", alias="back")
        s.commit()
        bob = f.principal(s, "bob")
        red = f.indicator(tlp=TLP.RED, value="192.0.2.66", recipients=["Svea"])
        strict = _sdo(
            "intrusion-set",
            TLP.AMBER_STRICT,
            name="Quiet Lynx",
            x_varsel_recipients=["Svea"],
        )
        elsewhere = f.indicator(tlp=TLP.AMBER, value="192.0.2.77")
        author = _sdo("identity", TLP.AMBER, name="Svea backroom team", identity_class="group")
        seen = f.indicator(tlp=GREEN, value="203.0.113.7", created_by_ref=author["id"])
        rels = [
            _sdo(
                "relationship",
                GREEN,
                relationship_type="indicates",
                source_ref=seen["id"],
                target_ref=strict["id"],
            ),
            _sdo(
                "relationship",
                GREEN,
                relationship_type="related-to",
                source_ref=red["id"],
                target_ref=seen["id"],
            ),
            _sdo(
                "relationship",
                TLP.CLEAR,
                relationship_type="related-to",
                source_ref=seen["id"],
                target_ref=elsewhere["id"],
            ),
        ]
        report = _sdo(
            "report",
            TLP.CLEAR,
            name="Weekly round-up",
            published=CREATED,
            report_types=["threat-report"],
            description=f"See also {elsewhere['id']} and {red['id']}.",
            object_refs=[seen["id"], red["id"], strict["id"], elsewhere["id"], rels[0]["id"]],
            created_by_ref=author["id"],
        )
        sighting = _sdo(
            "sighting",
            GREEN,
            sighting_of_ref=red["id"],
            where_sighted_refs=[author["id"]],
            count=3,
        )
        sharing.register_identity(session=s, org="Svea", identity_id=author["id"])
        coll_n = sharing.get_collection(session=s, collection_id=nordic.id)
        coll_b = sharing.get_collection(session=s, collection_id=back.id)
        for coll, objs in (
            (coll_n, [red, strict, seen, *rels, report, sighting]),
            (coll_b, [elsewhere, author]),
        ):
            result = ingesting.ingest(
                session=s, collection=coll, principal=bob, body=f.envelope(*objs)
            )
            assert not result.failures, [x.message for x in result.failures]
        incident = incidents.create(session=s, principal=bob, title="Lynx in the fjord")
        incidents.add_participant(
            session=s, principal=bob, incident_id=incident.id, role="responder", org="Fjordnett"
        )
        for obj, coll in ((red, nordic), (strict, nordic), (elsewhere, back), (seen, nordic)):
            incident_flows.link_object(
                session=s,
                principal=bob,
                incident_id=incident.id,
                stix_id=obj["id"],
                collection_id=coll.id,
            )
        s.commit()
        return Unseen(
            hidden={o["id"]: o for o in (red, strict, elsewhere, author)},
            readable={o["id"]: o for o in (seen, report, sighting, *rels)},
            incident_id=incident.id,
        )


def crawl(client: TestClient, start: tuple[str, ...] = ("/",)) -> dict[str, str]:
    """Return {path: body} of every page reachable from ``start`` by GET, within the hub."""
    queue: deque[str] = deque(start)
    seen: set[str] = set(start)
    pages: dict[str, str] = {}
    while queue and len(pages) < MAX_PAGES:
        path = queue.popleft()
        response = client.get(path, follow_redirects=True)
        kind = response.headers.get("content-type", "")
        if any(kind.startswith(b) for b in _BUNDLES):
            continue
        pages[path] = response.text
        if not kind.startswith("text/html"):
            continue
        for raw in _HREF.findall(response.text):
            target = urljoin(path, raw.replace("&amp;", "&"))
            parts = urlsplit(target)
            if parts.netloc or parts.scheme or not parts.path.startswith("/"):
                continue
            link = parts.path + (f"?{parts.query}" if parts.query else "")
            if link in seen or any(link.startswith(s) for s in _SKIP):
                continue
            seen.add(link)
            queue.append(link)
    return pages


def _leaks(pages: dict[str, str], hidden: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    for path, body in pages.items():
        if path.split("?")[0] in EXEMPT:
            continue
        for stix_id, obj in hidden.items():
            uuid = stix_id.split("--", 1)[1]
            if uuid in body:
                found.append(f"{path} shows {stix_id}")
            if path.startswith("/objects/") and obj["type"] == "intrusion-set":
                # No readable intrusion set exists, so the type's name would be the leak.
                if re.search(r"intrusion.set", body, re.IGNORECASE):
                    found.append(f"{path} names the type of {stix_id}")
    return found


@pytest.mark.parametrize("reader", ["alice", "carol", "root"])
def test_no_page_shows_an_object_the_reader_may_not_see(hub: Hub, reader: str) -> None:
    world = _world(hub)
    report = next(i for i, o in world.readable.items() if o["type"] == "report")
    indicator = next(i for i, o in world.readable.items() if o["type"] == "indicator")
    with TestClient(hub.app) as client:
        sign_in(client, reader)
        pages = crawl(
            client,
            (
                "/",
                "/objects",
                "/incidents",
                f"/incidents/{world.incident_id}",
                "/exports",
                "/admin",
            ),
        )
    assert not _leaks(pages, world.hidden)
    # The crawl reached the pages that reference hidden objects, so the test tests something.
    assert f"/objects/{report}" in pages
    assert "an object you cannot see" in pages[f"/objects/{report}"]
    assert "Weekly round-up" in pages[f"/objects/{report}"]
    if reader == "alice":
        assert f"/objects/{indicator}" in pages
        page = pages[f"/objects/{indicator}"]
        assert "Indicator: 203.0.113.7" in page
        assert page.count("an object you cannot see") >= 3  # graph, list, created_by_ref
        assert "Lynx in the fjord" in page  # the incident, linked from the object page
        assert len(pages) > 20
    elif reader == "carol":
        assert f"/objects/{indicator}" not in pages
    else:  # a hub-admin administers the hub and reads only what its organisation may
        assert "/admin/users" in pages and "/admin/audit" in pages


def test_the_producer_sees_the_names_the_others_may_not(hub: Hub) -> None:
    world = _world(hub)
    report = next(i for i, o in world.readable.items() if o["type"] == "report")
    with TestClient(hub.app) as bob:
        sign_in(bob, "bob")
        page = bob.get(f"/objects/{report}").text
    for stix_id in world.hidden:
        assert f'href="/objects/{stix_id}"' in page
    assert "Quiet Lynx" in page and "192.0.2.66" in page
    assert "an object you cannot see" not in page
