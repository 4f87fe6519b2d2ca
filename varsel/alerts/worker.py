"""The alerts evaluator as a periodic thread of ``varsel serve`` (``VARSEL_ALERTS``).

Every process of the hub starts one; a lease in the database (``alerts-evaluator``, the
federation worker's lease table) lets one of them evaluate at a time. Were two to run anyway
(a lease expired mid-run), the unique dedupe key still alerts each event once.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from varsel.alerts import flows
from varsel.errors import VarselError
from varsel.federation import lease

log = logging.getLogger("varsel.alerts")
LEASE = "alerts-evaluator"


class AlertsWorker:
    """Runs :func:`varsel.alerts.flows.run_once` every ``interval_s`` while it holds the lease."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        interval_s: float,
        readers: sessionmaker[Session] | None = None,
    ) -> None:
        self.sessions, self.readers, self.interval_s = sessions, readers, interval_s
        self.holder = lease.new_holder()
        self.runs = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="alerts-evaluator", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if lease.acquire(
                    self.sessions, holder=self.holder, name=LEASE, ttl_s=3 * self.interval_s + 30
                ):
                    flows.run_once(self.sessions, readers=self.readers)
                    self.runs += 1
            except (SQLAlchemyError, VarselError) as exc:
                # Logged without detail: a message may carry values; the next run tries again.
                log.warning("alerts evaluation failed: %s", type(exc).__name__)
            self._stop.wait(self.interval_s)
        try:
            lease.release(self.sessions, holder=self.holder, name=LEASE)
        except SQLAlchemyError:
            pass  # it expires on its own

    def start(self) -> AlertsWorker:
        """Start the thread; return self."""
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current run, waiting at most ``timeout`` seconds."""
        self._stop.set()
        self.thread.join(timeout=timeout)


def start_background(
    sessions: sessionmaker[Session], *, readers: sessionmaker[Session], interval_s: float
) -> AlertsWorker:
    """Start the alerts evaluator in a background thread of this process."""
    return AlertsWorker(sessions, readers=readers, interval_s=interval_s).start()
