"""Reads the pages need beyond the sharing services, each narrowed by the access policy."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from varsel.audit.models import AuditEvent
from varsel.errors import Forbidden, NotFound
from varsel.orgs.models import ApiToken, Community, CommunityMember, Organisation, Role, User
from varsel.orgs.service import Principal
from varsel.policy import Action, restrict
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


def writable_user(*, session: Session, principal: Principal, username: str) -> User:
    """Return ``username`` if ``principal`` may change that user, else raise."""
    user = session.execute(
        restrict(select(User).where(User.username == username), principal, Action.WRITE)
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user {username!r} that you may manage")
    return user


def grantable_roles(principal: Principal) -> list[Role]:
    """Return the roles ``principal`` may give: hub-admin only by a hub-admin."""
    if principal.role is Role.HUB_ADMIN:
        return list(Role)
    if principal.role is Role.ORG_ADMIN:
        return [Role.ANALYST, Role.ORG_ADMIN]
    return []


def check_grant(principal: Principal, role: str) -> None:
    """Raise Forbidden unless ``principal`` may give ``role``."""
    if role not in {r.value for r in grantable_roles(principal)}:
        raise Forbidden(f"you may not give the role {role!r}")


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


def writable_token(*, session: Session, principal: Principal, token_id: int) -> ApiToken:
    """Return the token if ``principal`` may revoke it, else raise NotFound."""
    row = session.execute(
        restrict(select(ApiToken).where(ApiToken.id == token_id), principal, Action.WRITE)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no token {token_id} that you may revoke")
    return row


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
