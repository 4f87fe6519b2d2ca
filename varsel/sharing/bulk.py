"""Act on many object rows at once: share into another collection, re-share, revoke.

Each action is the single action repeated through the same services and policy — a new version
or a copy goes through :func:`varsel.sharing.ingest.ingest`, a re-share through
:func:`varsel.sharing.browse.reshare` — and reports per row what happened. A row that may not
be acted on is refused with its reason before anything is written; the rest are written in the
caller's transaction, so an unexpected failure leaves nothing half-done (the caller rolls
back). Rows are named by their primary key and read through :func:`varsel.policy.restrict`:
one the caller may not read is "an object you cannot see", with nothing about it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.errors import Forbidden, InvalidInput, NotFound
from varsel.orgs.models import ClientRelation, Organisation, User
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import browse
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.ingest import RECIPIENTS_PROPERTY
from varsel.sharing.models import Collection, Recipient, StixObject
from varsel.sharing.validation import parse_timestamp

MAX_ROWS = 500  # rows one bulk action may name


class Bulk(StrEnum):
    """What to do with the selected rows."""

    COPY = "copy"  # share the producer's own objects into another collection
    RESHARE = "reshare"  # re-share TLP:AMBER objects to a registered client
    REVOKE = "revoke"  # publish a revoked version of the producer's own objects


class Result(StrEnum):
    """What happened to one row."""

    DONE = "done"
    REFUSED = "refused"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Outcome:
    """What happened to one selected row; ``stix_id`` and ``name`` only if it is readable."""

    pk: int
    stix_id: str | None
    name: str | None
    result: Result
    reason: str | None = None
    raw: str | None = None  # the version acted on, for the page to show its value


HIDDEN = "an object you cannot see"


def _readable(session: Session, principal: Principal, pks: list[int]) -> dict[int, StixObject]:
    """Return the latest readable version of each row's series, by the row's key.

    A list page may be older than the last action (a row revoked since is an older version
    now), so a row stands for its series: the same collection, id and producer.
    """
    rows = {
        row.id: row
        for row in session.execute(
            restrict(select(StixObject), principal, Action.READ).where(StixObject.id.in_(pks))
        ).scalars()
    }
    for pk, row in list(rows.items()):
        if row.is_latest:
            continue
        latest = session.execute(
            restrict(select(StixObject), principal, Action.READ).where(
                StixObject.collection_id == row.collection_id,
                StixObject.stix_id == row.stix_id,
                StixObject.producer_org_id == row.producer_org_id,
                StixObject.is_latest.is_(True),
            )
        ).scalar_one_or_none()
        if latest is None:
            del rows[pk]
        else:
            rows[pk] = latest
    return rows


def _checked_pks(pks: list[int]) -> list[int]:
    unique = list(dict.fromkeys(pks))
    if not unique:
        raise InvalidInput("select at least one object")
    if len(unique) > MAX_ROWS:
        raise InvalidInput(f"{len(unique)} objects selected; at most {MAX_ROWS} at a time")
    return unique


def _recipients(session: Session, pk: int) -> list[str]:
    """Return the recipients of a stored version as a share names them."""
    names = []
    rows = session.execute(
        select(Recipient, Organisation.name, User.username)
        .outerjoin(Organisation, Organisation.id == Recipient.org_id)
        .outerjoin(User, User.id == Recipient.user_id)
        .where(Recipient.object_pk == pk)
    )
    for recipient, org_name, username in rows:
        if org_name is not None:
            names.append(f"{recipient.remote}@{org_name}" if recipient.remote else org_name)
        if username is not None:
            names.append(f"user:{username}")
    return names


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _revoked_version(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Return the next version of ``obj``, revoked; ``modified`` moves strictly forward."""
    moment = now
    try:
        previous = parse_timestamp(str(obj.get("modified") or obj.get("created")))
        if previous >= moment:
            moment = previous + timedelta(milliseconds=1)
    except InvalidInput:
        pass
    return {**obj, "revoked": True, "modified": _stamp(moment)}


def _share(
    session: Session,
    principal: Principal,
    collection: Collection,
    batch: list[tuple[StixObject, dict[str, Any]]],
) -> None:
    """Share ``batch`` into ``collection`` in one envelope; any rejection undoes the action."""
    # Recipients travel per object: a TLP:RED version shared with the envelope's list keeps
    # it only in the recipients table, and its next version must name the same recipients.
    objects = []
    for row, obj in batch:
        if row.tlp in ("red", "amber+strict") and RECIPIENTS_PROPERTY not in obj:
            named = _recipients(session, row.id)
            if named:
                obj = {**obj, RECIPIENTS_PROPERTY: named}
        objects.append(obj)
    result = ingesting.ingest(
        session=session,
        collection=collection,
        principal=principal,
        body=json.dumps({"objects": objects}),
    )
    if result.failures:
        first = result.failures[0]
        raise InvalidInput(first.message or "the hub refused a version; nothing was changed")


