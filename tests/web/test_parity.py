"""What a user sees in the browser is what the API returns to them: same policy, same rows."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, sign_in
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.tlp import TLP

_ROW = re.compile(r'<tr data-stix-id="([^"]+)">')
_NEXT = re.compile(r'href="(/objects\?[^"]*next=[^"]+)" rel="next"')


def _web_ids(client: TestClient, query: dict[str, str]) -> list[str]:
    ids: list[str] = []
    url: str | None = "/objects?" + urlencode(query)
    while url:
        page = client.get(url.replace("&amp;", "&"))
        assert page.status_code == 200
        ids += _ROW.findall(page.text)
        found = _NEXT.search(page.text)
        url = found.group(1) if found else None
    return ids


def _api_ids(client: TestClient, token: str, query: dict[str, str]) -> list[str]:
    ids: list[str] = []
    params = {**query, "limit": "37"}
    while True:
        body = client.get(
            "/api/v1/objects", params=params, headers={"Authorization": f"Bearer {token}"}
        ).json()
        ids += [o["id"] for o in body["objects"]]
        if not body["more"]:
            return ids
        params["next"] = body["next"]


def test_object_list_and_home_counts_equal_the_api(hub: Hub, world: World) -> None:
    with hub.session() as s:
        f.community(s, "Atlantic", ["Svea", "Outsider"])
        other = f.collection(s, "Atlantic feed", "Atlantic", default_tlp="green")
        nordic = sharing.get_collection(session=s, collection_id=world.collection_id)
        levels = [TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT, TLP.RED]
        objs = [
            f.indicator(
                tlp=levels[i % 5],
                value=f"198.51.100.{i}",
                recipients=["Svea"] if i % 5 == 4 else None,
            )
            for i in range(60)
        ]
        ingesting.ingest(
            session=s, collection=nordic, principal=f.principal(s, "alice"), body=f.envelope(*objs)
        )
        ingesting.ingest(
            session=s,
            collection=other,
            principal=f.principal(s, "carol"),
            body=f.envelope(
                *[
                    f.indicator(
                        value=f"203.0.113.{i}", tlp=levels[i % 5], recipients=["user:alice"]
                    )
                    for i in range(12)
                ]
            ),
        )
        s.commit()
    queries = [
        {},
        {"tlp": "red"},
        {"tlp": "amber", "country": "NO", "q": "198.51.100.1"},
        {"producer": "Outsider", "community": "Atlantic"},
        {"collection": world.collection_id, "type": "indicator", "added_after": "2000-01-01"},
    ]
    seen = {}
    for user in ("alice", "bob", "carol"):
        with TestClient(hub.app) as browser, TestClient(hub.app) as api:
            sign_in(browser, user)
            for query in queries:
                web = _web_ids(browser, query)
                assert web == _api_ids(api, world.tokens[user], query), (user, query)
            seen[user] = len(_web_ids(browser, {}))
            home = browser.get("/").text
            total = int(
                re.search(r'id="total-visible">([\d,]+)<', home)
                .group(1)  # type: ignore[union-attr]
                .replace(",", "")
            )
            recent = int(
                re.search(r'id="total-recent">([\d,]+)<', home)
                .group(1)  # type: ignore[union-attr]
                .replace(",", "")
            )
            assert total == recent == seen[user]
            for level in levels:
                shown = re.search(
                    rf'data-tlp="{re.escape(level.value)}">.*?<a [^>]*>(\d+)</a>', home
                )
                assert shown, level
                assert int(shown.group(1)) == len(
                    _api_ids(api, world.tokens[user], {"tlp": level.value})
                ), (user, level)
    # The policy really differs between them, so the equalities above say something.
    # Her own, Atlantic's CLEAR, and the RED and AMBER+STRICT named to her.
    assert seen["alice"] == 60 + 3 + 2 + 2
    assert seen["bob"] > seen["carol"] > 0 and len(set(seen.values())) == 3


_HIT = re.compile(r'data-stix-id="([^"]+)"')
_INCIDENT = re.compile(r'data-incident-id="(\d+)"')
_PERSON = re.compile(r'data-person-id="(\d+)"')
_COUNT = re.compile(r'id="h-(objects|incidents|people)">[^<]*<span class="count">([^<]+)<')


def test_search_and_lookup_equal_the_api(hub: Hub, world: World) -> None:
    """The search page and the look-up page show each reader what the API returns them."""
    from datetime import date

    from tests.web.conftest import csrf_of
    from varsel.clearances import service as register
    from varsel.incidents import service as incidents

    with hub.session() as s:
        f.community(s, "Atlantic", ["Svea", "Outsider"])
        other = f.collection(s, "Atlantic feed", "Atlantic", default_tlp="green")
        nordic = sharing.get_collection(session=s, collection_id=world.collection_id)
        levels = [TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT, TLP.RED]
        ingesting.ingest(
            session=s,
            collection=nordic,
            principal=f.principal(s, "alice"),
            body=f.envelope(
                *[
                    f.indicator(
                        tlp=levels[i % 5],
                        value=f"198.51.100.{i}",
                        recipients=["Svea"] if i % 5 == 4 else None,
                        description=f"Skagerrak campaign wave {i % 3}",
                    )
                    for i in range(30)
                ]
            ),
        )
        ingesting.ingest(
            session=s,
            collection=other,
            principal=f.principal(s, "carol"),
            body=f.envelope(
                *[
                    f.indicator(
                        value=f"203.0.113.{i}",
                        tlp=levels[i % 5],
                        description="Skagerrak relay",
                        recipients=["user:alice"],
                    )
                    for i in range(10)
                ],
                f.indicator(value="198.51.100.0/28", tlp=TLP.GREEN, name="Skagerrak block"),
            ),
        )
        incidents.create(
            session=s, principal=f.principal(s, "bob"), title="Skagerrak outage", tlp="red"
        )
        person = register.add_person(
            session=s,
            principal=f.principal(s, "bob"),
            name="Skagerrak Svensson",
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
    queries = ["skagerrak", "skagerrak wave", "campaign wa", "198.51.100.3", "203.0.113.4 relay"]
    pasted = "Seen: 198.51.100.1, 198[.]51[.]100[.]2, 203.0.113.3, 198.51.100.9/32 and 10.9.9.9"
    seen: dict[str, int] = {}
    for user in ("alice", "bob", "carol"):
        auth = {"Authorization": f"Bearer {world.tokens[user]}"}
        with TestClient(hub.app) as browser, TestClient(hub.app) as api:
            sign_in(browser, user)
            for q in queries:
                page = browser.get("/search", params={"q": q}).text
                body = api.get("/api/v1/search", params={"q": q}, headers=auth).json()
                assert _HIT.findall(page) == [o["id"] for o in body["objects"]["items"]], (user, q)
                assert _INCIDENT.findall(page) == [
                    str(i["id"]) for i in body["incidents"]["items"]
                ], (user, q)
                counts = dict(_COUNT.findall(page))
                assert counts["objects"] == str(body["objects"]["count"])
                assert counts["incidents"] == str(body["incidents"]["count"])
                assert ("people" in counts) == ("people" in body)
                if "people" in body:
                    assert _PERSON.findall(page) == [str(p["id"]) for p in body["people"]["items"]]
                    assert counts["people"] == str(body["people"]["count"])
                seen[f"{user}:{q}"] = body["objects"]["count"]
            token = csrf_of(browser.get("/lookup").text)
            page = browser.post("/lookup", data={"text": pasted, "csrf": token}).text
            body = api.post("/api/v1/lookup", json={"text": pasted}, headers=auth).json()
            web_known = re.findall(r'<tr data-value="([^"]+)">(.*?)</tr>', page, re.S)
            assert [v for v, _ in web_known] == [v["value"] for v in body["values"] if v["known"]]
            for (value, cell), entry in zip(
                web_known, [v for v in body["values"] if v["known"]], strict=True
            ):
                assert _HIT.findall(cell) == [k["id"] for k in entry["known"]], (user, value)
    # The readers really see different things, so the equalities above say something.
    assert seen["alice:skagerrak"] != seen["carol:skagerrak"]
    assert seen["bob:skagerrak"] != seen["carol:skagerrak"]
