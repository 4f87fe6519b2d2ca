"""Property: no endpoint returns an object the policy forbids, and each permitted one is returned.

Hypothesis builds random organisations, users and roles, communities, collections with rights
and default TLPs, objects (some with two versions) under random markings and recipient lists
(always for TLP:RED, sometimes for TLP:AMBER+STRICT), client relations and AMBER re-shares; one
organisation may be of kind ``hub`` (a peer hub, which reads AMBER+STRICT and RED only where
named). An oracle written here from the rules in
docs/access-policy.md — not from the SQL in varsel.policy — says what each user may read; the
TAXII, REST and fetch paths must return exactly that. Then a membership is removed and the
check repeats, since membership changes take effect at once. Communities are listed or unlisted
at random: TAXII reaches an unlisted community's collection only for its members and hub-admins
(404 for everyone else), while the REST listing keeps showing what rules 1-5 allow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub, _empty
from tests.factories import TAXII
from varsel.orgs import service as orgs
from varsel.sharing import browse
from varsel.sharing import ingest as ingesting
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP

ROLES = ["analyst", "org-admin", "hub-admin"]
LEVELS = [None, *list(TLP)]


@st.composite
def worlds(draw: st.DrawFn) -> dict:  # type: ignore[type-arg]
    n_orgs = draw(st.integers(2, 5))
    users = [(f"u{i}", i, draw(st.sampled_from(ROLES))) for i in range(n_orgs)]
    # A second user in org 0 makes user-addressed TLP:RED differ from org-addressed.
    users.append((f"u{n_orgs}", 0, draw(st.sampled_from(ROLES))))
    n_comm = draw(st.integers(1, 3))
    communities = [
        sorted(draw(st.sets(st.integers(0, n_orgs - 1), min_size=1))) for _ in range(n_comm)
    ]
    listed = [draw(st.booleans()) for _ in range(n_comm)]
    clients = sorted(
        draw(st.sets(st.tuples(st.integers(0, n_orgs - 1), st.integers(0, n_orgs - 1)), max_size=4))
    )
    clients = [(p, c) for p, c in clients if p != c]
    n_coll = draw(st.integers(1, 3))
    collections = [
        {
            "community": draw(st.integers(0, n_comm - 1)),
            "default": draw(st.sampled_from(list(TLP))),
            "read_roles": sorted(draw(st.sets(st.sampled_from(ROLES), min_size=1))),
        }
        for _ in range(n_coll)
    ]
    objects = []
    for _ in range(draw(st.integers(1, 10))):
        versions = []
        for _v in range(draw(st.integers(1, 2))):
            level = draw(st.sampled_from(LEVELS))
            recipients = []
            # None: the default may be RED, so it names some. AMBER+STRICT may name none.
            if level in (TLP.RED, None, TLP.AMBER_STRICT):
                recipients = sorted(
                    draw(
                        st.sets(
                            st.one_of(
                                st.integers(0, n_orgs - 1).map(lambda i: f"org:O{i}"),
                                st.integers(0, len(users) - 1).map(lambda i: f"user:u{i}"),
                            ),
                            min_size=0 if level is TLP.AMBER_STRICT else 1,
                            max_size=3,
                        )
                    )
                )
            versions.append((level, recipients))
        objects.append(
            {
                "collection": draw(st.integers(0, n_coll - 1)),
                "producer": draw(st.integers(0, len(users) - 1)),
                "versions": versions,
            }
        )
    reshares = draw(
        st.lists(
            st.tuples(
                st.integers(0, 20), st.integers(0, len(users) - 1), st.integers(0, n_orgs - 1)
            ),
            max_size=4,
        )
    )
    removal = draw(st.integers(0, 50))
    return {
        "n_orgs": n_orgs,
        "hub_org": draw(st.one_of(st.none(), st.integers(0, n_orgs - 1))),
        "users": users,
        "communities": communities,
        "listed": listed,
        "clients": clients,
        "collections": collections,
        "objects": objects,
        "reshares": reshares,
        "removal": removal,
    }


@dataclass
class Facts:
    """What the oracle knows: memberships, rights and every stored object version."""

    user_org: dict[str, int] = field(default_factory=dict)
    hub_orgs: set[int] = field(default_factory=set)  # organisations of kind hub
    user_role: dict[str, str] = field(default_factory=dict)
    members: dict[int, set[int]] = field(default_factory=dict)  # community -> orgs
    listed: set[int] = field(default_factory=set)  # listed communities
    clients: set[tuple[int, int]] = field(default_factory=set)  # (provider, client)
    coll_community: dict[str, int] = field(default_factory=dict)
    coll_read_roles: dict[str, set[str]] = field(default_factory=dict)
    # pk -> (collection, stix_id, version, tlp, producer org, recipient orgs, recipient users)
    rows: dict[int, tuple[str, str, str, str, int, set[int], set[str]]] = field(
        default_factory=dict
    )
    reshares: set[tuple[int, int, int]] = field(default_factory=set)  # (pk, from, to)
    latest: set[int] = field(default_factory=set)


def may_read(facts: Facts, username: str, pk: int) -> bool:
    """The access policy, restated from docs/access-policy.md."""
    coll, _sid, _v, tlp, producer, r_orgs, r_users = facts.rows[pk]
    org = facts.user_org[username]
    community = facts.coll_community[coll]
    member = org in facts.members[community]
    if producer == org or tlp == "clear":
        return True
    named = org in r_orgs or username in r_users
    community_levels = {"green", "amber"}
    # AMBER+STRICT naming recipients is theirs alone; a peer hub reads it only where named.
    if not r_orgs and not r_users and org not in facts.hub_orgs:
        community_levels.add("amber+strict")
    if (
        tlp in community_levels
        and member
        and facts.user_role[username] in facts.coll_read_roles[coll]
    ):
        return True
    if tlp == "amber" and any(
        p == pk and to == org and src in facts.members[community] and (src, org) in facts.clients
        for p, src, to in facts.reshares
    ):
        return True
    return tlp in {"red", "amber+strict"} and named


def may_see_collection(facts: Facts, username: str, coll: str) -> bool:
    """Need-to-know: an unlisted community's collection is its members' and hub-admins' only."""
    community = facts.coll_community[coll]
    return (
        facts.user_role[username] == "hub-admin"
        or community in facts.listed
        or facts.user_org[username] in facts.members[community]
    )


