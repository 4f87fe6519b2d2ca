"""The evaluator: what happened since the last run, for whom, readable by them; then delivery.

:func:`evaluate` gathers alerts from every source (objects added since the cursors — TLP:RED
to me, watches, sightings of my organisation's indicators —; report deadlines within six
hours; clearances expiring; federation links lagging), inserts each once (the dedupe key is
unique, so several processes evaluating at once insert it once), and moves the cursors in the
same transaction. :func:`deliver` then sends the e-mail and webhook copies. :func:`run_once` is
both, as the periodic worker and ``varsel alerts run-once`` do them.

The private modules: ``_people`` (who may be alerted, readability), ``_atoms`` (the values an
object is about and watch matching), ``_objects`` (new objects), ``_timed`` (deadlines,
clearances, lag) and ``_deliver`` (e-mail and webhook copies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from varsel import config
from varsel.alerts.flows._atoms import atoms_of, concerns
from varsel.alerts.flows._deliver import DeliveryResult, deliver, payload, still_readable
from varsel.alerts.flows._objects import from_new_objects, move_cursor
from varsel.alerts.flows._people import People
from varsel.alerts.flows._timed import clearances, deadlines, lagging_links
from varsel.alerts.service import insert_once
from varsel.clock import naive
from varsel.reporting import notify as notifying

__all__ = [
    "DeliveryResult",
    "Evaluation",
    "atoms_of",
    "concerns",
    "deliver",
    "evaluate",
    "payload",
    "run_once",
    "still_readable",
]


@dataclass
class Evaluation:
    """What one evaluation found and how much of it was new."""

    found: int = 0
    created: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    delivery: DeliveryResult | None = None


def evaluate(
    *,
    session: Session,
    now: datetime | None = None,
    lag_threshold_s: int | None = None,
    reader: Session | None = None,
) -> Evaluation:
    """Insert every alert due now that is not there yet; commit; return what was done.

    With ``reader`` (a read-only session) everything is read there and ``session`` only
    writes: on SQLite a writing transaction holds the hub's write lock from its first
    statement, and shares should not wait for the reading.
    """
    now = now or datetime.now(UTC)
    threshold = (
        lag_threshold_s if lag_threshold_s is not None else config.current().alert_lag_seconds
    )
    source = reader or session
    people = People(source)
    found, moves = from_new_objects(session=source, people=people, now=now)
    found += deadlines(session=source, people=people, now=now)
    found += clearances(session=source, people=people, now=now)
    found += lagging_links(session=source, people=people, now=now, threshold_s=threshold)
    people.channels(0)  # read the preferences here too, before the writing starts
    if reader is not None:
        reader.rollback()
    result = Evaluation(found=len(found))
    stamp = naive(now)
    for new in found:
        email, webhook = people.channels(new.user_id)
        if insert_once(session=session, new=new, email=email, webhook=webhook, now=stamp):
            result.created += 1
            result.by_kind[new.kind] = result.by_kind.get(new.kind, 0) + 1
    for name, position in moves:
        move_cursor(session, name, position, stamp)
    session.commit()
    return result


def run_once(
    sessions: sessionmaker[Session],
    *,
    now: datetime | None = None,
    settings: notifying.NotifySettings | None = None,
    readers: sessionmaker[Session] | None = None,
) -> Evaluation:
    """Evaluate (reading through ``readers`` when given), then deliver the pending copies."""
    with sessions() as session, (readers or sessions)() as reader:
        result = evaluate(session=session, now=now, reader=reader if readers else None)
    with sessions() as session:
        result.delivery = deliver(
            session=session, settings=settings or notifying.NotifySettings.from_config()
        )
    return result
