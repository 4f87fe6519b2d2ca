"""Property: every administrative change is made exactly when the rules allow it, and no change
ever widens what its own author may read (issue 12, items 2 and 3).

Hypothesis builds organisations (one possibly without people), users of every role, a community
with a collection holding a GREEN object, and an empty community; then a sequence of attempted
changes by random users through the web pages and the REST API: create users, change roles,
disable and enable accounts, mint and revoke tokens, add members and approve requests, list or
unlist a community (toggling its visibility). An oracle
written here from the table in docs/access-policy.md ("Administration") — not from
varsel.policy — says whether each attempt may take effect; the database must agree after every
attempt, and the author's readable objects must never grow.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests import factories as f
from tests.conftest import Hub, _empty
from tests.web.conftest import csrf_of, post_form
from varsel.orgs import service as orgs
from varsel.orgs.models import ApiToken, Community, CommunityMember, MembershipRequest, User
from varsel.policy import Action, restrict
from varsel.policy.principal import principal_of
from varsel.sharing import ingest
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP

ROLES = ["analyst", "org-admin", "hub-admin"]
KINDS = [
    "user.create",
    "user.role",
    "user.disable",
    "user.enable",
    "token.create",
    "token.revoke",
    "member.add",
    "member.approve",
    "community.visibility",
]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n_orgs = draw(st.integers(2, 4))
    empty_org = draw(st.booleans())
    peopled = n_orgs - 1 if empty_org else n_orgs
    users = [(f"u{i}", i, draw(st.sampled_from(ROLES))) for i in range(peopled)]
    users += [
        (f"u{len(users) + k}", draw(st.integers(0, peopled - 1)), draw(st.sampled_from(ROLES)))
        for k in range(draw(st.integers(0, 2)))
    ]
    members = sorted(draw(st.sets(st.integers(0, peopled - 1), min_size=1)))
    attempts = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(users) - 1),
                st.sampled_from(KINDS),
                st.integers(0, 10),
                st.sampled_from(ROLES),
            ),
            min_size=1,
            max_size=5,
        )
    )
    return {"n_orgs": n_orgs, "users": users, "members": members, "attempts": attempts}


@dataclass
class Facts:
    """What the oracle knows, refreshed from the database after every attempt."""

    org: dict[str, int] = field(default_factory=dict)
    role: dict[str, str] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    members: dict[str, set[int]] = field(default_factory=dict)  # community -> org indexes
    # pending request id -> (community, org index, requester username or None)
    pending: dict[int, tuple[str, int, str | None]] = field(default_factory=dict)
    community_names: dict[int, str] = field(default_factory=dict)  # id -> name
    visibility: dict[str, str] = field(default_factory=dict)  # community -> listed/unlisted
    revoked_tokens: set[int] = field(default_factory=set)


def oracle(facts: Facts, actor: str, kind: str, args: dict[str, Any]) -> str:
    """The administration table of docs/access-policy.md, restated: yes, no or request."""
    if actor in facts.disabled:
        return "no"
    org, role = facts.org[actor], facts.role[actor]
    admin = role in ("org-admin", "hub-admin")
    hub = role == "hub-admin"
    if kind == "user.create":
        if not admin:
            return "no"
        if args["org"] == org:
            return "yes" if hub or args["role"] != "hub-admin" else "no"
        empty = args["org"] not in facts.org.values()
        return "yes" if hub and args["role"] == "org-admin" and empty else "no"
    target = args.get("user")
    if kind in ("user.role", "user.enable"):
        mine = admin and facts.org[target] == org
        grants = hub or ("hub-admin" not in (facts.role[target], args.get("role")))
        return "yes" if mine and grants else "no"
    if kind == "user.disable":
        if target == actor or not admin:
            return "no"
        if hub:
            return "yes"
        return "yes" if facts.org[target] == org and facts.role[target] != "hub-admin" else "no"
    if kind == "token.create":
        return "yes" if target == actor else "no"
    if kind == "token.revoke":
        own_org_admin = role == "org-admin" and facts.org[target] == org
        return "yes" if target == actor or hub or own_org_admin else "no"
    if kind == "member.add":
        community, new = args["community"], args["org"]
        if not admin or new in facts.members[community]:
            return "no"
        if hub and not facts.members[community]:
            return "yes"
        return "request" if hub or org in facts.members[community] else "no"
    if kind == "member.approve":
        community, new, requester = facts.pending[args["request"]]
        second = org != new and actor != requester
        second = second and (requester is None or facts.org[requester] != org)
        return "yes" if admin and org in facts.members[community] and second else "no"
    if kind == "community.visibility":
        # Those a listing exposes decide it: a member's org-admin, or a hub-admin.
        return "yes" if hub or (admin and org in facts.members[args["community"]]) else "no"
    raise AssertionError(kind)


def _refresh(hub: Hub, facts: Facts, org_index: dict[int, int]) -> None:
    with hub.session() as s:
        facts.org.clear()
        facts.role.clear()
        facts.disabled.clear()
        for name, org_id, role, disabled in s.execute(
            select(User.username, User.org_id, User.role, User.disabled_at)
        ):
            facts.org[name] = org_index[org_id]
            facts.role[name] = role
            if disabled is not None:
                facts.disabled.add(name)
        for community in facts.members:
            facts.members[community] = set()
        for community_id, org_id in s.execute(
            select(CommunityMember.community_id, CommunityMember.org_id)
        ):
            facts.members[facts.community_names[community_id]].add(org_index[org_id])
        facts.visibility = {
            facts.community_names[i]: v
            for i, v in s.execute(select(Community.id, Community.visibility))
        }
        facts.pending.clear()
        for row in s.execute(
            select(MembershipRequest).where(MembershipRequest.decided_at.is_(None))
        ).scalars():
            requester = s.get(User, row.requested_by_user_id) if row.requested_by_user_id else None
            facts.pending[row.id] = (
                facts.community_names[row.community_id],
                org_index[row.org_id],
                requester.username if requester else None,
            )
        facts.revoked_tokens = set(
            s.execute(select(ApiToken.id).where(ApiToken.revoked_at.is_not(None))).scalars()
        )


def _readable(hub: Hub, username: str) -> set[int]:
    with hub.session() as s:
        user = orgs.find_user(session=s, username=username)
        assert user is not None
        principal = principal_of(user)
        return set(
            s.execute(restrict(select(StixObject.id), principal, Action.READ)).scalars().all()
        )


def _basic(username: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{f.PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def _attempt(
    hub: Hub, client: TestClient, actor: str, kind: str, args: dict[str, Any], n: int
) -> None:
    """Make the attempt through the interface a user would use; refusals are not errors."""
    page = client.get("/login")
    signed = client.post(
        "/login",
        data={"username": actor, "password": f.PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    if signed.status_code != 303:
        return  # a disabled account cannot even sign in
    if kind == "user.create":
        post_form(
            client,
            "/admin/tokens",
            "/admin/users",
            {
                "username": f"new{n}",
                "org": f"O{args['org']}",
                "role": args["role"],
                "password": f.PASSWORD,
            },
        )
    elif kind == "user.role":
        post_form(
            client,
            "/admin/tokens",
            "/admin/users/role",
            {"username": args["user"], "role": args["role"]},
        )
    elif kind in ("user.disable", "user.enable"):
        post_form(
            client,
            "/admin/tokens",
            "/admin/users/state",
            {"username": args["user"], "op": kind.split(".")[1]},
        )
    elif kind == "token.create":
        post_form(client, "/admin/tokens", "/admin/tokens", {"username": args["user"]})
    elif kind == "token.revoke":
        client.post(f"/api/v1/tokens/{args['token']}/revoke", headers=_basic(actor))
    elif kind == "member.add":
        post_form(
            client,
            "/admin/tokens",
            "/admin/communities/members",
            {"community": args["community"], "org": f"O{args['org']}", "op": "add"},
        )
    elif kind == "member.approve":
        post_form(
            client,
            "/admin/tokens",
            "/admin/communities/requests",
            {"request_id": args["request"], "op": "approve"},
        )
    elif kind == "community.visibility":
        post_form(
            client,
            "/admin/tokens",
            "/admin/communities/visibility",
            {"community": args["community"], "visibility": args["visibility"]},
        )
    client.post("/logout", data={"csrf": csrf_of(client.get("/admin/tokens").text)})


def _state(hub: Hub, kind: str, args: dict[str, Any], n: int) -> Any:
    with hub.session() as s:
        if kind == "user.create":
            return orgs.find_user(session=s, username=f"new{n}") is not None
        if kind == "user.role":
            return s.execute(select(User.role).where(User.username == args["user"])).scalar()
        if kind in ("user.disable", "user.enable"):
            return s.execute(select(User.disabled_at).where(User.username == args["user"])).scalar()
        if kind == "token.create":
            return s.execute(
                select(func.count(ApiToken.id))
                .join(User, User.id == ApiToken.user_id)
                .where(User.username == args["user"])
            ).scalar()
        if kind == "token.revoke":
            return s.get(ApiToken, args["token"]).revoked_at  # type: ignore[union-attr]
        if kind == "member.add":
            members = s.execute(select(func.count()).select_from(CommunityMember)).scalar()
            pending = s.execute(
                select(func.count(MembershipRequest.id)).where(
                    MembershipRequest.decided_at.is_(None)
                )
            ).scalar()
            return members, pending
        if kind == "member.approve":
            return s.get(MembershipRequest, args["request"]).decided_at  # type: ignore[union-attr]
        if kind == "community.visibility":
            return s.execute(
                select(Community.visibility).where(Community.name == args["community"])
            ).scalar()
    raise AssertionError(kind)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=scenarios())
def test_administrative_changes_follow_the_rules_and_never_widen_their_author(
    hub: Hub, plan: dict[str, Any]
) -> None:
    _empty(hub.engine)
    facts = Facts(members={"C0": set(), "C1": set()})
    tokens: dict[str, int] = {}
    with hub.session() as s:
        ids = [f.org(s, f"O{i}", ["NO", "SE", "DK", "FI"][i]) for i in range(plan["n_orgs"])]
        org_index = {org_id: i for i, org_id in enumerate(ids)}
        for name, org, role in plan["users"]:
            f.user(s, name, f"O{org}", role=role)
            tokens[name] = orgs.create_token(session=s, username=name)[0].id
        facts.community_names[f.community(s, "C0", [f"O{m}" for m in plan["members"]])] = "C0"
        facts.community_names[f.community(s, "C1", [])] = "C1"
        coll = f.collection(s, "K0", "C0", "green")
        producer = plan["users"][plan["members"][0]][0]
        result = ingest.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, producer),
            body=f.envelope(f.indicator(tlp=TLP.GREEN)),
        )
        assert not result.failures
        s.commit()
    _refresh(hub, facts, org_index)
    with TestClient(hub.app) as client:
        for n, (actor_index, kind, pick, role) in enumerate(plan["attempts"]):
            actor = plan["users"][actor_index][0]
            names = sorted(facts.org)
            target = names[pick % len(names)]
            args: dict[str, Any] = {
                "user": target,
                "role": role,
                "org": pick % plan["n_orgs"],
                "community": "C0" if pick % 2 else "C1",
                "token": tokens.get(target, 0),
            }
            # A visibility change always asks for the other one, so that it can be observed.
            current = facts.visibility["C0" if pick % 2 else "C1"]
            args["visibility"] = "unlisted" if current == "listed" else "listed"
            if kind == "token.revoke" and target not in tokens:
                continue  # a user made during the run has no token to revoke
            if kind == "member.approve":
                if not facts.pending:
                    continue
                args["request"] = sorted(facts.pending)[pick % len(facts.pending)]
            if _no_effect_possible(facts, kind, args):
                continue  # nothing would change either way: nothing to observe
            expected = oracle(facts, actor, kind, args)
            before_state = _state(hub, kind, args, n)
            before_reads = _readable(hub, actor)
            _attempt(hub, client, actor, kind, args, n)
            changed = _state(hub, kind, args, n) != before_state
            assert changed == (expected != "no"), (actor, kind, args, expected, facts)
            assert _readable(hub, actor) <= before_reads, (actor, kind, args)
            _refresh(hub, facts, org_index)


def _no_effect_possible(facts: Facts, kind: str, args: dict[str, Any]) -> bool:
    """Return whether the attempt would leave the state as it is even if it were allowed."""
    target = args["user"]
    if kind == "user.role":
        return args["role"] == facts.role[target]
    if kind == "user.disable":
        return target in facts.disabled
    if kind == "user.enable":
        return target not in facts.disabled
    if kind == "token.revoke":
        return args["token"] in facts.revoked_tokens
    if kind == "member.add":
        return any(
            c == args["community"] and o == args["org"] for c, o, _r in facts.pending.values()
        )
    return False
