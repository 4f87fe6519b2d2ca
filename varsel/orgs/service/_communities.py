"""Communities (sharing groups) and their member organisations.

Adding or removing a member changes what its users may read at once: the access policy reads
membership on every request. Outside the local operator's command line, an addition to a
community that has members is a request (:func:`request_member`) that takes effect when a second
party approves it (:func:`decide_request`); who may do which is the policy's decision.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import Conflict, InvalidInput, NotFound
from varsel.orgs.models import (
    Community,
    CommunityMember,
    MembershipRequest,
    Organisation,
    Visibility,
)
from varsel.orgs.service._orgs import get_org
from varsel.policy.principal import Principal


def parse_visibility(value: str) -> Visibility:
    """Return the visibility ``value`` names, or raise InvalidInput."""
    try:
        return Visibility(value.strip().lower())
    except ValueError:
        choices = ", ".join(v.value for v in Visibility)
        raise InvalidInput(f"unknown visibility {value!r}; expected one of {choices}") from None


def add_community(
    *,
    session: Session,
    name: str,
    members: list[str],
    description: str = "",
    visibility: Visibility = Visibility.UNLISTED,
    actor: str = "cli",
) -> Community:
    """Create a community with ``members`` (organisation names); unlisted unless told."""
    name = name.strip()
    if not name:
        raise InvalidInput("a community needs a name")
    if session.execute(select(Community.id).where(Community.name == name)).first():
        raise Conflict(f"community {name!r} already exists")
    community = Community(
        name=name, description=description, visibility=visibility.value, created_at=utcnow()
    )
    session.add(community)
    session.flush()
    for member in members:
        add_member(session=session, community=name, org=member, actor=actor)
    audit.record(
        session=session,
        actor=actor,
        action="community.create",
        target=name,
        details={"members": members, "visibility": visibility.value},
    )
    return community


def set_visibility(
    *, session: Session, community: Community, visibility: Visibility, actor: str = "cli"
) -> Community:
    """Make ``community`` listed or unlisted; audited with the visibility it had before."""
    before = community.visibility
    community.visibility = visibility.value
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="community.visibility",
        target=community.name,
        details={"from": before, "to": visibility.value},
    )
    return community


def get_community(*, session: Session, name: str) -> Community:
    """Return the community called ``name`` or raise NotFound."""
    row = session.execute(select(Community).where(Community.name == name)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no community called {name!r}")
    return row


def add_member(*, session: Session, community: str, org: str, actor: str = "cli") -> None:
    """Add ``org`` to ``community``; its users gain access at once."""
    c = get_community(session=session, name=community)
    o = get_org(session=session, name=org)
    if session.get(CommunityMember, (c.id, o.id)) is None:
        session.add(CommunityMember(community_id=c.id, org_id=o.id))
        session.flush()
        audit.record(
            session=session,
            actor=actor,
            action="community.member.add",
            target=community,
            details={"org": org},
        )


def remove_member(*, session: Session, community: str, org: str, actor: str = "cli") -> None:
    """Remove ``org`` from ``community``; its users lose access at once."""
    c = get_community(session=session, name=community)
    o = get_org(session=session, name=org)
    session.execute(
        delete(CommunityMember).where(
            CommunityMember.community_id == c.id, CommunityMember.org_id == o.id
        )
    )
    audit.record(
        session=session,
        actor=actor,
        action="community.member.remove",
        target=community,
        details={"org": org},
    )


def members_of(*, session: Session, community_id: int) -> list[Organisation]:
    """Return the member organisations of a community."""
    return list(
        session.execute(
            select(Organisation)
            .join(CommunityMember, CommunityMember.org_id == Organisation.id)
            .where(CommunityMember.community_id == community_id)
            .order_by(Organisation.name)
        ).scalars()
    )


def list_communities(*, session: Session) -> list[Community]:
    """Return every community, by name (unrestricted: callers narrow with the policy)."""
    return list(session.execute(select(Community).order_by(Community.name)).scalars())


def request_member(
    *, session: Session, community: str, org: str, by: Principal
) -> MembershipRequest:
    """Record a proposal to add ``org`` to ``community``; it waits for a second party."""
    c = get_community(session=session, name=community)
    o = get_org(session=session, name=org)
    if session.get(CommunityMember, (c.id, o.id)) is not None:
        raise Conflict(f"{o.name!r} is already a member of {c.name!r}")
    pending = session.execute(
        select(MembershipRequest).where(
            MembershipRequest.community_id == c.id,
            MembershipRequest.org_id == o.id,
            MembershipRequest.decided_at.is_(None),
        )
    ).scalar_one_or_none()
    if pending is not None:
        return pending
    row = MembershipRequest(
        community_id=c.id,
        org_id=o.id,
        requested_by_user_id=by.user_id or None,
        requested_by=by.label,
        requested_at=utcnow(),
    )
    session.add(row)
    session.flush()
    # The audit event is the notice: the member org-admins see it on their communities page.
    audit.record(
        session=session,
        actor=by.label,
        action="community.member.request",
        target=c.name,
        details={"org": o.name, "request_id": row.id},
    )
    return row


def decide_request(
    *, session: Session, request_id: int, approve: bool, by: Principal
) -> MembershipRequest:
    """Approve (the organisation joins at once) or refuse a pending membership request."""
    row = session.get(MembershipRequest, request_id)
    if row is None or row.decided_at is not None:
        raise NotFound(f"no pending membership request {request_id}")
    row.decided_at = utcnow()
    row.decided_by = by.label
    row.approved = approve
    community = session.get(Community, row.community_id)
    org = session.get(Organisation, row.org_id)
    assert community is not None and org is not None  # both cascade-delete the request
    audit.record(
        session=session,
        actor=by.label,
        action="community.member.approve" if approve else "community.member.refuse",
        target=community.name,
        details={"org": org.name, "request_id": row.id, "requested_by": row.requested_by},
    )
    if approve:
        add_member(session=session, community=community.name, org=org.name, actor=by.label)
    return row


def pending_requests(*, session: Session, community_ids: list[int]) -> list[MembershipRequest]:
    """Return the undecided membership requests of these communities, oldest first."""
    return list(
        session.execute(
            select(MembershipRequest)
            .where(
                MembershipRequest.community_id.in_(community_ids),
                MembershipRequest.decided_at.is_(None),
            )
            .order_by(MembershipRequest.id)
        ).scalars()
    )
