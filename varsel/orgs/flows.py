"""Administrative changes as the web pages, the REST API and the command line make them.

Each function resolves its target through :func:`varsel.policy.restrict` (so a caller cannot
even name what it may not see), asks :func:`varsel.policy.authorize` whether the caller may make
the change, makes it through the plain services, and where the write itself could carry the
result outside the rule, re-checks it (NetBox's restrict, write, re-check) — all inside the
caller's unit of work, which rolls back on any refusal. The command line calls these with
:func:`varsel.policy.principal.local_operator` as the principal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.errors import Forbidden, InvalidInput, NotFound
from varsel.orgs import service
from varsel.orgs.models import (
    ApiToken,
    Community,
    CommunityMember,
    MembershipRequest,
    Organisation,
    Role,
    TokenScope,
    User,
    Visibility,
)
from varsel.policy import Action, Change, Target, authorize, restrict
from varsel.policy.principal import Principal


def visible_user(*, session: Session, principal: Principal, username: str) -> User:
    """Return ``username`` if ``principal`` may see that account, else raise NotFound."""
    found = service.find_user(session=session, username=username)
    if found is not None:
        found = session.execute(
            restrict(select(User).where(User.id == found.id), principal, Action.READ)
        ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no user {username!r} that you may manage")
    return found


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {value!r}; expected one of {roles}") from None


def create_org(
    *,
    session: Session,
    principal: Principal,
    name: str,
    country: str,
    kind: str,
    sector: str | None = None,
    subsector: str | None = None,
) -> Organisation:
    """Create an organisation (hub-admins and the local operator)."""
    authorize(session=session, principal=principal, change=Change.ORG_CREATE, target=Target())
    return service.add_org(
        session=session,
        name=name,
        country=country,
        kind=kind,
        sector=sector,
        subsector=subsector,
        actor=principal.label,
    )


def create_user(
    *,
    session: Session,
    principal: Principal,
    username: str,
    org: str,
    role: str,
    password: str | None,
) -> User:
    """Create a user where the policy allows it (see ``varsel.policy._changes``)."""
    organisation = service.get_org(session=session, name=org)
    authorize(
        session=session,
        principal=principal,
        change=Change.USER_CREATE,
        target=Target(org_id=organisation.id, role=_role(role)),
    )
    return service.add_user(
        session=session,
        username=username,
        org=organisation.name,
        role=role,
        password=password,
        actor=principal.label,
    )


def change_role(*, session: Session, principal: Principal, username: str, role: str) -> User:
    """Change a user's role within what the caller may grant, in the caller's organisation."""
    user = visible_user(session=session, principal=principal, username=username)
    authorize(
        session=session,
        principal=principal,
        change=Change.USER_ROLE,
        target=Target(
            org_id=user.org_id, user_id=user.id, role=_role(role), current_role=Role(user.role)
        ),
    )
    return service.set_role(
        session=session, username=user.username, role=role, actor=principal.label
    )


def set_enabled(*, session: Session, principal: Principal, username: str, enabled: bool) -> User:
    """Disable (ending sessions and tokens) or re-enable an account."""
    user = visible_user(session=session, principal=principal, username=username)
    authorize(
        session=session,
        principal=principal,
        change=Change.USER_ENABLE if enabled else Change.USER_DISABLE,
        target=Target(org_id=user.org_id, user_id=user.id, current_role=Role(user.role)),
    )
    if enabled:
        service.enable_user(session=session, user=user, actor=principal.label)
    else:
        service.disable_user(session=session, user=user, actor=principal.label)
    return user


def create_token(
    *,
    session: Session,
    principal: Principal,
    name: str = "api",
    expires_at: datetime | None = None,
    scope: str = TokenScope.READ_WRITE.value,
    username: str | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token for the caller (or, for the local operator, for ``username``).

    A token made by a request that was itself authenticated with a token is that token's
    child: no longer-lived, no wider, and revoked with it.
    """
    owner = principal.username if username is None else username
    # An unknown name and someone else's name get the same refusal: no enumeration.
    found = service.find_user(session=session, username=owner)
    authorize(
        session=session,
        principal=principal,
        change=Change.TOKEN_CREATE,
        target=Target(user_id=found.id if found is not None else None),
    )
    row, secret = service.create_token(
        session=session,
        username=owner,
        name=name,
        expires_at=expires_at,
        scope=scope,
        parent_id=principal.token_id,
        actor=principal.label,
    )
    # Re-check: the token written belongs to the caller (or the operator chose its owner).
    if not principal.operator and row.user_id != principal.user_id:
        raise Forbidden("a token is made by its owner only")
    return row, secret


