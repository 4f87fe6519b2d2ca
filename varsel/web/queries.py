"""Reads the pages need beyond the sharing services, each narrowed by the access policy."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from varsel.audit.models import AuditEvent
from varsel.orgs import flows
from varsel.orgs import service as orgs
from varsel.orgs.models import (
    ApiToken,
    Community,
    CommunityMember,
    MembershipRequest,
    Organisation,
    Role,
    User,
)
from varsel.policy import Action, Change, Target, refusal, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import Collection, StixObject


def organisations(*, session: Session, principal: Principal) -> list[Organisation]:
    """Return the organisations ``principal`` may see, by name."""
    return list(
        session.execute(
            restrict(select(Organisation), principal, Action.READ).order_by(Organisation.name)
        ).scalars()
    )


def countries(*, session: Session, principal: Principal) -> list[str]:
    """Return the countries of the organisations ``principal`` may see."""
    return sorted({org.country for org in organisations(session=session, principal=principal)})


@dataclass(frozen=True)
class CommunityView:
    """A community with its member organisations and collections."""

    community: Community
    members: list[Organisation]
    collections: list[Collection]


def communities(*, session: Session, principal: Principal) -> list[CommunityView]:
    """Return the communities ``principal`` may see, with their members and collections."""
    rows = list(
        session.execute(
            restrict(select(Community), principal, Action.READ).order_by(Community.name)
        ).scalars()
    )
    members: dict[int, list[Organisation]] = {row.id: [] for row in rows}
    pairs = session.execute(
        restrict(select(CommunityMember.community_id, Organisation), principal, Action.READ)
        .join(Organisation, Organisation.id == CommunityMember.org_id)
        .order_by(Organisation.name)
    )
    for community_id, org in pairs:
        members.setdefault(community_id, []).append(org)
    owned: dict[int, list[Collection]] = {row.id: [] for row in rows}
    for coll in session.execute(
        restrict(select(Collection), principal, Action.READ).order_by(Collection.title)
    ).scalars():
        owned.setdefault(coll.community_id, []).append(coll)
    return [CommunityView(row, members[row.id], owned[row.id]) for row in rows]


@dataclass(frozen=True)
class RequestView:
    """A pending membership request, with what the page shows and whether I may decide it."""

    request: MembershipRequest
    community: str
    org: str
    may_decide: bool


def membership_requests(
    *, session: Session, principal: Principal, views: list[CommunityView]
) -> list[RequestView]:
    """Return the pending membership requests of the communities ``principal`` may see."""
    names = {v.community.id: v.community.name for v in views}
    rows = orgs.pending_requests(session=session, community_ids=list(names))
    org_names = {o.id: o.name for o in organisations(session=session, principal=principal)}
    result = []
    for row in rows:
        reason = refusal(
            session=session,
            principal=principal,
            change=Change.MEMBER_APPROVE,
            target=flows.approval_target(session=session, request=row),
        )
        result.append(
            RequestView(
                row, names[row.community_id], org_names.get(row.org_id, "?"), reason is None
            )
        )
    return result


def community_names(*, session: Session, principal: Principal) -> dict[int, str]:
    """Return community names by id, as far as ``principal`` may see them."""
    return dict(
        session.execute(
            restrict(select(Community.id, Community.name), principal, Action.READ)
        ).all()
    )


def users(*, session: Session, principal: Principal) -> list[User]:
    """Return the users ``principal`` may see (own organisation for org-admins), by name."""
    return list(
        session.execute(
            restrict(select(User), principal, Action.READ).order_by(User.username)
        ).scalars()
    )


def grantable_roles(*, session: Session, principal: Principal) -> list[Role]:
    """Return the roles the users form offers: those the policy lets ``principal`` give."""
    return [
        role
        for role in Role
        if refusal(
            session=session,
            principal=principal,
            change=Change.USER_CREATE,
            target=Target(org_id=principal.org_id, role=role),
        )
        is None
    ]


@dataclass(frozen=True)
class TokenView:
    """An API token without its secret, with the username it belongs to."""

    token: ApiToken
    username: str


def tokens(*, session: Session, principal: Principal) -> list[TokenView]:
    """Return the API tokens ``principal`` may see, newest first."""
    rows = session.execute(
        restrict(select(ApiToken, User.username), principal, Action.READ)
        .join(User, User.id == ApiToken.user_id)
        .order_by(ApiToken.id.desc())
    )
    return [TokenView(token, username) for token, username in rows]


def audit_events(
    *, session: Session, principal: Principal, before: int | None, limit: int
) -> list[AuditEvent]:
    """Return a page of audit events, newest first, if ``principal`` may read the log."""
    query = restrict(select(AuditEvent), principal, Action.READ)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    return list(session.execute(query.order_by(AuditEvent.id.desc()).limit(limit)).scalars())


@dataclass(frozen=True)
class Related:
    """A relationship that names an object, seen from that object."""

    relationship_id: str
    relationship_type: str
    other_id: str
    outgoing: bool


def relationships(
    *, session: Session, principal: Principal, stix_id: str, limit: int = 200
) -> list[tuple[str, str]]:
    """Return (id, raw JSON) of readable latest relationships that mention ``stix_id``."""
    needle = "%" + stix_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = (
        restrict(select(StixObject.stix_id, StixObject.raw), principal, Action.READ)
        .where(
            StixObject.type == "relationship",
            StixObject.is_latest.is_(True),
            StixObject.raw.like(needle, escape="\\"),
        )
        .order_by(StixObject.date_added_us.desc())
    )
    return [(sid, raw) for sid, raw in session.execute(query.limit(limit))]


def count_audit(*, session: Session, principal: Principal) -> int:
    """Return how many audit events ``principal`` may read."""
    sub = restrict(select(AuditEvent.id), principal, Action.READ).subquery()
    return int(session.execute(select(func.count()).select_from(sub)).scalar_one())
