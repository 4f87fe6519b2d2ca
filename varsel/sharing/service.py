"""Collections: create, find and list them; plain functions over a session."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import Conflict, InvalidInput, NotFound
from varsel.orgs.models import Role
from varsel.orgs.service import Principal, get_community
from varsel.policy import Action, restrict
from varsel.sharing.models import Collection, IngestStatus
from varsel.sharing.tlp import TLP


def _roles(value: str | list[str] | None, default: str) -> str:
    if value is None:
        return default
    names = value.split() if isinstance(value, str) else value
    try:
        return " ".join(Role(n.strip()).value for n in names if n.strip())
    except ValueError as exc:
        raise InvalidInput(f"unknown role in rights: {exc}") from None


def add_collection(
    *,
    session: Session,
    title: str,
    community: str,
    default_tlp: str,
    description: str = "",
    alias: str | None = None,
    read_roles: str | list[str] | None = None,
    write_roles: str | list[str] | None = None,
    actor: str = "cli",
) -> Collection:
    """Create a TAXII collection owned by ``community`` with a default TLP for unmarked objects."""
    title = title.strip()
    if not title:
        raise InvalidInput("a collection needs a title")
    try:
        tlp = TLP.parse(default_tlp)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    owner = get_community(session=session, name=community)
    if session.execute(select(Collection.id).where(Collection.title == title)).first():
        raise Conflict(f"collection {title!r} already exists")
    all_roles = " ".join(r.value for r in Role)
    row = Collection(
        id=str(uuid.uuid4()),
        title=title,
        description=description,
        alias=alias,
        community_id=owner.id,
        default_tlp=tlp.value,
        read_roles=_roles(read_roles, all_roles),
        write_roles=_roles(write_roles, all_roles),
        last_added_us=0,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="collection.create",
        target=row.id,
        details={"title": title, "community": community, "default_tlp": tlp.value},
    )
    return row


def get_collection(*, session: Session, collection_id: str) -> Collection:
    """Return the collection with this id (or alias) or raise NotFound."""
    row = session.get(Collection, collection_id)
    if row is None:
        row = session.execute(
            select(Collection).where(Collection.alias == collection_id)
        ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no collection {collection_id!r}")
    return row


def find_collection(*, session: Session, ref: str) -> Collection:
    """Return the collection whose id, alias or title is ``ref``."""
    try:
        return get_collection(session=session, collection_id=ref)
    except NotFound:
        row = session.execute(
            select(Collection).where(Collection.title == ref)
        ).scalar_one_or_none()
        if row is None:
            raise
        return row


def visible_collections(*, session: Session, principal: Principal) -> list[tuple[Collection, bool]]:
    """Return the collections ``principal`` may list, each with whether it may write to it."""
    rows = (
        session.execute(
            restrict(select(Collection), principal, Action.READ).order_by(Collection.title)
        )
        .scalars()
        .all()
    )
    writable = set(
        session.execute(restrict(select(Collection.id), principal, Action.WRITE)).scalars()
    )
    return [(row, row.id in writable) for row in rows]


def get_status(*, session: Session, status_id: str, principal: Principal) -> IngestStatus:
    """Return a status resource; only the user who posted the envelope may see it."""
    row = session.get(IngestStatus, status_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFound(f"no status {status_id!r}")
    return row


def status_details(row: IngestStatus) -> dict[str, list[dict[str, str]]]:
    """Return the successes and failures recorded with a status."""
    details: dict[str, list[dict[str, str]]] = json.loads(row.details)
    return details
