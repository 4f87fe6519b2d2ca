"""The header search and the observable look-up: found through the policy, never past it."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, csrf_of, sign_in
from varsel.clearances import service as register
from varsel.incidents import service as incidents
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.tlp import TLP

_OBJECT = re.compile(r'data-stix-id="([^"]+)"')


def _seed(hub: Hub, world: World) -> dict[str, str]:
    """Share objects at several levels; return their ids by role."""
    with hub.session() as s:
        coll = sharing.get_collection(session=s, collection_id=world.collection_id)
        f.community(s, "Secret club", ["Svea"])  # unlisted, alice and carol are outside
        club = f.collection(s, "Club feed", "Secret club", default_tlp="green")
        objs = {
            "amber": f.indicator(
                tlp=TLP.AMBER,
                value="198.51.100.23",
                name="Fjordphish gateway",
                description="Phishing kit relay seen in Tromsø",
            ),
            "red_to_svea": f.indicator(
                tlp=TLP.RED,
                value="198.51.100.99",
                recipients=["Svea"],
                name="Fjordphish operator",
                description="Redacted source",
            ),
            "block": f.indicator(
                tlp=TLP.GREEN,
                value="203.0.113.0/24",
                name="Fjordphish hosting range",
            ),
            "domain": {
                **f.indicator(tlp=TLP.CLEAR, name="Fjordphish landing domain"),
                "pattern": "[domain-name:value = 'login-fjord.example']",
            },
        }
        ingesting.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, "alice"),
            body=f.envelope(*objs.values()),
        )
        club_obj = f.indicator(tlp=TLP.GREEN, value="192.0.2.66", name="Fjordphish club note")
        ingesting.ingest(
            session=s,
            collection=club,
            principal=f.principal(s, "bob"),
            body=f.envelope(club_obj),
        )
        incidents.create(
            session=s,
            principal=f.principal(s, "alice"),
            title="Fjordphish wave",
            summary="Phishing against Nordic banks",
            tlp="amber",
        )
        person = register.add_person(
            session=s,
            principal=f.principal(s, "bob"),
            name="Sven Fjordphish",
            nationality="SE",
            employer="Svea",
        )
        register.add_clearance(
            session=s,
            principal=f.principal(s, "bob"),
            person=person,
            country="SE",
            level="HEMLIG",
            authority="FMV",
            valid_from=date(2026, 1, 1),
            valid_until=date(2036, 1, 1),
        )
        s.commit()
    ids = {k: str(v["id"]) for k, v in objs.items()}
    ids["club"] = str(club_obj["id"])
    return ids


def test_search_groups_by_kind_and_respects_the_policy(hub: Hub, world: World) -> None:
    ids = _seed(hub, world)
    with TestClient(hub.app) as alice, TestClient(hub.app) as bob, TestClient(hub.app) as carol:
        sign_in(alice, "alice")
        sign_in(bob, "bob")
        sign_in(carol, "carol")
        page = alice.get("/search", params={"q": "fjordphish"})
        assert page.status_code == 200
        found = set(_OBJECT.findall(page.text))
        # Her own objects, and nothing of the unlisted club nor the RED addressed to Svea...
        # except that she produced the RED one: producers read their own.
        assert {ids["amber"], ids["block"], ids["domain"], ids["red_to_svea"]} == found
        assert "Fjordphish wave" in page.text
        assert 'id="results-people"' not in page.text  # analysts have no register
        assert "Fjordphish club note" not in page.text
        # Bob (Svea, org-admin): the RED one is addressed to Svea, the club is his; and his
        # register holds Sven.
        page = bob.get("/search", params={"q": "Fjordphish"})
        assert set(_OBJECT.findall(page.text)) == set(ids.values())
        assert "Sven Fjordphish" in page.text and "HEMLIG" in page.text
        # Carol is in no community: CLEAR only; not the incident, not its count, not the club.
        page = carol.get("/search", params={"q": "fjordphish"})
        assert set(_OBJECT.findall(page.text)) == {ids["domain"]}
        for secret in (
            "Fjordphish wave",
            "Fjordphish club note",
            ids["club"],
            ids["amber"],
            "Sven Fjordphish",  # (the footer offers "Svenska")
            "Fjordphish operator",
            "Secret club",
        ):
            assert secret not in page.text
        assert re.search(r'id="h-objects">[^<]*<span class="count">1<', page.text)
        assert re.search(r'id="h-incidents">[^<]*<span class="count">0<', page.text)


def test_search_finds_values_words_prefixes_and_ids(hub: Hub, world: World) -> None:
    ids = _seed(hub, world)
    with TestClient(hub.app) as alice:
        sign_in(alice, "alice")

        def found(q: str) -> set[str]:
            page = alice.get("/search", params={"q": q})
            assert page.status_code == 200
            return set(_OBJECT.findall(page.text))

        assert found("198.51.100.23") == {ids["amber"]}
        assert found("hxxps://login-fjord[.]example") == set()  # a URL, not the domain
        assert found("login-fjord[.]example") == {ids["domain"]}
        assert found("tromsø") == {ids["amber"]}
        assert found("phishing kit") == {ids["amber"]}
        assert found("fjordphish gate") == {ids["amber"]}  # the last word as a prefix
        assert found("fjordphish gatewayz") == set()
        assert found(ids["block"]) == {ids["block"]}
        assert alice.get("/search", params={"q": "x" * 501}).status_code == 400


def test_header_has_a_search_box_that_works_without_script(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as alice:
        sign_in(alice, "alice")
        home = alice.get("/").text
        assert re.search(r'<form method="get" action="/search"[^>]*role="search"', home)
        assert 'name="q"' in home


def _lookup(client: TestClient, text: str) -> str:
    token = csrf_of(client.get("/lookup").text)
    page = client.post("/lookup", data={"text": text, "csrf": token})
    assert page.status_code == 200, page.text
    return page.text


def test_lookup_shows_what_each_reader_may_know(hub: Hub, world: World) -> None:
    ids = _seed(hub, world)
    pasted = (
        "Seen: 198[.]51[.]100[.]23, 198.51.100.99 and 203.0.113.200; also "
        "login-fjord[.]example, 192.0.2.66 and nothing-known.example."
    )
    with TestClient(hub.app) as alice, TestClient(hub.app) as carol:
        sign_in(alice, "alice")
        sign_in(carol, "carol")
        page = _lookup(alice, pasted)
        known = re.search(r'id="lookup-known".*?</section>', page, re.S)
        unknown = re.search(r'id="lookup-unknown".*?</section>', page, re.S)
        assert known and unknown
        assert set(_OBJECT.findall(known.group())) == {
            ids["amber"],
            ids["red_to_svea"],
            ids["block"],
            ids["domain"],
        }
        # An address inside a shared block is found through the block.
        assert re.search(r'data-value="203.0.113.200".*?via 203.0.113.0/24', known.group(), re.S)
        assert "as written: 198[.]51[.]100[.]23" in known.group()
        for value in ("192.0.2.66", "nothing-known.example"):
            assert f'data-value="{value}"' in unknown.group()
        page = _lookup(carol, pasted)
        assert set(_OBJECT.findall(page)) == {ids["domain"]}
        assert "Fjordphish gateway" not in page and ids["amber"] not in page


def test_lookup_refuses_oversized_text_beside_the_field(hub: Hub, world: World) -> None:
    with TestClient(hub.app) as alice:
        sign_in(alice, "alice")
        token = csrf_of(alice.get("/lookup").text)
        text = " ".join(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(5001))
        page = alice.post("/lookup", data={"text": text, "csrf": token})
        assert page.status_code == 413
        assert 'id="lookup-error"' in page.text and "at most 5000" in page.text


def test_api_search_and_lookup(hub: Hub, world: World) -> None:
    ids = _seed(hub, world)
    with TestClient(hub.app) as api:
        auth = {"Authorization": f"Bearer {world.tokens['carol']}"}
        body = api.get("/api/v1/search", params={"q": "fjordphish"}, headers=auth).json()
        assert [o["id"] for o in body["objects"]["items"]] == [ids["domain"]]
        assert body["incidents"] == {"count": 0, "items": []}
        assert "people" not in body
        text = "login-fjord[.]example 198.51.100.23"
        plain = api.post(
            "/api/v1/lookup", content=text, headers={**auth, "Content-Type": "text/plain"}
        ).json()
        as_json = api.post("/api/v1/lookup", json={"text": text}, headers=auth).json()
        assert plain == as_json
        assert [(v["value"], [k["id"] for k in v["known"]]) for v in plain["values"]] == [
            ("login-fjord.example", [ids["domain"]]),
            ("198.51.100.23", []),
        ]
        bad = api.post("/api/v1/lookup", json={"txt": 1}, headers=auth)
        assert bad.status_code == 400
        assert bad.headers["content-type"].startswith("application/problem+json")
