"""The worker itself: it holds the lease and keeps a runner going for every link direction."""

from __future__ import annotations

import logging
import random
import threading
import time

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from varsel.errors import Busy
from varsel.federation import lease
from varsel.federation.client import Limits
from varsel.federation.models import Direction, PeerLink
from varsel.federation.worker._checks import Outcome
from varsel.federation.worker._runner import PULL, PUSH, LinkRunner

log = logging.getLogger("varsel.federation")


class LeaseBusy(Busy):
    """Another process holds the federation worker's lease."""


# How often a worker holding the lease looks for links added or removed.
LINKS_EVERY_S = 1.0


class Worker:
    """Holds the lease and runs a :class:`LinkRunner` for every link direction while it does."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        hub_name: str,
        readers: sessionmaker[Session] | None = None,
        limits: Limits | None = None,
        holder: str | None = None,
        ttl_s: float = lease.TTL_S,
        renew_s: float = lease.RENEW_S,
        push_poll_s: float = 0.5,
        reconnect_s: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions, self.hub_name = sessions, hub_name
        # Reads go through read-only sessions: on SQLite a writing session takes the write lock
        # from its first statement, and a push polls every half second.
        self.readers = readers or sessions
        self.limits = limits or Limits()
        self.holder = holder or lease.new_holder()
        self.ttl_s, self.renew_s = ttl_s, renew_s
        self.push_poll_s, self.reconnect_s = push_poll_s, reconnect_s
        self.rng = rng or random.Random()
        self.runners: dict[tuple[int, str], LinkRunner] = {}
        self.holding = threading.Event()

    def _wanted(self) -> list[tuple[int, str]]:
        with self.readers() as session:
            rows = session.execute(select(PeerLink.id, PeerLink.direction).order_by(PeerLink.id))
            wanted = []
            for link_id, direction in rows:
                if direction in (Direction.PULL.value, Direction.BOTH.value):
                    wanted.append((link_id, PULL))
                if direction in (Direction.PUSH.value, Direction.BOTH.value):
                    wanted.append((link_id, PUSH))
            return wanted

    def _take(self) -> bool:
        try:
            held = lease.acquire(self.sessions, holder=self.holder, ttl_s=self.ttl_s)
        except SQLAlchemyError as exc:
            log.warning("federation worker: cannot renew its lease: %s", type(exc).__name__)
            held = False
        if held and not self.holding.is_set():
            log.info("federation worker %s holds the lease", self.holder)
        (self.holding.set if held else self.holding.clear)()
        return held

    def _stop_runners(self, keep: set[tuple[int, str]] | None = None) -> None:
        for key, runner in list(self.runners.items()):
            if keep is None or key not in keep:
                runner.stop()
        for key, runner in list(self.runners.items()):
            if keep is None or key not in keep:
                runner.join(timeout=2)
                del self.runners[key]

    def _sync_runners(self) -> None:
        wanted = set(self._wanted())
        self._stop_runners(keep=wanted)
        for key in sorted(wanted):
            running = self.runners.get(key)
            if running is None or not running.is_alive():
                runner = self.runners[key] = LinkRunner(self, key[0], key[1], once=False)
                runner.start()

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set: take the lease when free, run the links while held.

        The lease is renewed every ``renew_s``; links added or removed are looked for every
        ``LINKS_EVERY_S`` in between, so a new link starts within about a second.
        """
        try:
            renew_at, held = 0.0, False
            while not stop.is_set():
                if time.monotonic() >= renew_at:
                    held = self._take()
                    renew_at = time.monotonic() + self.renew_s
                if held:
                    try:
                        self._sync_runners()
                    except SQLAlchemyError as exc:
                        log.warning("federation worker: cannot read links: %s", type(exc).__name__)
                else:
                    self._stop_runners()
                stop.wait(min(LINKS_EVERY_S, self.renew_s))
        finally:
            self._stop_runners()
            if self.holding.is_set():
                try:
                    lease.release(self.sessions, holder=self.holder)
                except SQLAlchemyError:
                    pass  # it expires on its own
                self.holding.clear()

    def run_once(self, *, lease_wait_s: float | None = None) -> list[Outcome]:
        """Bring every link up to date once (``until_idle``) and return how each ended."""
        deadline = time.monotonic() + (
            self.ttl_s + self.renew_s if lease_wait_s is None else lease_wait_s
        )
        while not self._take():
            if time.monotonic() > deadline:
                with self.readers() as session:
                    row = lease.holder_of(session)
                who = row.holder if row else "another process"
                raise LeaseBusy(
                    f"the federation worker runs in {who} (a `varsel serve`?); it keeps the "
                    "links in sync already"
                )
            time.sleep(min(1.0, self.renew_s))
        try:
            runners = [LinkRunner(self, lid, way, once=True) for lid, way in self._wanted()]
            for runner in runners:
                runner.start()
            while any(r.is_alive() for r in runners):
                for runner in runners:
                    runner.join(timeout=self.renew_s / max(1, len(runners)))
                if not self._take():
                    for runner in runners:
                        runner.stop()
            return [
                r.outcome
                or Outcome(r._peer, r.link_id, r.direction, False, r.moved, "the lease was lost")
                for r in runners
            ]
        finally:
            lease.release(self.sessions, holder=self.holder)
            self.holding.clear()


class Background:
    """The worker in a thread of ``varsel serve``; :meth:`stop` ends it and gives the lease up."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self.thread = threading.Thread(
            target=worker.run, args=(self._stop,), name="federation-worker", daemon=True
        )

    def start(self) -> Background:
        """Start the worker's thread; return self."""
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker and its links, waiting at most ``timeout`` seconds."""
        self._stop.set()
        for runner in list(self.worker.runners.values()):
            runner.stop()
        self.thread.join(timeout=timeout)


def start_background(
    sessions: sessionmaker[Session], *, readers: sessionmaker[Session], hub_name: str
) -> Background:
    """Start the federation worker in a background thread of this process."""
    return Background(Worker(sessions, readers=readers, hub_name=hub_name)).start()