def may_read_version(facts: Facts, username: str, pk: int) -> bool:
    """Withdrawn is withdrawn: an older version only while the latest of its object is readable.

    Every object here has one producer, so its series is its (collection, id).
    """
    coll, sid, *_ = facts.rows[pk]
    latest = next(p for p in facts.latest if facts.rows[p][:2] == (coll, sid))
    return may_read(facts, username, pk) and may_read(facts, username, latest)


def _build(hub: Hub, plan: dict) -> tuple[Facts, list[str], dict[str, str]]:  # type: ignore[type-arg]
    facts = Facts()
    coll_ids: list[str] = []
    tokens: dict[str, str] = {}
    with hub.session() as s:
        for i in range(plan["n_orgs"]):
            kind = "hub" if i == plan["hub_org"] else "company"
            f.org(s, f"O{i}", ["NO", "SE", "DK", "FI", "US"][i], kind=kind)
            if kind == "hub":
                facts.hub_orgs.add(i)
        for name, org_index, role in plan["users"]:
            f.user(s, name, f"O{org_index}", role=role, password=None)
            tokens[name] = f.token(s, name)
            facts.user_org[name] = org_index
            facts.user_role[name] = role
        for c, members in enumerate(plan["communities"]):
            listed = plan["listed"][c]
            f.community(s, f"C{c}", [f"O{m}" for m in members], "listed" if listed else "unlisted")
            facts.members[c] = set(members)
            if listed:
                facts.listed.add(c)
        for provider, client in plan["clients"]:
            orgs.add_client(session=s, provider=f"O{provider}", client=f"O{client}")
            facts.clients.add((provider, client))
        for k, spec in enumerate(plan["collections"]):
            coll = f.collection(
                s,
                f"K{k}",
                f"C{spec['community']}",
                spec["default"].value,
                read_roles=spec["read_roles"],
            )
            coll_ids.append(coll.id)
            facts.coll_community[coll.id] = spec["community"]
            facts.coll_read_roles[coll.id] = set(spec["read_roles"])
        s.commit()
        org_ids = {f"O{i}": orgs.get_org(session=s, name=f"O{i}").id for i in range(plan["n_orgs"])}
        org_index = {v: int(k[1:]) for k, v in org_ids.items()}
        for n, spec in enumerate(plan["objects"]):
            coll_id = coll_ids[spec["collection"]]
            username = plan["users"][spec["producer"]][0]
            producer = f.principal(s, username)
            if producer.org_id not in {
                org_ids[f"O{m}"] for m in facts.members[facts.coll_community[coll_id]]
            }:
                continue  # a non-member cannot write; test_policy.py covers the refusal
            oid = f"indicator--00000000-0000-4000-8000-{n:012d}"
            for v, (level, recipients) in enumerate(spec["versions"]):
                ts = f"2026-0{v + 1}-01T00:00:00.000Z"
                obj = f.indicator(oid=oid, tlp=level, modified=ts, recipients=recipients or None)
                collection = s.get(Collection, coll_id)
                result = ingesting.ingest(
                    session=s, collection=collection, principal=producer, body=f.envelope(obj)
                )
                s.commit()
                assert not result.failures, result.failures
        for pk, coll, sid, version, tlp, producer_id, latest in s.execute(
            select(
                StixObject.id,
                StixObject.collection_id,
                StixObject.stix_id,
                StixObject.version,
                StixObject.tlp,
                StixObject.producer_org_id,
                StixObject.is_latest,
            )
        ):
            raw = json.loads(
                s.execute(select(StixObject.raw).where(StixObject.id == pk)).scalar_one()
            )
            names = raw.get("x_varsel_recipients", []) if tlp in {"red", "amber+strict"} else []
            r_orgs = {int(n[5:]) for n in names if n.startswith("org:O")}
            r_users = {n[5:] for n in names if n.startswith("user:")}
            facts.rows[pk] = (coll, sid, version, tlp, org_index[producer_id], r_orgs, r_users)
            if latest:
                facts.latest.add(pk)
        pks = sorted(facts.rows)
        for obj_index, user_index, client in plan["reshares"]:
            if not pks:
                break
            pk = pks[obj_index % len(pks)]
            coll, sid, *_ = facts.rows[pk]
            username = plan["users"][user_index][0]
            try:
                browse.reshare(
                    session=s,
                    principal=f.principal(s, username),
                    collection_id=coll,
                    stix_id=sid,
                    client=f"O{client}",
                )
                s.commit()
            except Exception as exc:  # noqa: BLE001 - refusals are expected and checked below
                s.rollback()
                assert type(exc).__name__ in {"Forbidden", "NotFound"}, exc
                continue
            for other, (c2, s2, _v, tlp, *_r) in facts.rows.items():
                if (c2, s2) == (coll, sid) and tlp == "amber" and may_read(facts, username, other):
                    facts.reshares.add((other, facts.user_org[username], client))
    return facts, coll_ids, tokens


