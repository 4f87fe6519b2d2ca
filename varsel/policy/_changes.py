"""The administrative half of the policy: who may change who a principal is or who reads what.

Reads are narrowed by :func:`varsel.policy.restrict`; a change of identity or of reach — users,
roles, account state, tokens, communities, memberships, collections — is decided here, by one
rule per kind of change (:data:`_RULES`), before the change is written. Handlers hold no
authorisation of their own: they call :mod:`varsel.orgs.flows`, which asks :func:`authorize`,
writes, and re-checks the result where a rule could be sidestepped by the write itself. The
table is documented in ``docs/access-policy.md`` ("Administration"); keep the two in step.

Separation of duties (the design the rules encode):

* hub-admins administer the hub — organisations, communities, collections — and, inside
  another organisation, may only create its *first* org-admin and disable an account (which
  narrows access); they never add people to, promote people in, or re-enable people of an
  organisation that has people of its own;
* organisations administer their own people (their org-admins);
* a token is made by its owner only; admins revoke tokens but never mint one for someone else;
* adding an organisation to a community that has members widens who reads the community's
  material, so it is a *request* that an org-admin of another member organisation must approve
  (a second party, neither the requester's organisation nor the one added);
* whether a community is listed (seen by every user) or unlisted (seen by its members only) is
  decided by those it exposes — an org-admin of a member organisation — or a hub-admin;
* where an organisation's MISP events land is decided by that organisation's org-admins or a
  hub-admin (the organisation must be able to write there: :mod:`varsel.misp.service` checks it
  with :func:`varsel.policy.restrict`); how MISP's sharing groups and distribution levels map
  to the hub's readers decides reach for every organisation, so it is the hub-admins';
* a read-only token changes nothing; the local operator (the hub's command line) may make
  every change, since it holds the database already.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from varsel.errors import Forbidden
from varsel.orgs.models import CommunityMember, Role, TokenScope, User
from varsel.policy.principal import Principal


class Change(StrEnum):
    """A kind of administrative change."""

    ORG_CREATE = "org.create"
    USER_CREATE = "user.create"
    USER_ROLE = "user.role"
    USER_DISABLE = "user.disable"
    USER_ENABLE = "user.enable"
    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    COMMUNITY_CREATE = "community.create"
    COMMUNITY_VISIBILITY = "community.visibility"
    MEMBER_ADD = "community.member.add"
    MEMBER_REQUEST = "community.member.request"
    MEMBER_APPROVE = "community.member.approve"
    MEMBER_REMOVE = "community.member.remove"
    COLLECTION_CREATE = "collection.create"
    MISP_COLLECTION = "misp.collection"
    """Where an organisation's events added through MISP's API land (docs/misp.md)."""
    MISP_MAPPING = "misp.mapping"
    """MISP sharing groups ⇄ hub organisations, and the distribution ceilings."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a change is about; each rule reads the fields that matter to it."""

    org_id: int | None = None
    """The organisation the change happens in (the user's, the member's)."""
    user_id: int | None = None
    """The account changed, or the owner of the token."""
    role: Role | None = None
    """The role given (user.create, user.role)."""
    current_role: Role | None = None
    """The account's role before the change (user.role)."""
    community_id: int | None = None
    requested_by_org_id: int | None = None
    """The organisation of whoever asked for a membership (member.approve)."""
    requested_by_user_id: int | None = None


Rule = Callable[[Session, Principal, Target], str | None]


def _is_admin(principal: Principal) -> bool:
    return principal.role in (Role.ORG_ADMIN, Role.HUB_ADMIN)


def _hub_admin_only(session: Session, principal: Principal, target: Target) -> str | None:
    if principal.role is Role.HUB_ADMIN:
        return None
    return "only a hub-admin may do this"


def _grant(principal: Principal, role: Role | None) -> str | None:
    if role is Role.HUB_ADMIN and principal.role is not Role.HUB_ADMIN:
        return "only a hub-admin may give or take the role hub-admin"
    return None


def _org_has_users(session: Session, org_id: int | None) -> bool:
    return bool(session.execute(select(exists().where(User.org_id == org_id))).scalar())


def _user_create(session: Session, principal: Principal, target: Target) -> str | None:
    if not _is_admin(principal):
        return "only org-admins add users"
    if target.org_id == principal.org_id:
        return _grant(principal, target.role)
    if principal.role is not Role.HUB_ADMIN:
        return "an org-admin adds users to their own organisation only"
    if target.role is not Role.ORG_ADMIN:
        return (
            "in another organisation a hub-admin creates only its first org-admin; "
            "that organisation's org-admins add everyone else"
        )
    if _org_has_users(session, target.org_id):
        return (
            "this organisation already has people; its own org-admins add users "
            "(a hub-admin creates only the first org-admin)"
        )
    return None


def _own_org_admin(principal: Principal, target: Target) -> str | None:
    if not _is_admin(principal):
        return "only org-admins change accounts"
    if target.org_id != principal.org_id:
        return "organisations administer their own people; this account is another's"
    return None


def _user_role(session: Session, principal: Principal, target: Target) -> str | None:
    return (
        _own_org_admin(principal, target)
        or _grant(principal, target.current_role)
        or _grant(principal, target.role)
    )


