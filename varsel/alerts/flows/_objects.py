"""Alerts from objects added since the evaluator's cursors: TLP:RED to me, watches, sightings.

Each collection is read after its own cursor (``objects:<collection id>``, its
``date_added_us``): writers serialise on the collection's row, so what commits later has a
later position there, and nothing is missed or read twice. A collection seen the first time is
read from ``FIRST_LOOK_S`` back, not from its beginning, so turning alerts on does not alert on
a hub's whole history. Candidates are found first (recipients, watches, producers of the
sighted indicators), then each candidate user's principal must read the version through
:func:`varsel.policy.restrict`, or nothing is said.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from varsel.alerts.flows._atoms import atoms_of, concerns
from varsel.alerts.flows._people import People, readable
from varsel.alerts.models import AlertCursor, AlertKind, Watch
from varsel.alerts.service import NewNotification
from varsel.clock import datetime_to_us, naive, now_us
from varsel.sharing.models import Collection, ObjectProducer, Recipient, StixObject
from varsel.sharing.tlp import TLP

# How far back a collection is read the first time the evaluator meets it.
FIRST_LOOK_S = 24 * 3600
# Object versions read per collection and run; the rest waits for the next run.
BATCH = 5000


@dataclass(frozen=True)
class _Row:
    pk: int
    stix_id: str
    type: str
    tlp: str
    producer_org_id: int
    shared_by: int | None
    name: str | None
    added_us: int
    obj: dict[str, Any]


def _cursor(session: Session, name: str) -> int | None:
    return session.execute(
        select(AlertCursor.position).where(AlertCursor.name == name)
    ).scalar_one_or_none()


def move_cursor(session: Session, name: str, position: int, now: datetime) -> None:
    """Move the cursor ``name`` forward to ``position`` (never back; safe in two processes)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(AlertCursor)
        .values(name=name, position=position, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    session.execute(
        update(AlertCursor)
        .where(AlertCursor.name == name, AlertCursor.position < position)
        .values(position=position, updated_at=now)
    )


def _new_rows(session: Session, collection_id: str, after_us: int) -> list[_Row]:
    rows = []
    for pk, sid, kind, tlp, producer, shared_by, name, added, raw in session.execute(
        select(
            StixObject.id,
            StixObject.stix_id,
            StixObject.type,
            StixObject.tlp,
            StixObject.producer_org_id,
            StixObject.shared_by_user_id,
            StixObject.name,
            StixObject.date_added_us,
            StixObject.raw,
        )
        .where(StixObject.collection_id == collection_id, StixObject.date_added_us > after_us)
        .order_by(StixObject.date_added_us, StixObject.id)
        .limit(BATCH)
    ):
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = {}
        rows.append(
            _Row(
                pk,
                sid,
                kind,
                tlp,
                producer,
                shared_by,
                name,
                added,
                obj if isinstance(obj, dict) else {},
            )
        )
    return rows


def _params(row: _Row, **more: Any) -> dict[str, Any]:
    return {"name": row.name or row.stix_id, "type": row.type, "tlp": row.tlp, **more}


def _red(session: Session, people: People, rows: list[_Row]) -> list[NewNotification]:
    red = {r.pk: r for r in rows if r.tlp == TLP.RED.value}
    if not red:
        return []
    wanted: dict[int, set[int]] = defaultdict(set)  # user -> version pks
    for pk, org_id, user_id in session.execute(
        select(Recipient.object_pk, Recipient.org_id, Recipient.user_id).where(
            Recipient.object_pk.in_(list(red))
        )
    ):
        users = [user_id] if user_id is not None else people.of_org(org_id) if org_id else []
        for uid in users:
            if uid != red[pk].shared_by:  # nobody is alerted of their own share
                wanted[uid].add(pk)
    found = []
    for uid, pks in wanted.items():
        principal = people.principal(uid)
        if principal is None:
            continue
        for pk in sorted(readable(session, principal, pks)):
            row = red[pk]
            found.append(
                NewNotification(
                    user_id=uid,
                    kind=AlertKind.RED.value,
                    key=row.stix_id,
                    params=_params(row),
                    link=f"/objects/{row.stix_id}",
                    object_id=row.stix_id,
                )
            )
    return found


def _watches(session: Session, people: People, rows: list[_Row]) -> list[NewNotification]:
    watches = list(session.execute(select(Watch).order_by(Watch.id)).scalars())
    if not watches:
        return []
    wanted: dict[int, dict[int, Watch]] = defaultdict(dict)  # user -> version pk -> watch
    by_pk = {r.pk: r for r in rows}
    for row in rows:
        atoms = atoms_of(row.obj)
        if not atoms:
            continue
        for watch in watches:
            if watch.user_id == row.shared_by or row.pk in wanted[watch.user_id]:
                continue
            if row.added_us < datetime_to_us(watch.created_at):
                continue  # a watch looks forward from when it was made
            if any(concerns(watch.kind, watch.value, atom) for atom in atoms):
                wanted[watch.user_id][row.pk] = watch
    found = []
    for uid, hits in wanted.items():
        principal = people.principal(uid) if hits else None
        if principal is None:
            continue
        for pk in sorted(readable(session, principal, hits)):
            row, watch = by_pk[pk], hits[pk]
            found.append(
                NewNotification(
                    user_id=uid,
                    kind=AlertKind.WATCH.value,
                    key=f"{watch.id}|{row.stix_id}",
                    params=_params(row, watch=watch.value),
                    link=f"/objects/{row.stix_id}",
                    object_id=row.stix_id,
                )
            )
    return found


def _sightings(session: Session, people: People, rows: list[_Row]) -> list[NewNotification]:
    sightings = [r for r in rows if r.type == "sighting"]
    targets = {
        str(r.obj.get("sighting_of_ref")): r
        for r in sightings
        if isinstance(r.obj.get("sighting_of_ref"), str)
    }
    if not targets:
        return []
    producers = dict(
        session.execute(
            select(ObjectProducer.stix_id, ObjectProducer.org_id).where(
                ObjectProducer.stix_id.in_(list(targets))
            )
        ).all()
    )
    wanted: dict[int, set[int]] = defaultdict(set)
    for row in sightings:
        target = row.obj.get("sighting_of_ref")
        org_id = producers.get(str(target))
        if org_id is None:
            continue
        for uid in people.of_org(org_id):
            if uid != row.shared_by:
                wanted[uid].add(row.pk)
    by_pk = {r.pk: r for r in sightings}
    found = []
    for uid, pks in wanted.items():
        principal = people.principal(uid)
        if principal is None:
            continue
        for pk in sorted(readable(session, principal, pks)):
            row = by_pk[pk]
            indicator = str(row.obj.get("sighting_of_ref"))
            found.append(
                NewNotification(
                    user_id=uid,
                    kind=AlertKind.SIGHTING.value,
                    key=row.stix_id,
                    params=_params(row, indicator=indicator, count=row.obj.get("count")),
                    link=f"/objects/{row.stix_id}",
                    object_id=row.stix_id,
                )
            )
    return found


def from_new_objects(
    *, session: Session, people: People, now: datetime
) -> tuple[list[NewNotification], list[tuple[str, int]]]:
    """Return the alerts of objects added since the cursors, and where the cursors move to."""
    found: list[NewNotification] = []
    moves: list[tuple[str, int]] = []
    first = datetime_to_us(naive(now)) - FIRST_LOOK_S * 1_000_000
    for collection_id, last in session.execute(
        select(Collection.id, Collection.last_added_us).order_by(Collection.id)
    ):
        name = f"objects:{collection_id}"
        after = _cursor(session, name)
        start = max(0, min(first, now_us())) if after is None else after
        if (last or 0) <= start:
            if after is None:
                moves.append((name, start))
            continue
        rows = _new_rows(session, collection_id, start)
        if not rows:
            continue
        latest = [r for r in rows if r.obj]
        found += _red(session, people, latest)
        found += _watches(session, people, latest)
        found += _sightings(session, people, latest)
        moves.append((name, rows[-1].added_us))
    return found, moves
