"""The MISP mapping: where organisations' events land, sharing groups and distribution ceilings.

Reads (:func:`collection_for`, :func:`mapping_of`) serve the writing and import flows. Every
change asks :func:`varsel.policy.authorize` (``Change.MISP_COLLECTION``, ``Change.MISP_MAPPING``),
writes in the caller's unit of work and is audited; nothing here can widen reach beyond what the
defaults of :mod:`varsel.misp.sharing` give (a broader ceiling is refused, and an organisation's
events land only in a collection that organisation may write to).
"""

from __future__ import annotations

import uuid as uuids
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import Forbidden, InvalidInput, NotFound
from varsel.misp import sharing
from varsel.misp.models import MispCeiling, MispOrgCollection, MispSharingGroup, MispSharingGroupOrg
from varsel.orgs import service as orgs
from varsel.orgs.models import Organisation, Role, User
from varsel.policy import Action, Change, Target, authorize, restrict
from varsel.policy.principal import Principal
from varsel.sharing import service as collections
from varsel.sharing.models import Collection
from varsel.sharing.tlp import TLP

# MISP sharing groups are identified by an RFC 4122 uuid; names are MISP's (free text).
_NAME_MAX = 200


def collection_for(session: Session, org_id: int) -> Collection | None:
    """Return the collection ``org_id``'s events added through MISP's API land in, if set."""
    return session.execute(
        select(Collection)
        .join(MispOrgCollection, MispOrgCollection.collection_id == Collection.id)
        .where(MispOrgCollection.org_id == org_id)
    ).scalar_one_or_none()


def mapping_of(session: Session) -> sharing.Mapping:
    """Return the administrator's mapping: ceilings (defaults where unset) and sharing groups."""
    ceilings = dict(sharing.DEFAULT_CEILINGS)
    for row in session.execute(select(MispCeiling)).scalars():
        if row.distribution in ceilings:
            # Never broader than the default, whatever the table holds (fail closed).
            ceilings[row.distribution] = sharing.narrowest(
                _stored_level(row.tlp), sharing.DEFAULT_CEILINGS[row.distribution]
            )
    groups: dict[str, list[str]] = {}
    rows = session.execute(
        select(MispSharingGroupOrg.group_uuid, Organisation.name)
        .join(Organisation, Organisation.id == MispSharingGroupOrg.org_id)
        .order_by(MispSharingGroupOrg.group_uuid, Organisation.name)
    ).all()
    for group_uuid, name in rows:
        groups.setdefault(group_uuid, []).append(name)
    return sharing.Mapping(
        ceilings=ceilings, groups={uuid: tuple(names) for uuid, names in groups.items()}
    )


def _stored_level(value: str) -> TLP:
    try:
        return TLP.parse(value)
    except ValueError:
        return TLP.RED


# --- where an organisation's events land ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrgCollection:
    """An organisation and the collection its MISP events land in."""

    org: str
    collection_id: str
    collection_title: str
    set_by: str


def org_collections(*, session: Session, principal: Principal) -> list[OrgCollection]:
    """Return where organisations' MISP events land: all for a hub-admin, else the caller's own."""
    query = (
        select(Organisation.name, Collection.id, Collection.title, MispOrgCollection.set_by)
        .join(MispOrgCollection, MispOrgCollection.org_id == Organisation.id)
        .join(Collection, Collection.id == MispOrgCollection.collection_id)
        .order_by(Organisation.name)
    )
    if principal.role is not Role.HUB_ADMIN:
        query = query.where(Organisation.id == principal.org_id)
    return [OrgCollection(*row) for row in session.execute(query).all()]


def _org_principals(session: Session, org: Organisation) -> list[Principal]:
    # A principal of the organisation in each role its users hold (every role while it has no
    # users yet): the organisation "may write" a collection when the policy lets one of them.
    held = set(session.execute(select(User.role).where(User.org_id == org.id).distinct()).scalars())
    roles = [role for role in Role if role.value in held] or list(Role)
    return [
        Principal(
            user_id=0,
            username=f"{role.value}@{org.name}",
            org_id=org.id,
            org_name=org.name,
            country=org.country,
            role=role,
            hub=org.kind == "hub",
        )
        for role in roles
    ]


def may_write(*, session: Session, org: Organisation, collection_id: str) -> bool:
    """Return whether the policy lets a user of ``org`` write to the collection.

    That is: ``org`` is a member of the collection's community and the collection's write
    rights admit a role one of its users holds (any role while it has no users yet).
    """
    query = select(Collection.id).where(Collection.id == collection_id)
    return any(
        session.execute(restrict(query, candidate, Action.WRITE)).first() is not None
        for candidate in _org_principals(session, org)
    )


def writable_collections(*, session: Session, principal: Principal, org: str) -> list[Collection]:
    """Return the collections ``principal`` can see that ``org`` may write to, by title."""
    target = orgs.get_org(session=session, name=org)
    seen = [row for row, _ in collections.visible_collections(session=session, principal=principal)]
    return [row for row in seen if may_write(session=session, org=target, collection_id=row.id)]