def _check(client: TestClient, facts: Facts, coll_ids: list[str], tokens: dict[str, str]) -> None:
    key_of = {pk: (row[0], row[1], row[2]) for pk, row in facts.rows.items()}
    for username, token in tokens.items():
        auth = {"Authorization": f"Bearer {token}"}
        # TAXII reads objects through their collection: one the user may not see is 404.
        allowed = {
            key_of[pk]
            for pk in facts.rows
            if may_read_version(facts, username, pk)
            and may_see_collection(facts, username, facts.rows[pk][0])
        }
        got: set[tuple[str, str, str]] = set()
        for coll in coll_ids:
            response = client.get(
                f"/taxii2/hub/collections/{coll}/objects/",
                params={"match[version]": "all", "limit": 1000},
                headers={**auth, "Accept": TAXII},
            )
            if not may_see_collection(facts, username, coll):
                assert response.status_code == 404, response.text
                continue
            assert response.status_code == 200, response.text
            got |= {(coll, o["id"], o["modified"]) for o in response.json().get("objects", [])}
        assert got == allowed, f"TAXII for {username}"
        # REST reads objects directly: TLP:CLEAR stays readable whatever the community's listing.
        allowed_latest = {key_of[pk][:2] for pk in facts.latest if may_read(facts, username, pk)}
        response = client.get("/api/v1/objects", params={"limit": 1000}, headers=auth)
        assert response.status_code == 200, response.text
        rest = {(o["collection"], o["id"]) for o in response.json()["objects"]}
        assert rest == allowed_latest, f"REST for {username}"


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(plan=worlds())
def test_every_endpoint_returns_exactly_what_the_policy_allows(hub: Hub, plan: dict) -> None:  # type: ignore[type-arg]
    _empty(hub.engine)
    facts, coll_ids, tokens = _build(hub, plan)
    with TestClient(hub.app) as client:
        _check(client, facts, coll_ids, tokens)
        # Membership changes take effect on the next request.
        communities = [c for c, m in facts.members.items() if m]
        community = communities[plan["removal"] % len(communities)]
        member = sorted(facts.members[community])[plan["removal"] % len(facts.members[community])]
        with hub.session() as s:
            orgs.remove_member(session=s, community=f"C{community}", org=f"O{member}")
            s.commit()
        facts.members[community].discard(member)
        _check(client, facts, coll_ids, tokens)
