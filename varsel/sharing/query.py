"""Read STIX objects back: TAXII's filters, paging and versions, always through the policy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, and_, cast, or_, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.errors import InvalidInput, NotFound
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import cursor as cursors
from varsel.sharing import tombstones
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP
from varsel.sharing.validation import InvalidStixObject, timestamp_key


@dataclass(frozen=True)
class Filters:
    """TAXII 2.1 §3.4 filtering parameters, already parsed."""

    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ("last",)
    spec_versions: tuple[str, ...] = ()
    added_after_us: int | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """One object version as a page carries it."""

    pk: int
    stix_id: str
    type: str
    version: str
    spec_version: str
    date_added_us: int
    tlp: str
    raw: str


@dataclass
class Page:
    """One page of results and where the next one starts."""

    rows: list[Row] = field(default_factory=list)
    more: bool = False
    next: str | None = None


_COLUMNS = (
    StixObject.id,
    StixObject.stix_id,
    StixObject.type,
    StixObject.version,
    StixObject.spec_version,
    StixObject.date_added_us,
    StixObject.tlp,
    StixObject.raw,
)


def _version_condition(
    versions: Sequence[str], *, by_id: bool = False
) -> ColumnElement[bool] | None:
    latest: ColumnElement[bool] = StixObject.is_latest.is_(True)
    first: ColumnElement[bool] = StixObject.is_first.is_(True)
    if by_id:
        # Asking for ids: the stix_id index finds the rows. Without statistics (a hub fresh from
        # a bulk share) PostgreSQL would AND it with a scan of every latest row of the
        # collection index (2 ms at 50,000 objects, growing), so the flags are written so that
        # no index can serve them.
        latest = cast(StixObject.is_latest, Integer) == 1
        first = cast(StixObject.is_first, Integer) == 1
    conditions: list[ColumnElement[bool]] = []
    for value in versions:
        if value == "all":
            return None
        if value == "last":
            conditions.append(latest)
        elif value == "first":
            conditions.append(first)
        else:
            try:
                key = timestamp_key(value)
            except InvalidStixObject:
                raise InvalidInput(
                    f"match[version] must be 'last', 'first', 'all' or a timestamp, got {value!r}"
                ) from None
            conditions.append(
                or_(
                    StixObject.version_key == key,
                    and_(StixObject.version_key == "", StixObject.version == value),
                )
            )
    return or_(*conditions) if conditions else None


def _filtered(
    collection_id: str, principal: Principal, filters: Filters, columns: Sequence[Any] = _COLUMNS
) -> Select[*tuple[Any, ...]]:
    if filters.ids:
        # Asking for ids: the index led by stix_id is the one to use. Without statistics SQLite
        # would rather walk the collection's (collection_id, is_latest) index, so that term is
        # written so that no index can serve it; PostgreSQL picks stix_id either way.
        in_collection = (StixObject.collection_id + "") == collection_id
    else:
        in_collection = StixObject.collection_id == collection_id
    query: Select[*tuple[Any, ...]] = select(*columns).where(in_collection)
    query = restrict(query, principal, Action.READ)
    if filters.ids:
        query = query.where(StixObject.stix_id.in_(filters.ids))
    if filters.types:
        query = query.where(StixObject.type.in_(filters.types))
    if filters.spec_versions:
        query = query.where(StixObject.spec_version.in_(filters.spec_versions))
    if filters.added_after_us is not None:
        query = query.where(StixObject.date_added_us > filters.added_after_us)
    condition = _version_condition(filters.versions, by_id=bool(filters.ids))
    if condition is not None:
        query = query.where(condition)
    return query


def page(
    *,
    session: Session,
    collection_id: str,
    principal: Principal,
    filters: Filters,
    limit: int,
    next_cursor: str | None,
    secret_key: str,
) -> Page:
    """Return one page of the objects ``principal`` may read, oldest ``date_added`` first."""
    query = _filtered(collection_id, principal, filters)
    if next_cursor:
        # date_added is unique within a collection (ingest hands out strictly increasing
        # values under the collection's lock), so the position is a plain range: one index
        # range scan, where an OR of (date, id) made PostgreSQL sort every remaining row.
        after_us, _after_pk = cursors.decode(secret_key, next_cursor)
        query = query.where(StixObject.date_added_us > after_us)
    if filters.ids:
        # Asking for ids: let the stix_id index find them. Ordering by the bare column would
        # tempt SQLite into walking the whole collection in date order instead.
        query = query.order_by(StixObject.date_added_us + 0)
    else:
        query = query.order_by(StixObject.date_added_us)
    query = query.limit(limit + 1)
    rows = [Row(*r) for r in session.execute(query)]
    result = Page(rows=rows[:limit], more=len(rows) > limit)
    if result.more:
        last = result.rows[-1]
        result.next = cursors.encode(secret_key, last.date_added_us, last.pk)
    _audit_red_reads(session, principal, collection_id, result.rows)
    return result


def _audit_red_reads(
    session: Session, principal: Principal, collection_id: str, rows: Sequence[Row]
) -> None:
    red = [f"{r.stix_id}@{r.version}" for r in rows if r.tlp == TLP.RED.value]
    if red:
        audit.record(
            session=session,
            actor=principal.label,
            action="objects.read.red",
            target=collection_id,
            details={"objects": red},
        )


def delete_object(
    *,
    session: Session,
    collection_id: str,
    principal: Principal,
    stix_id: str,
    filters: Filters,
) -> int:
    """Delete the versions of ``stix_id`` that the filters select and the policy allows."""
    query = _filtered(
        collection_id,
        principal,
        Filters(
            ids=(stix_id,),
            versions=filters.versions if filters.versions != ("last",) else ("all",),
            spec_versions=filters.spec_versions,
        ),
        columns=(StixObject.id,),
    )
    # Deletion is narrowed twice: the caller must be able to read it and to delete it.
    query = restrict(query, principal, Action.DELETE)
    pks = [pk for (pk,) in session.execute(query)]
    if not pks:
        raise NotFound(f"no object {stix_id} that you may delete in this collection")
    # The peer hubs that could read what goes (docs/federation.md, "Tombstones"), asked
    # before it goes; copies received from other hubs are withdrawn by their origin only.
    local = tombstones.local_pks(session, pks)
    hearers = tombstones.audience(session, local)
    # Named one by one, never "all": a version shared again after the deletion may travel in
    # the same batch as the tombstone, and must not be deleted with the old ones.
    versions = tombstones.withdrawn_versions(session, local) if hearers else None
    # Only the producer deletes, so only its series of the object changes.
    tombstones.delete_versions(session, collection_id=collection_id, stix_id=stix_id, pks=pks)
    tombstones.issue(
        session,
        collection_id=collection_id,
        stix_id=stix_id,
        versions=versions,
        reason="deleted",
        audience=hearers,
    )
    audit.record(
        session=session,
        actor=principal.label,
        action="objects.delete",
        target=collection_id,
        details={"id": stix_id, "versions": len(pks)},
    )
    return len(pks)