def set_collection(
    *, session: Session, principal: Principal, org: str, collection: str
) -> Collection:
    """Make ``collection`` (id, alias or title) where ``org``'s MISP events land.

    A hub-admin, the organisation's own org-admin or the local operator may, and only to a
    collection the organisation may write to (its users would be refused there otherwise, and
    the setting must never let an organisation place events where it may not share).
    """
    target = orgs.get_org(session=session, name=org)
    authorize(
        session=session,
        principal=principal,
        change=Change.MISP_COLLECTION,
        target=Target(org_id=target.id),
    )
    try:
        chosen = collections.find_collection(session=session, principal=principal, ref=collection)
    except NotFound as exc:
        raise NotFound(exc.message, field="collection") from None
    if not may_write(session=session, org=target, collection_id=chosen.id):
        raise Forbidden(
            f"{target.name!r} may not write to collection {chosen.title!r}: it is not a member "
            "of the collection's community, or the collection's write rights admit none of its "
            "roles",
            field="collection",
        )
    row = session.get(MispOrgCollection, target.id)
    before = row.collection_id if row is not None else None
    now = utcnow()
    if row is None:
        row = MispOrgCollection(
            org_id=target.id, collection_id=chosen.id, set_by=principal.label, updated_at=now
        )
        session.add(row)
    else:
        row.collection_id = chosen.id
        row.set_by = principal.label
        row.updated_at = now
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="misp.collection.set",
        target=target.name,
        details={"collection": chosen.id, "title": chosen.title, "before": before},
    )
    return chosen


# --- sharing groups --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SharingGroup:
    """A MISP sharing group and the hub organisations it is mapped to."""

    uuid: str
    name: str
    recipients: tuple[str, ...]


def _group_uuid(value: str) -> str:
    try:
        return str(uuids.UUID(value.strip()))
    except ValueError:
        raise InvalidInput(
            f"{value!r} is not a sharing group's uuid (MISP shows it on the group's page)",
            field="uuid",
        ) from None


def sharing_groups(*, session: Session) -> list[SharingGroup]:
    """Return the sharing groups the hub knows, by name."""
    mapping = mapping_of(session)
    rows = session.execute(select(MispSharingGroup).order_by(MispSharingGroup.name)).scalars()
    return [SharingGroup(r.uuid, r.name, mapping.groups.get(r.uuid, ())) for r in rows]


def set_sharing_group(
    *,
    session: Session,
    principal: Principal,
    uuid: str,
    name: str,
    recipients: list[str],
) -> SharingGroup:
    """Map the sharing group ``uuid`` to the hub organisations ``recipients`` (hub-admins)."""
    authorize(session=session, principal=principal, change=Change.MISP_MAPPING, target=Target())
    key = _group_uuid(uuid)
    name = name.strip()
    if not name or len(name) > _NAME_MAX:
        raise InvalidInput(
            f"a sharing group needs a name of 1–{_NAME_MAX} characters", field="name"
        )
    names = [n.strip() for n in recipients if n.strip()]
    if not names:
        raise InvalidInput(
            "name at least one hub organisation the sharing group's items go to",
            field="recipients",
        )
    members: dict[int, str] = {}
    for each in names:
        try:
            found = orgs.get_org(session=session, name=each)
        except NotFound as exc:
            raise NotFound(exc.message, field="recipients") from None
        members[found.id] = found.name
    row = session.get(MispSharingGroup, key)
    before = mapping_of(session).groups.get(key)
    if row is None:
        row = MispSharingGroup(uuid=key, name=name, updated_at=utcnow())
        session.add(row)
    else:
        row.name = name
        row.updated_at = utcnow()
    session.flush()
    session.execute(delete(MispSharingGroupOrg).where(MispSharingGroupOrg.group_uuid == key))
    session.add_all(MispSharingGroupOrg(group_uuid=key, org_id=org_id) for org_id in members)
    session.flush()
    recipients_after = tuple(sorted(members.values()))
    audit.record(
        session=session,
        actor=principal.label,
        action="misp.sharing_group.set",
        target=key,
        details={"name": name, "recipients": list(recipients_after), "before": before},
    )
    return SharingGroup(key, name, recipients_after)


def remove_sharing_group(*, session: Session, principal: Principal, uuid: str) -> None:
    """Forget the sharing group ``uuid``: its items go to their producer only (hub-admins)."""
    authorize(session=session, principal=principal, change=Change.MISP_MAPPING, target=Target())
    key = _group_uuid(uuid)
    row = session.get(MispSharingGroup, key)
    if row is None:
        raise NotFound(f"no sharing group {key}", field="uuid")
    before = mapping_of(session).groups.get(key)
    session.execute(delete(MispSharingGroupOrg).where(MispSharingGroupOrg.group_uuid == key))
    session.delete(row)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="misp.sharing_group.remove",
        target=key,
        details={"name": row.name, "recipients": list(before or ())},
    )


# --- distribution ceilings -------------------------------------------------------------------


def parse_distribution(value: str | int) -> int:
    """Return a distribution 0–3 that has a ceiling, or raise InvalidInput."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number not in sharing.DEFAULT_CEILINGS:
        raise InvalidInput(
            f"distribution {value!r} has no ceiling; expected 0, 1, 2 or 3 "
            "(4, a sharing group, is mapped with its organisations)",
            field="distribution",
        )
    return number


def set_ceiling(
    *, session: Session, principal: Principal, distribution: int | str, level: str
) -> TLP:
    """Make ``level`` the ceiling of ``distribution``, never above the default (hub-admins)."""
    authorize(session=session, principal=principal, change=Change.MISP_MAPPING, target=Target())
    number = parse_distribution(distribution)
    try:
        tlp = TLP.parse(level)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="level") from None
    problem = sharing.ceiling_problem(number, tlp)
    if problem is not None:
        raise Forbidden(problem, field="level")
    before = mapping_of(session).ceilings[number]
    row = session.get(MispCeiling, number)
    if row is None:
        session.add(MispCeiling(distribution=number, tlp=tlp.value, updated_at=utcnow()))
    else:
        row.tlp = tlp.value
        row.updated_at = utcnow()
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="misp.distribution.set",
        target=str(number),
        details={"tlp": tlp.value, "before": before.value},
    )
    return tlp
