"""Property: community metadata is need-to-know, on every path that lists or shows it.

Hypothesis builds organisations, users of every role, listed and unlisted communities with random
members (some with none), collections owned by them, and a TLP:CLEAR object in each collection a
member could share into. An oracle restating docs/access-policy.md ("Communities and collections
are need-to-know") — not the SQL in varsel.policy — says which communities and collections each
user may see: every listed one, the unlisted ones its organisation belongs to, all of them for a
hub-admin. TAXII (Get Collections, Get A Collection: 404 for the rest, the same answer as for an
id nobody uses), REST (`/api/v1/collections`) and the web pages (`/objects` pickers,
`/admin/communities` with its member lists) must show exactly that, and nothing of the rest may
appear on the pages at all; every TLP:CLEAR object stays readable by everyone through REST.
Then a membership is removed and a visibility changed, and the check repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories as f
from tests.conftest import Hub, _empty
from tests.factories import TAXII
from tests.web.conftest import sign_in
from varsel.orgs import flows
from varsel.policy.principal import local_operator
from varsel.sharing import ingest
from varsel.sharing.tlp import TLP

ROLES = ["analyst", "org-admin", "hub-admin"]
MISSING = "00000000-0000-4000-8000-000000000000"


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    n_orgs = draw(st.integers(2, 4))
    users = [(f"user{i}", i, draw(st.sampled_from(ROLES))) for i in range(n_orgs)]
    n_comm = draw(st.integers(1, 3))
    communities = [
        {
            "members": sorted(draw(st.sets(st.integers(0, n_orgs - 1), max_size=n_orgs))),
            "listed": draw(st.booleans()),
        }
        for _ in range(n_comm)
    ]
    collections = [draw(st.integers(0, n_comm - 1)) for _ in range(draw(st.integers(1, 4)))]
    return {
        "n_orgs": n_orgs,
        "users": users,
        "communities": communities,
        "collections": collections,
        "pick": draw(st.integers(0, 50)),
    }


@dataclass
class Facts:
    """What the oracle knows."""

    org: dict[str, int] = field(default_factory=dict)
    role: dict[str, str] = field(default_factory=dict)
    members: dict[int, set[int]] = field(default_factory=dict)
    listed: set[int] = field(default_factory=set)
    owner: dict[str, int] = field(default_factory=dict)  # collection id -> community
    clear: dict[str, str] = field(default_factory=dict)  # CLEAR object id -> collection id


def sees(facts: Facts, username: str, community: int) -> bool:
    """The rule, restated: listed, or a member, or a hub-admin."""
    return (
        facts.role[username] == "hub-admin"
        or community in facts.listed
        or facts.org[username] in facts.members[community]
    )


def _community(c: int) -> str:
    return f"Community-{c}-secret"


def _title(k: int) -> str:
    return f"Collection-{k}-secret"


def _org(i: int) -> str:
    return f"Organisation-{i}"


def _build(hub: Hub, plan: dict[str, Any]) -> tuple[Facts, dict[str, str], list[str]]:
    facts = Facts()
    tokens: dict[str, str] = {}
    coll_ids: list[str] = []
    with hub.session() as s:
        for i in range(plan["n_orgs"]):
            f.org(s, _org(i), ["NO", "SE", "DK", "FI"][i])
        for name, org, role in plan["users"]:
            f.user(s, name, _org(org), role=role)
            tokens[name] = f.token(s, name)
            facts.org[name], facts.role[name] = org, role
        for c, spec in enumerate(plan["communities"]):
            visibility = "listed" if spec["listed"] else "unlisted"
            f.community(s, _community(c), [_org(m) for m in spec["members"]], visibility)
            facts.members[c] = set(spec["members"])
            if spec["listed"]:
                facts.listed.add(c)
        for k, c in enumerate(plan["collections"]):
            coll = f.collection(s, _title(k), _community(c), "clear", description=f"about {k}")
            coll_ids.append(coll.id)
            facts.owner[coll.id] = c
            sharer = next((u for u, o, _r in plan["users"] if o in facts.members[c]), None)
            if sharer is None:
                continue  # nobody may share into a community without members
            obj = f.indicator(tlp=TLP.CLEAR, value=f"192.0.2.{k + 1}")
            result = ingest.ingest(
                session=s, collection=coll, principal=f.principal(s, sharer), body=f.envelope(obj)
            )
            assert not result.failures, result.failures
            facts.clear[obj["id"]] = coll.id
        s.commit()
    return facts, tokens, coll_ids


def _options(html: str, select_id: str) -> set[str]:
    match = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert match, select_id
    return set(re.findall(r'<option value="([^"]+)"', match.group(1)))


def _sections(html: str) -> dict[str, set[str]]:
    """Return each community section of /admin/communities with the member names it lists."""
    found = {}
    for name, body in re.findall(r'data-community="([^"]+)">(.*?)</section>', html, re.S):
        found[name] = set(re.findall(r"<tr><td>(Organisation-\d+)</td>", body))
    return found


def _check(client: TestClient, hub: Hub, facts: Facts, tokens: dict[str, str]) -> None:
    hidden_words = {_community(c) for c in facts.members} | {
        _title(k) for k in range(len(facts.owner))
    }
    titles = dict(enumerate(facts.owner))  # index -> collection id
    for username, token in tokens.items():
        auth = {"Authorization": f"Bearer {token}"}
        taxii = {**auth, "Accept": TAXII}
        visible = {c for c in facts.members if sees(facts, username, c)}
        colls = {cid for cid, c in facts.owner.items() if c in visible}
        visible_words = {_community(c) for c in visible} | {
            _title(k) for k, cid in titles.items() if cid in colls
        }

        listing = client.get("/taxii2/hub/collections/", headers=taxii)
        assert listing.status_code == 200, listing.text
        got = {c["id"] for c in listing.json().get("collections", [])}
        assert got == colls, f"TAXII Get Collections for {username}"
        nobody = client.get(f"/taxii2/hub/collections/{MISSING}/", headers=taxii)
        assert nobody.status_code == 404
        for cid in facts.owner:
            one = client.get(f"/taxii2/hub/collections/{cid}/", headers=taxii)
            objects = client.get(f"/taxii2/hub/collections/{cid}/objects/", headers=taxii)
            if cid in colls:
                assert (one.status_code, objects.status_code) == (200, 200), one.text
            else:
                # Indistinguishable from an id nobody uses: status, media type, title.
                for answer in (one, objects):
                    assert answer.status_code == 404, answer.text
                    assert answer.headers["content-type"] == nobody.headers["content-type"]
                    assert answer.json()["title"] == nobody.json()["title"]
                    assert answer.text.replace(cid, MISSING) == nobody.text

        rest = client.get("/api/v1/collections", headers=auth)
        assert rest.status_code == 200, rest.text
        assert {c["id"] for c in rest.json()} == colls, f"REST for {username}"
        # Objects keep their own rule: TLP:CLEAR is everyone's, listed or not.
        objects = client.get("/api/v1/objects", params={"limit": 1000}, headers=auth)
        assert {o["id"] for o in objects.json()["objects"]} == set(facts.clear)

        client.cookies.clear()
        sign_in(client, username)
        page = client.get("/objects")
        assert page.status_code == 200
        assert _options(page.text, "f-collection") == colls
        assert _options(page.text, "f-community") == {_community(c) for c in visible}
        pages = [page.text]
        if facts.role[username] != "analyst":
            admin = client.get("/admin/communities")
            assert admin.status_code == 200
            expected = {_community(c): {_org(m) for m in facts.members[c]} for c in visible}
            assert _sections(admin.text) == expected, f"/admin/communities for {username}"
            pages.append(admin.text)
        for text in pages:
            leaked = {w for w in hidden_words - visible_words if w in text}
            assert not leaked, f"{username} sees {leaked}"
        client.cookies.clear()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=worlds())
def test_every_path_shows_exactly_the_communities_the_rule_allows(
    hub: Hub, plan: dict[str, Any]
) -> None:
    _empty(hub.engine)
    facts, tokens, _colls = _build(hub, plan)
    with TestClient(hub.app) as client:
        _check(client, hub, facts, tokens)
        # Membership and visibility are read at query time: both take effect at once.
        c = plan["pick"] % len(facts.members)
        with hub.session() as s:
            operator = local_operator()
            if facts.members[c]:
                gone = sorted(facts.members[c])[plan["pick"] % len(facts.members[c])]
                flows.remove_member(
                    session=s, principal=operator, community=_community(c), org=_org(gone)
                )
                facts.members[c].discard(gone)
            listed = c in facts.listed
            flows.set_visibility(
                session=s,
                principal=operator,
                community=_community(c),
                visibility="unlisted" if listed else "listed",
            )
            s.commit()
        facts.listed ^= {c}
        _check(client, hub, facts, tokens)
