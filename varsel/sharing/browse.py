"""Search across collections for people (REST and web), and re-share TLP:AMBER to clients.

Searches return the latest version of each object the principal may read, newest first; like
every read they are built as a query and narrowed by :func:`varsel.policy.restrict`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import datetime_to_us, utcnow
from varsel.errors import Forbidden, InvalidInput, NotFound
from varsel.orgs.models import ClientRelation, Community, Organisation
from varsel.orgs.service import get_org
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import cursor as cursors
from varsel.sharing.models import Collection, Reshare, StixObject
from varsel.sharing.tlp import TLP
from varsel.sharing.validation import InvalidStixObject, parse_timestamp


@dataclass(frozen=True)
class BrowseFilters:
    """What a person can filter the object list by."""

    type: str | None = None
    tlp: TLP | None = None
    collection: str | None = None
    producer: str | None = None
    country: str | None = None
    community: str | None = None
    added_after_us: int | None = None
    text: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        type: str | None = None,
        tlp: str | None = None,
        collection: str | None = None,
        producer: str | None = None,
        country: str | None = None,
        community: str | None = None,
        added_after: str | None = None,
        text: str | None = None,
    ) -> BrowseFilters:
        """Return filters from user input (empty strings mean 'any'), or raise InvalidInput."""
        max_text = 500  # a LIKE pattern beyond SQLite's limit (50,000 bytes) fails the query
        if text and len(text) > max_text:
            raise InvalidInput(f"the search text has {len(text)} characters; at most {max_text}")
        given = {
            "type": type,
            "tlp": tlp,
            "collection": collection,
            "producer": producer,
            "country": country,
            "community": community,
            "added_after": added_after,
            "text": text,
        }
        for name, value in given.items():
            if value and "\x00" in value:
                # PostgreSQL text cannot hold NUL; refuse it on both databases alike.
                raise InvalidInput(f"the filter {name!r} must not contain a NUL character")
        level = None
        if tlp:
            try:
                level = TLP.parse(tlp)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
        after = None
        if added_after:
            value = added_after.strip()
            if len(value) == 10:
                value += "T00:00:00Z"
            try:
                after = datetime_to_us(parse_timestamp(value))
            except InvalidStixObject:
                raise InvalidInput(
                    f"'added since' must be a date or RFC 3339 timestamp, got {added_after!r}"
                ) from None
        return cls(
            type=type or None,
            tlp=level,
            collection=collection or None,
            producer=producer or None,
            country=(country or "").upper() or None,
            community=community or None,
            added_after_us=after,
            text=(text or "").strip() or None,
        )


@dataclass(frozen=True, slots=True)
class Hit:
    """One object version as a search shows it."""

    pk: int
    stix_id: str
    type: str
    name: str | None
    tlp: str
    version: str
    collection_id: str
    producer: str
    country: str
    date_added_us: int
    raw: str


@dataclass
class Results:
    """A page of hits and the cursor of the next page."""

    rows: list[Hit] = field(default_factory=list)
    more: bool = False
    next: str | None = None


_COLUMNS = (
    StixObject.id,
    StixObject.stix_id,
    StixObject.type,
    StixObject.name,
    StixObject.tlp,
    StixObject.version,
    StixObject.collection_id,
    Organisation.name,
    Organisation.country,
    StixObject.date_added_us,
    StixObject.raw,
)


def _query(principal: Principal, filters: BrowseFilters):  # type: ignore[no-untyped-def]
    query = (
        select(*_COLUMNS)
        .join(Organisation, Organisation.id == StixObject.producer_org_id)
        .where(StixObject.is_latest.is_(True))
    )
    query = restrict(query, principal, Action.READ)
    if filters.type:
        query = query.where(StixObject.type == filters.type)
    if filters.tlp:
        query = query.where(StixObject.tlp == filters.tlp.value)
    if filters.collection:
        query = query.where(StixObject.collection_id == filters.collection)
    if filters.producer:
        query = query.where(Organisation.name == filters.producer)
    if filters.country:
        query = query.where(Organisation.country == filters.country)
    if filters.community:
        # Through the policy too: filtering by an unlisted community's name must not tell an
        # outsider (by the TLP:CLEAR objects it would find) that the community exists.
        query = query.where(
            StixObject.collection_id.in_(
                restrict(
                    select(Collection.id)
                    .join(Community, Community.id == Collection.community_id)
                    .where(Community.name == filters.community),
                    principal,
                    Action.READ,
                )
            )
        )
    if filters.added_after_us is not None:
        query = query.where(StixObject.date_added_us > filters.added_after_us)
    if filters.text:
        needle = (
            "%"
            + filters.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        query = query.where(
            or_(
                func.lower(StixObject.name).like(needle, escape="\\"),
                func.lower(StixObject.raw).like(needle, escape="\\"),
            )
        )
    return query


def search(
    *,
    session: Session,
    principal: Principal,
    filters: BrowseFilters,
    limit: int,
    next_cursor: str | None,
    secret_key: str,
) -> Results:
    """Return a page of the latest object versions ``principal`` may read, newest first."""
    query = _query(principal, filters)
    if next_cursor:
        before_us, before_pk = cursors.decode(secret_key, next_cursor)
        query = query.where(
            or_(
                StixObject.date_added_us < before_us,
                and_(StixObject.date_added_us == before_us, StixObject.id < before_pk),
            )
        )
    query = query.order_by(StixObject.date_added_us.desc(), StixObject.id.desc()).limit(limit + 1)
    rows = [Hit(*r) for r in session.execute(query)]
    result = Results(rows=rows[:limit], more=len(rows) > limit)
    if result.more:
        last = result.rows[-1]
        result.next = cursors.encode(secret_key, last.date_added_us, last.pk)
    _audit_red(session, principal, result.rows)
    return result


def count(*, session: Session, principal: Principal, filters: BrowseFilters) -> int:
    """Return how many latest object versions match, as the caller may read them."""
    sub = _query(principal, filters).subquery()
    return int(session.execute(select(func.count()).select_from(sub)).scalar_one())


def versions_of(*, session: Session, principal: Principal, stix_id: str) -> list[Hit]:
    """Return every version of ``stix_id`` the principal may read, oldest first."""
    query = (
        select(*_COLUMNS)
        .join(Organisation, Organisation.id == StixObject.producer_org_id)
        .where(StixObject.stix_id == stix_id)
    )
    query = restrict(query, principal, Action.READ).order_by(
        StixObject.version_key, StixObject.date_added_us
    )
    rows = [Hit(*r) for r in session.execute(query)]
    if not rows:
        raise NotFound(f"no object {stix_id!r} that you may read")
    _audit_red(session, principal, rows)
    return rows


def _audit_red(session: Session, principal: Principal, rows: list[Hit]) -> None:
    red = [f"{r.stix_id}@{r.version}" for r in rows if r.tlp == TLP.RED.value]
    if red:
        audit.record(
            session=session,
            actor=principal.label,
            action="objects.read.red",
            target="search",
            details={"objects": red},
        )


def reshare(
    *, session: Session, principal: Principal, collection_id: str, stix_id: str, client: str
) -> int:
    """Re-share the readable TLP:AMBER versions of ``stix_id`` with a registered client.

    TLP 2.0 lets a recipient pass TLP:AMBER on to its clients on a need-to-know basis; TLP:
    AMBER+STRICT and TLP:RED never go further, and TLP:CLEAR and GREEN need no re-share.
    """
    target = get_org(session=session, name=client)
    if session.get(ClientRelation, (principal.org_id, target.id)) is None:
        raise Forbidden(f"{client!r} is not a registered client of {principal.org_name!r}")
    rows = session.execute(
        restrict(select(StixObject.id, StixObject.tlp), principal, Action.READ).where(
            StixObject.collection_id == collection_id, StixObject.stix_id == stix_id
        )
    ).all()
    if not rows:
        raise NotFound(f"no object {stix_id!r} that you may read in collection {collection_id!r}")
    amber = [pk for pk, tlp in rows if tlp == TLP.AMBER.value]
    if not amber:
        levels = sorted({TLP(t).label for _, t in rows})
        raise Forbidden(
            f"only TLP:AMBER may be re-shared to clients; this object is {', '.join(levels)}"
        )
    now = utcnow()
    added = 0
    for pk in amber:
        exists = session.execute(
            select(Reshare.id).where(
                Reshare.object_pk == pk,
                Reshare.from_org_id == principal.org_id,
                Reshare.to_org_id == target.id,
            )
        ).first()
        if exists is None:
            session.add(
                Reshare(
                    object_pk=pk,
                    from_org_id=principal.org_id,
                    to_org_id=target.id,
                    by_user_id=principal.user_id,
                    created_at=now,
                )
            )
            added += 1
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="objects.reshare",
        target=stix_id,
        details={"collection": collection_id, "client": client, "versions": len(amber)},
    )
    return len(amber)


_DAY_US = 86_400 * 1_000_000


def tally(
    *, session: Session, principal: Principal, filters: BrowseFilters, by: str
) -> list[tuple[str | int, int]]:
    """Return how many matching latest versions there are per TLP, country or UTC day.

    ``by`` is ``"tlp"``, ``"country"`` or ``"day"`` (days as µs since the epoch at 00:00 UTC);
    the rows are exactly those :func:`search` pages through, so the sums agree with it.
    """
    sub = _query(principal, filters).subquery()
    keys = {
        "tlp": sub.c.tlp,
        "country": sub.c.country,
        "day": (sub.c.date_added_us // _DAY_US) * _DAY_US,
    }
    if by not in keys:
        raise InvalidInput(f"cannot tally by {by!r}; expected one of {', '.join(keys)}")
    key = keys[by].label("key")
    rows = session.execute(select(key, func.count()).select_from(sub).group_by(key).order_by(key))
    return [(k, int(n)) for k, n in rows]


# Counting a list without a slow COUNT ------------------------------------------------------

COUNT_CAP = 10_000  # beyond this a list says "more than 10,000"
COUNT_BUDGET_MS = 50  # the time a page may spend counting before it says less


@dataclass(frozen=True)
class Count:
    """How many objects a list holds, as far as it was cheap to find out.

    ``exact``: ``n`` is the number. Otherwise there are *more than* ``n``: either the count
    stopped at the cap, or it ran out of time and ``n`` is what the caller already knew
    (``at_least``, e.g. one page and a next one); ``capped`` says which.
    """

    n: int
    exact: bool
    capped: bool = False


def count_capped(
    *,
    session: Session,
    principal: Principal,
    filters: BrowseFilters,
    at_least: int = 0,
    cap: int = COUNT_CAP,
    budget_ms: int = COUNT_BUDGET_MS,
) -> Count:
    """Return how many latest versions match, counting at most ``cap + 1`` within a time budget.

    The rows are those :func:`search` pages through, narrowed by the same policy. Counting
    stops at ``cap + 1`` rows, so a reader who may see most of a million objects costs a bounded
    scan; a reader who sees few may still make the database look at every row, so the count is
    given ``budget_ms`` and, past it, the answer is "more than ``at_least``" — never a guess
    dressed as a number.
    """
    limited = _query(principal, filters).with_only_columns(StixObject.id).limit(cap + 1).subquery()
    statement = select(func.count()).select_from(limited)
    counted = _within(session, budget_ms, lambda: int(session.execute(statement).scalar_one()))
    if counted is None:
        return Count(at_least, exact=False)
    if counted > cap:
        return Count(cap, exact=False, capped=True)
    return Count(counted, exact=True)


def _within(session: Session, budget_ms: int, work: Callable[[], int]) -> int | None:
    """Return ``work()``, or None if the database could not finish it within ``budget_ms``."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        savepoint = session.begin_nested()
        try:
            # SET LOCAL lasts to the end of the transaction, or until the savepoint rolls back.
            previous = session.execute(text("SHOW statement_timeout")).scalar_one()
            previous_jit = session.execute(text("SHOW jit")).scalar_one()
            # JIT compiling a query planned over a million rows took 150-250 ms on its own,
            # and cannot be cancelled: a count that must answer within a budget goes without.
            session.execute(text("SELECT set_config('jit', 'off', true)"))
            session.execute(
                # 0 would mean "no limit" to PostgreSQL; the smallest budget is 1 ms.
                text("SELECT set_config('statement_timeout', :ms, true)"),
                {"ms": str(max(1, budget_ms))},
            )
            result = work()
            session.execute(
                text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": previous}
            )
            session.execute(text("SELECT set_config('jit', :on, true)"), {"on": previous_jit})
        except DBAPIError as exc:
            savepoint.rollback()
            if getattr(exc.orig, "sqlstate", None) == "57014":  # query_canceled
                return None
            raise
        savepoint.commit()
        return result
    raw = connection.connection.dbapi_connection
    deadline = time.monotonic() + budget_ms / 1000
    expired = False

    def stop() -> int:
        nonlocal expired
        expired = time.monotonic() > deadline
        return 1 if expired else 0

    raw.set_progress_handler(stop, 5_000)  # type: ignore[union-attr]
    try:
        return work()
    except OperationalError:
        # An interrupted SELECT leaves SQLite's transaction as it was (sqlite3_interrupt).
        if expired:
            return None
        raise
    finally:
        raw.set_progress_handler(None, 0)  # type: ignore[union-attr]
