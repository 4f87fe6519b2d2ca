"""Events shared one by one as a local principal, converted ahead in worker processes."""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Any

from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from varsel.errors import Forbidden, VarselError
from varsel.misp import service
from varsel.misp.flows import writing
from varsel.misp.flows.importing._files import Item
from varsel.policy.principal import Principal
from varsel.sharing.models import Collection
from varsel.sharing.tlp import TLP


def unreadable(item: Item) -> writing.EventOutcome:
    """Return the outcome of an item that was not an event: refused, with its reason."""
    return writing.EventOutcome(
        "?",
        "",
        writing.Status.REFUSED,
        item.error or "not a MISP event",
        writing.Refusal.INVALID,
    )


def share_items(
    *,
    session: Session,
    principal: Principal,
    collection: Collection,
    items: Iterable[Item],
    on_outcome: Callable[[Item, writing.EventOutcome], None] = lambda _i, _o: None,
    workers: int = 1,
) -> list[writing.EventOutcome]:
    """Share each event of ``items`` into ``collection``; commit after each event.

    Each event is its own unit of work (:func:`varsel.misp.flows.writing.share_converted`): an
    event refused, or an item that is no event, leaves the others as they are. With
    ``workers`` > 1, events are converted (pure work, most of an import's time) that many at a
    time in worker processes, a few events ahead, while this process stores them in order.
    """
    convert_one = functools.partial(
        writing.convert_event,
        mapping=service.mapping_of(session),
        default=TLP(collection.default_tlp),
        producer=principal.org_name,
        community=writing.community_of(session, collection),
    )
    # Events already here at their timestamp (a feed fetched again) are answered unconverted;
    # the decision is stable, since an event's latest version here only ever grows.
    settled: dict[int, writing.EventOutcome] = {}

    def sorted_out(items: Iterable[Item]) -> Iterator[Item]:
        for item in items:
            if item.event is not None:
                early = writing.settled_before_converting(
                    session=session, principal=principal, collection=collection, event=item.event
                )
                if early is not None:
                    settled[id(item)] = early
            yield item

    outcomes = []
    with _converter(workers) as pool:
        for item, prepared in _ahead(
            sorted_out(items), convert_one, pool, depth=2 * workers, skip=settled
        ):
            if id(item) in settled:
                outcome = settled.pop(id(item))
            elif prepared is None:
                outcome = unreadable(item)
            else:
                try:
                    outcome = writing.share_converted(
                        session=session,
                        principal=principal,
                        collection=collection,
                        converted=prepared,
                    )
                except Forbidden:
                    session.rollback()
                    raise
                except VarselError as exc:
                    session.rollback()
                    outcome = writing.EventOutcome(
                        prepared.uuid,
                        prepared.info,
                        writing.Status.REFUSED,
                        exc.message,
                        writing.Refusal.DENIED,
                    )
                except DataError:
                    # A value the database cannot store (out of range, a NUL on PostgreSQL):
                    # this event is refused, the import goes on.
                    session.rollback()
                    outcome = writing.EventOutcome(
                        prepared.uuid,
                        prepared.info,
                        writing.Status.REFUSED,
                        "the database refused a value of this event (out of range or not storable)",
                        writing.Refusal.INVALID,
                    )
            session.commit()
            outcomes.append(outcome)
            on_outcome(item, outcome)
    return outcomes


@contextmanager
def _converter(workers: int) -> Iterator[Executor | None]:
    """Yield a pool of ``workers`` converting processes, or None to convert in this one."""
    if workers <= 1:
        yield None
        return
    # Spawned, not forked: a fork would copy this process's threads' locks (the progress bar's,
    # logging's) in whatever state they are.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        yield pool


def _ahead(
    items: Iterable[Item],
    convert_one: Callable[[Any], writing.Prepared],
    pool: Executor | None,
    depth: int,
    skip: Mapping[int, object],
) -> Iterator[tuple[Item, writing.Prepared | None]]:
    """Yield each item with its event converted, in order, at most ``depth`` events ahead.

    Items in ``skip`` (by ``id``: decided without converting) and items with no event are
    yielded with None.
    """
    if pool is None:
        for item in items:
            wanted = item.event is not None and id(item) not in skip
            yield item, (_converted(convert_one, item) if wanted else None)
        return
    pending: deque[tuple[Item, Future[writing.Prepared] | None]] = deque()
    for item in items:
        wanted = item.event is not None and id(item) not in skip
        pending.append((item, pool.submit(convert_one, item.event) if wanted else None))
        if len(pending) >= depth:
            yield _settled(*pending.popleft())
    while pending:
        yield _settled(*pending.popleft())


def _converted(convert_one: Callable[[Any], writing.Prepared], item: Item) -> writing.Prepared:
    try:
        return convert_one(item.event)
    except Exception as exc:  # noqa: BLE001 - a converter fault refuses this event, not the import
        uid, info = writing.describe(item.event)
        return writing.Prepared(uid, info, None, f"the converter failed: {exc!r}")


def _settled(
    item: Item, future: Future[writing.Prepared] | None
) -> tuple[Item, writing.Prepared | None]:
    if future is None:
        return item, None
    try:
        return item, future.result()
    except Exception as exc:  # noqa: BLE001 - a converter fault refuses this event, not the import
        uid, info = writing.describe(item.event)
        return item, writing.Prepared(uid, info, None, f"the converter failed: {exc!r}")
