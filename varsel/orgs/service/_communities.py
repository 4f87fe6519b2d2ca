"""Communities (sharing groups) and their member organisations.

Adding or removing a member changes what its users may read at once: the access policy reads
membership on every request.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import Conflict, InvalidInput, NotFound
from varsel.orgs.models import Community, CommunityMember, Organisation
from varsel.orgs.service._orgs import get_org


def add_community(
    *, session: Session, name: str, members: list[str], description: str = "", actor: str = "cli"
) -> Community:
    """Create a community with ``members`` (organisation names)."""
    name = name.strip()
    if not name:
        raise InvalidInput("a community needs a name")
    if session.execute(select(Community.id).where(Community.name == name)).first():
        raise Conflict(f"community {name!r} already exists")
    community = Community(name=name, description=description, created_at=utcnow())
    session.add(community)
    session.flush()
    for member in members:
        add_member(session=session, community=name, org=member, actor=actor)
    audit.record(
        session=session,
        actor=actor,
        action="community.create",
        target=name,
        details={"members": members},
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
    """Return every community, by name."""
    return list(session.execute(select(Community).order_by(Community.name)).scalars())
