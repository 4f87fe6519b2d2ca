"""Collections: create, find and list them; the STIX identities an organisation may act as."""

from __future__ import annotations

import json
import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import Conflict, InvalidInput, NotFound
from varsel.orgs.models import Role
from varsel.orgs.service import get_community, get_org
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import Collection, IngestStatus, OrgIdentity
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
    """Return the collection with this id (or alias) or raise NotFound, whoever asks.

    For the hub's own work and the operator; a path acting for a user resolves collections with
    :func:`readable_collection` instead, which applies the policy.
    """
    row = session.get(Collection, collection_id)
    if row is None:
        row = session.execute(
            select(Collection).where(Collection.alias == collection_id)
        ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no collection {collection_id!r}")
    return row


def readable_collection(
    *, session: Session, principal: Principal, collection_id: str
) -> Collection:
    """Return the collection with this id (or alias) that ``principal`` may see, or NotFound.

    A collection of an unlisted community the caller is not in is answered exactly like an id
    nobody uses (TAXII 2.1 §5.2), so that no read or share can confirm it exists.
    """
    row = session.execute(
        restrict(select(Collection), principal, Action.READ).where(
            (Collection.id == collection_id) | (Collection.alias == collection_id)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no collection {collection_id!r}")
    return row


def find_collection(*, session: Session, principal: Principal, ref: str) -> Collection:
    """Return the collection whose id, alias or title is ``ref``, as ``principal`` sees them."""
    try:
        return readable_collection(session=session, principal=principal, collection_id=ref)
    except NotFound:
        row = session.execute(
            restrict(select(Collection), principal, Action.READ).where(Collection.title == ref)
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


# STIX 2.1 §2.9: an identifier is the type, two hyphens and a lowercase RFC 4122 UUID.
_IDENTITY_ID = re.compile(
    r"identity--[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


def register_identity(*, session: Session, org: str, identity_id: str, actor: str = "cli") -> None:
    """Let organisation ``org`` name ``identity_id`` as the creator (created_by_ref) of objects.

    An identity belongs to one organisation at a time: registering one that another
    organisation holds is refused until that registration is removed.
    """
    if _IDENTITY_ID.fullmatch(identity_id) is None:
        raise InvalidInput(
            f"{identity_id!r} is not a STIX identity id ('identity--' and a lowercase UUID)"
        )
    owner = get_org(session=session, name=org)
    held = session.get(OrgIdentity, identity_id)
    if held is not None and held.org_id == owner.id:
        return
    if held is not None:
        raise Conflict(f"{identity_id} is registered to another organisation; remove it first")
    session.add(OrgIdentity(identity_id=identity_id, org_id=owner.id, created_at=utcnow()))
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="org.identity.add",
        target=org,
        details={"identity": identity_id},
    )


def remove_identity(*, session: Session, org: str, identity_id: str, actor: str = "cli") -> None:
    """Stop organisation ``org`` from naming ``identity_id`` as created_by_ref."""
    owner = get_org(session=session, name=org)
    held = session.get(OrgIdentity, identity_id)
    if held is None or held.org_id != owner.id:
        raise NotFound(f"{identity_id} is not registered to {org!r}")
    session.delete(held)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="org.identity.remove",
        target=org,
        details={"identity": identity_id},
    )


def identities_of(*, session: Session, org: str) -> list[str]:
    """Return the identity ids registered to organisation ``org``."""
    owner = get_org(session=session, name=org)
    return list(
        session.execute(
            select(OrgIdentity.identity_id)
            .where(OrgIdentity.org_id == owner.id)
            .order_by(OrgIdentity.identity_id)
        ).scalars()
    )