def revoke_token(*, session: Session, principal: Principal, token_id: int) -> ApiToken:
    """Revoke a token (and the tokens made with it) the caller may revoke."""
    found = session.execute(
        restrict(
            select(ApiToken, User.org_id)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.id == token_id),
            principal,
            Action.WRITE,
        )
    ).first()
    if found is None:
        raise NotFound(f"no token {token_id} that you may revoke")
    token, org_id = found
    authorize(
        session=session,
        principal=principal,
        change=Change.TOKEN_REVOKE,
        target=Target(user_id=token.user_id, org_id=org_id),
    )
    return service.revoke_token(session=session, token_id=token_id, actor=principal.label)


def visible_community(*, session: Session, principal: Principal, name: str) -> Community:
    """Return community ``name`` if ``principal`` may know it exists, else raise NotFound.

    An unlisted community is unknown to outsiders: they get the same answer as for a name
    nobody uses, so a refusal never confirms that it exists.
    """
    found = session.execute(
        restrict(select(Community).where(Community.name == name), principal, Action.READ)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no community called {name!r}")
    return found


def visible_communities(
    *, session: Session, principal: Principal
) -> list[tuple[Community, list[str]]]:
    """Return the communities ``principal`` may see, by name, with their member names."""
    rows = session.execute(
        restrict(select(Community), principal, Action.READ).order_by(Community.name)
    ).scalars()
    members: dict[int, list[str]] = {}
    pairs = session.execute(
        restrict(select(CommunityMember.community_id, Organisation.name), principal, Action.READ)
        .join(Organisation, Organisation.id == CommunityMember.org_id)
        .order_by(Organisation.name)
    )
    for community_id, org_name in pairs:
        members.setdefault(community_id, []).append(org_name)
    return [(row, members.get(row.id, [])) for row in rows]


def create_community(
    *,
    session: Session,
    principal: Principal,
    name: str,
    description: str = "",
    visibility: Visibility = Visibility.UNLISTED,
) -> Community:
    """Create an empty community, unlisted unless told (hub-admins and the local operator)."""
    authorize(session=session, principal=principal, change=Change.COMMUNITY_CREATE, target=Target())
    return service.add_community(
        session=session,
        name=name,
        members=[],
        description=description,
        visibility=visibility,
        actor=principal.label,
    )


def set_visibility(
    *, session: Session, principal: Principal, community: str, visibility: str
) -> Community:
    """Make ``community`` listed or unlisted (an org-admin of a member, or a hub-admin)."""
    wanted = service.parse_visibility(visibility)
    c = visible_community(session=session, principal=principal, name=community)
    authorize(
        session=session,
        principal=principal,
        change=Change.COMMUNITY_VISIBILITY,
        target=Target(community_id=c.id),
    )
    return service.set_visibility(
        session=session, community=c, visibility=wanted, actor=principal.label
    )


def add_member(
    *, session: Session, principal: Principal, community: str, org: str
) -> Literal["added", "requested"]:
    """Add ``org`` to ``community`` at once where nothing is widened, else request it.

    Returns "added" or "requested" (a request then waits for a second party's approval).
    """
    c = visible_community(session=session, principal=principal, name=community)
    o = service.get_org(session=session, name=org)
    target = Target(community_id=c.id, org_id=o.id)
    try:
        authorize(session=session, principal=principal, change=Change.MEMBER_ADD, target=target)
    except Forbidden:
        authorize(session=session, principal=principal, change=Change.MEMBER_REQUEST, target=target)
        service.request_member(session=session, community=c.name, org=o.name, by=principal)
        return "requested"
    service.add_member(session=session, community=c.name, org=o.name, actor=principal.label)
    return "added"


def approval_target(*, session: Session, request: MembershipRequest) -> Target:
    """Return what the policy needs to decide who may approve ``request``."""
    requester = (
        session.get(User, request.requested_by_user_id) if request.requested_by_user_id else None
    )
    return Target(
        community_id=request.community_id,
        org_id=request.org_id,
        requested_by_org_id=requester.org_id if requester is not None else None,
        requested_by_user_id=request.requested_by_user_id,
    )


def decide_member(
    *, session: Session, principal: Principal, request_id: int, approve: bool
) -> MembershipRequest:
    """Approve or refuse a pending membership request, as a second party of the community."""
    row = session.get(MembershipRequest, request_id)
    if row is None or row.decided_at is not None:
        raise NotFound(f"no pending membership request {request_id}")
    authorize(
        session=session,
        principal=principal,
        change=Change.MEMBER_APPROVE,
        target=approval_target(session=session, request=row),
    )
    return service.decide_request(
        session=session, request_id=request_id, approve=approve, by=principal
    )


def remove_member(*, session: Session, principal: Principal, community: str, org: str) -> None:
    """Remove ``org`` from ``community`` (narrows access: a hub-admin, or the org leaving)."""
    c = visible_community(session=session, principal=principal, name=community)
    o = service.get_org(session=session, name=org)
    authorize(
        session=session,
        principal=principal,
        change=Change.MEMBER_REMOVE,
        target=Target(community_id=c.id, org_id=o.id),
    )
    service.remove_member(session=session, community=c.name, org=o.name, actor=principal.label)