def _user_disable(session: Session, principal: Principal, target: Target) -> str | None:
    if target.user_id == principal.user_id:
        return "you cannot disable your own account"
    # Disabling only narrows access, so a hub-admin may do it anywhere (an emergency stop).
    if principal.role is Role.HUB_ADMIN:
        return _grant(principal, target.current_role)
    return _own_org_admin(principal, target) or _grant(principal, target.current_role)


def _user_enable(session: Session, principal: Principal, target: Target) -> str | None:
    return _own_org_admin(principal, target) or _grant(principal, target.current_role)


def _token_create(session: Session, principal: Principal, target: Target) -> str | None:
    if target.user_id != principal.user_id:
        return "a token is made by its owner only; administrators may revoke, never mint"
    return None


def _token_revoke(session: Session, principal: Principal, target: Target) -> str | None:
    if target.user_id == principal.user_id or principal.role is Role.HUB_ADMIN:
        return None
    if principal.role is Role.ORG_ADMIN and target.org_id == principal.org_id:
        return None
    return "you may revoke your own tokens, or your organisation's as its org-admin"


def _is_member(session: Session, community_id: int | None, org_id: int | None) -> bool:
    return bool(
        session.execute(
            select(
                exists().where(
                    CommunityMember.community_id == community_id,
                    CommunityMember.org_id == org_id,
                )
            )
        ).scalar()
    )


def _has_members(session: Session, community_id: int | None) -> bool:
    return bool(
        session.execute(
            select(exists().where(CommunityMember.community_id == community_id))
        ).scalar()
    )


def _member_add(session: Session, principal: Principal, target: Target) -> str | None:
    # Only a community nobody reads yet may be filled without a second party.
    if principal.role is Role.HUB_ADMIN and not _has_members(session, target.community_id):
        return None
    return "adding a member widens who reads the community's material: request it instead"


def _member_request(session: Session, principal: Principal, target: Target) -> str | None:
    if principal.role is Role.HUB_ADMIN:
        return None
    if principal.role is Role.ORG_ADMIN and _is_member(
        session, target.community_id, principal.org_id
    ):
        return None
    return "only a hub-admin or an org-admin of a member organisation may propose a member"


def _member_approve(session: Session, principal: Principal, target: Target) -> str | None:
    if not _is_admin(principal) or not _is_member(session, target.community_id, principal.org_id):
        return "only an org-admin of a member organisation may approve a new member"
    if principal.org_id == target.org_id:
        return "an organisation cannot approve its own admission"
    if (
        principal.org_id == target.requested_by_org_id
        or principal.user_id == target.requested_by_user_id
    ):
        return "a second party must approve: not the requester's organisation"
    return None


def _member_remove(session: Session, principal: Principal, target: Target) -> str | None:
    # Removing narrows access: a hub-admin may, and an organisation may leave.
    if principal.role is Role.HUB_ADMIN:
        return None
    if principal.role is Role.ORG_ADMIN and target.org_id == principal.org_id:
        return None
    return "only a hub-admin removes members (or an organisation's org-admin, to leave)"


def _community_visibility(session: Session, principal: Principal, target: Target) -> str | None:
    # Listing a community shows who belongs to it; the members are the ones exposed, so any
    # of their org-admins may decide (and the hub-admins who administer communities).
    if principal.role is Role.HUB_ADMIN:
        return None
    if principal.role is Role.ORG_ADMIN and _is_member(
        session, target.community_id, principal.org_id
    ):
        return None
    return "only a hub-admin or an org-admin of a member organisation may change its visibility"


def _misp_collection(session: Session, principal: Principal, target: Target) -> str | None:
    if principal.role is Role.HUB_ADMIN:
        return None
    if principal.role is Role.ORG_ADMIN and target.org_id == principal.org_id:
        return None
    return "only a hub-admin or the organisation's own org-admin sets where its MISP events land"


# One rule per kind of change; a change missing from this table is refused.
_RULES: dict[Change, Rule] = {
    Change.ORG_CREATE: _hub_admin_only,
    Change.USER_CREATE: _user_create,
    Change.USER_ROLE: _user_role,
    Change.USER_DISABLE: _user_disable,
    Change.USER_ENABLE: _user_enable,
    Change.TOKEN_CREATE: _token_create,
    Change.TOKEN_REVOKE: _token_revoke,
    Change.COMMUNITY_CREATE: _hub_admin_only,
    Change.COMMUNITY_VISIBILITY: _community_visibility,
    Change.MEMBER_ADD: _member_add,
    Change.MEMBER_REQUEST: _member_request,
    Change.MEMBER_APPROVE: _member_approve,
    Change.MEMBER_REMOVE: _member_remove,
    Change.COLLECTION_CREATE: _hub_admin_only,
    Change.MISP_COLLECTION: _misp_collection,
    Change.MISP_MAPPING: _hub_admin_only,
}


def refusal(
    *, session: Session, principal: Principal | None, change: Change, target: Target
) -> str | None:
    """Return why ``principal`` may not make ``change`` to ``target``, or None if it may."""
    if principal is None:
        return "authentication is required"
    if principal.scope is TokenScope.READ:
        return "a read-only token changes nothing"
    if principal.operator:
        return None
    rule = _RULES.get(change)
    if rule is None:
        return "this change is not allowed"
    return rule(session, principal, target)


def authorize(
    *, session: Session, principal: Principal | None, change: Change, target: Target
) -> None:
    """Raise Forbidden, with the reason, unless ``principal`` may make ``change``."""
    reason = refusal(session=session, principal=principal, change=change, target=target)
    if reason is not None:
        raise Forbidden(reason)
