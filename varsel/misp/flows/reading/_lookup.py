"""One event looked up alone (MISP's pull asks once per event), as ``catalog`` makes it."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from varsel.misp.flows.reading._catalog import (
    _ATTACHED,
    _COLUMNS,
    _NOT_CONTENT,
    _US_PER_DAY,
    CONTAINERS,
    EventMeta,
    _attach,
    _container_meta,
    _day_meta,
    _day_of,
    _no_jit,
    _org_names,
    _raw,
    _refs_of,
    _Row,
    _rows_where,
    day_uuid,
    readable_collections,
)
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import StixObject


def _container_event(
    session: Session, principal: Principal, wanted: str, collection_id: str | None
) -> EventMeta | None:
    """Return the event of the container ``grouping--wanted``/``report--wanted``, if readable.

    Two queries, whatever the collection's size: what MISP's pull asks once per event.
    """
    try:
        uuid.UUID(wanted)
    except ValueError:
        return None
    where: list[ColumnElement[bool]] = [
        StixObject.stix_id.in_([f"{t}--{wanted}" for t in CONTAINERS]),
        StixObject.is_latest.is_(True),
    ]
    if collection_id is not None:
        where.append(StixObject.collection_id == collection_id)
    found = session.execute(
        restrict(select(*_COLUMNS, StixObject.raw).where(*where), principal, Action.READ)
        .order_by(StixObject.date_added_us)
        .limit(1)
    ).first()
    if found is None:
        return None
    box = _Row(*found[:-1])
    try:
        refs = [r for r in json.loads(found[-1]).get("object_refs") or [] if isinstance(r, str)]
    except (ValueError, AttributeError):
        refs = []
    members: list[_Row] = []
    for start in range(0, len(refs), 5_000):
        rows = session.execute(
            restrict(
                select(*_COLUMNS).where(
                    StixObject.collection_id == box.collection_id,
                    StixObject.stix_id.in_(refs[start : start + 5_000]),
                    StixObject.is_latest.is_(True),
                ),
                principal,
                Action.READ,
            )
        )
        members += [_Row(*r) for r in rows]
    by_id: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for m in members:
        by_id[(m.collection_id, m.stix_id)].append(m)
    meta = _container_meta(box, refs, by_id)
    attached = session.execute(
        restrict(
            select(*_COLUMNS, StixObject.raw).where(
                StixObject.collection_id == box.collection_id,
                StixObject.type.in_(_ATTACHED),
                StixObject.is_latest.is_(True),
            ),
            principal,
            Action.READ,
        )
    )
    _attach(
        [meta],
        [(_Row(*a[:-1]), _refs_of(a[-1])) for a in attached],
        {(box.collection_id, r) for r in refs if isinstance(r, str)},
    )
    meta.producer = _org_names(session, principal, [box.producer_org_id]).get(
        box.producer_org_id, ""
    )
    return meta


def _day_event(
    session: Session, principal: Principal, wanted: str, collection_id: str | None
) -> EventMeta | None:
    """Return the day event with uuid ``wanted``, as :func:`catalog` makes it, or None.

    Without reading the whole collection: the (collection, organisation, day) triples the
    reader may read something in are listed in SQL, the one whose uuid is ``wanted`` is read,
    and the collection's containers say what in it belongs to an event of theirs instead.
    """
    _no_jit(session)
    day_number = StixObject.date_added_us // _US_PER_DAY
    where: list[ColumnElement[bool]] = [
        StixObject.is_latest.is_(True),
        StixObject.type.not_in([*CONTAINERS, *_NOT_CONTENT]),
    ]
    if collection_id is not None:
        where.append(StixObject.collection_id == collection_id)
    triples = session.execute(
        restrict(
            select(StixObject.collection_id, StixObject.producer_org_id, day_number).where(*where),
            principal,
            Action.READ,
        ).distinct()
    )
    found = next(
        (
            (c, int(o), int(n))
            for c, o, n in triples
            if day_uuid(c, int(o), _day_of(int(n))) == wanted
        ),
        None,
    )
    if found is None:
        return None
    coll, org_id, number = found
    day_rows = _rows_where(
        session,
        principal,
        StixObject.collection_id == coll,
        StixObject.producer_org_id == org_id,
        StixObject.date_added_us >= number * _US_PER_DAY,
        StixObject.date_added_us < (number + 1) * _US_PER_DAY,
        StixObject.type.not_in([*CONTAINERS, *_NOT_CONTENT]),
    )
    # What the collection's readable containers name, and which of it the reader reads.
    boxes = _rows_where(
        session, principal, StixObject.collection_id == coll, StixObject.type.in_(CONTAINERS)
    )
    named: set[str] = set()
    for raw in _raw(session, principal, [b.pk for b in boxes]).values():
        try:
            refs = json.loads(raw).get("object_refs") or []
        except (ValueError, AttributeError):
            refs = []
        named.update(r for r in refs if isinstance(r, str))
    holders = {b.stix_id for b in boxes}
    listed = sorted(named)
    for start in range(0, len(listed), 5_000):
        holders.update(
            r.stix_id
            for r in _rows_where(
                session,
                principal,
                StixObject.collection_id == coll,
                StixObject.stix_id.in_(listed[start : start + 5_000]),
            )
        )
    attached = _raw(session, principal, [r.pk for r in day_rows if r.type in _ATTACHED])
    members = [
        r
        for r in day_rows
        if r.stix_id not in named and not (r.pk in attached and _refs_of(attached[r.pk]) & holders)
    ]
    if not members:
        return None
    titles = {c.id: c.title for c in readable_collections(session=session, principal=principal)}
    return _day_meta(
        coll, org_id, number, members, _org_names(session, principal, [org_id]), titles
    )