def act(
    *,
    session: Session,
    principal: Principal,
    action: Bulk,
    pks: list[int],
    collection: str | None = None,
    client: str | None = None,
    now: datetime | None = None,
) -> list[Outcome]:
    """Do ``action`` to each row in ``pks`` that it may be done to; return one outcome per row.

    ``collection`` is the target of COPY (id, alias or title, writable by the caller);
    ``client`` the registered client of RESHARE. Raises InvalidInput or Forbidden, with
    nothing written, when the action itself cannot be done (no rows, an unwritable target).
    """
    wanted = _checked_pks(pks)
    rows = _readable(session, principal, wanted)
    outcomes: dict[int, Outcome] = {}
    for pk in wanted:
        if pk not in rows:
            outcomes[pk] = Outcome(pk, None, None, Result.REFUSED, HIDDEN)

    # Two ticked rows of one series (a page older than the last action) are acted on once.
    key_of: dict[int, int] = {}
    echoes: dict[int, int] = {}
    for pk, row in list(rows.items()):
        if id(row) in key_of:
            echoes[pk] = key_of[id(row)]
            del rows[pk]
        else:
            key_of[id(row)] = pk

    def refuse(row: StixObject, reason: str) -> None:
        pk = key_of[id(row)]
        outcomes[pk] = Outcome(pk, row.stix_id, row.name, Result.REFUSED, reason, row.raw)

    def done(row: StixObject, result: Result = Result.DONE, reason: str | None = None) -> None:
        pk = key_of[id(row)]
        outcomes[pk] = Outcome(pk, row.stix_id, row.name, result, reason, row.raw)

    producers = dict(
        session.execute(
            select(Organisation.id, Organisation.name).where(
                Organisation.id.in_({r.producer_org_id for r in rows.values()})
            )
        ).all()
    )
    writable = {
        c.id for c, w in sharing.visible_collections(session=session, principal=principal) if w
    }

    def not_mine(row: StixObject) -> str | None:
        if row.producer_org_id == principal.org_id:
            return None
        return (
            f"shared by {producers.get(row.producer_org_id, 'another organisation')}: only the "
            f"organisation that shared an object may {action_verb[action]}"
        )

    action_verb = {
        Bulk.COPY: "share it into another collection",
        Bulk.REVOKE: "revoke it",
        Bulk.RESHARE: "re-share it",
    }
    moment = now or datetime.now(UTC)

    if action is Bulk.RESHARE:
        if not client:
            raise InvalidInput("choose the client to re-share to")
        for row in rows.values():
            try:
                browse.reshare(
                    session=session,
                    principal=principal,
                    collection_id=row.collection_id,
                    stix_id=row.stix_id,
                    client=client,
                )
            except (Forbidden, NotFound) as exc:
                refuse(row, exc.message)
            else:
                done(row)
    elif action is Bulk.REVOKE:
        batches: dict[str, list[tuple[StixObject, dict[str, Any]]]] = defaultdict(list)
        for row in rows.values():
            reason = not_mine(row)
            if reason is None and row.collection_id not in writable:
                reason = "you may no longer write to its collection"
            if reason is not None:
                refuse(row, reason)
                continue
            obj = json.loads(row.raw)
            if row.revoked or obj.get("revoked") is True:
                done(row, Result.UNCHANGED, "already revoked")
                continue
            batches[row.collection_id].append((row, _revoked_version(obj, moment)))
        for collection_id, batch in sorted(batches.items()):
            target = sharing.get_collection(session=session, collection_id=collection_id)
            _share(session, principal, target, batch)
            for row, _ in batch:
                done(row)
    else:
        if not collection:
            raise InvalidInput("choose the collection to share into")
        into = next(
            (
                c
                for c, w in sharing.visible_collections(session=session, principal=principal)
                if w and collection in (c.id, c.alias, c.title)
            ),
            None,
        )
        if into is None:
            raise Forbidden("choose a collection you may share into")
        present = set(
            session.execute(
                select(StixObject.stix_id, StixObject.version).where(
                    StixObject.collection_id == into.id,
                    StixObject.stix_id.in_({r.stix_id for r in rows.values()}),
                    StixObject.producer_org_id == principal.org_id,
                )
            ).all()
        )
        copies = []
        for row in rows.values():
            reason = not_mine(row)
            if reason is not None:
                hint = (
                    " (a TLP:AMBER object may be re-shared to a client)"
                    if row.tlp == "amber"
                    else ""
                )
                refuse(row, reason + hint)
            elif (row.stix_id, row.version) in present:
                done(row, Result.UNCHANGED, "already in that collection")
            else:
                copies.append((row, json.loads(row.raw)))
        if copies:
            _share(session, principal, into, copies)
            for row, _ in copies:
                done(row)

    for pk, first in echoes.items():
        outcomes[pk] = Outcome(pk, *astuple(outcomes[first])[1:])
    ordered = [outcomes[pk] for pk in wanted]
    audit.record(
        session=session,
        actor=principal.label,
        action=f"objects.bulk.{action.value}",
        target=collection or client or "",
        details={
            "done": [o.stix_id for o in ordered if o.result is Result.DONE],
            "unchanged": [o.stix_id for o in ordered if o.result is Result.UNCHANGED],
            "refused": len([o for o in ordered if o.result is Result.REFUSED]),
        },
    )
    return ordered


def clients(*, session: Session, principal: Principal) -> list[str]:
    """Return the names of the registered clients of the caller's organisation."""
    return list(
        session.execute(
            select(Organisation.name)
            .join(ClientRelation, ClientRelation.client_id == Organisation.id)
            .where(ClientRelation.provider_id == principal.org_id)
            .order_by(Organisation.name)
        ).scalars()
    )
