"""What wakes a server process's streams when one of their collections changes.

One :class:`Wakeups` per server process, each with one thread: on PostgreSQL the thread holds a
connection of its own that ``LISTEN``\\s on :data:`varsel.sharing.feed.CHANNEL`, which every
commit that adds objects or tombstones notifies (:func:`varsel.sharing.feed.announce`), so
every process on the database wakes its streams at once; on SQLite, which has no such thing,
the thread reads the watched collections' heads every :data:`POLL_SECONDS`. A stream waits on a
:class:`Waiter` and reads again when woken. While the listener is not connected (starting,
or after losing its connection) :attr:`Wakeups.reliable` is false and streams poll themselves;
on (re)connecting every stream is woken, since notifications meanwhile were lost.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from typing import Final

from sqlalchemy import Engine, select

from varsel.db import make_sessionmaker
from varsel.sharing.feed import CHANNEL
from varsel.sharing.models import Collection

# How often SQLite streams look for new rows (and PostgreSQL ones while not listening).
POLL_SECONDS: Final = 0.2
# How long the listener blocks before it looks whether it should stop.
_LISTEN_TICK: Final = 0.1
_RECONNECT_SECONDS: Final = 1.0
_MAX_RECONNECT_SECONDS: Final = 30.0

log = logging.getLogger("varsel.stream")


class Waiter:
    """One stream's alarm: set from any thread when one of its collections changes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, collection_ids: frozenset[str]) -> None:
        self.loop = loop
        self.collection_ids = collection_ids
        self._event = asyncio.Event()

    def clear(self) -> None:
        """Forget earlier wake-ups; call before reading, so none after the read is lost."""
        self._event.clear()

    async def wait(self, timeout: float) -> bool:
        """Return True when woken within ``timeout`` seconds, False when it passed."""
        try:
            await asyncio.wait_for(self._event.wait(), max(timeout, 0.0))
        except TimeoutError:
            return False
        return True

    def ring(self) -> None:
        """Wake the stream (from any thread)."""
        try:
            self.loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop is closed: the stream is gone
            pass


class Wakeups:
    """The streams of one process by collection, and the thread that wakes them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Waiter]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening = False

    @property
    def reliable(self) -> bool:
        """Return whether every change wakes the streams (else they must poll)."""
        running = self._thread is not None and self._thread.is_alive()
        return running and (self._listening or not self._postgres)

    def start(self) -> None:
        """Start the thread unless it runs already."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            target = self._listen if self._postgres else self._poll
            self._thread = threading.Thread(
                target=target, name="varsel-stream-wakeups", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (at most a second or so)."""
        with self._lock:
            thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=5)

    def subscribe(self, collection_ids: Iterable[str]) -> Waiter:
        """Return a waiter woken by changes to these collections; call on the stream's loop."""
        waiter = Waiter(asyncio.get_running_loop(), frozenset(collection_ids))
        with self._lock:
            for cid in waiter.collection_ids:
                self._waiters.setdefault(cid, set()).add(waiter)
        return waiter

    def unsubscribe(self, waiter: Waiter) -> None:
        """Stop waking ``waiter``."""
        with self._lock:
            for cid in waiter.collection_ids:
                waiting = self._waiters.get(cid)
                if waiting is not None:
                    waiting.discard(waiter)
                    if not waiting:
                        del self._waiters[cid]

    def wake(self, collection_id: str) -> None:
        """Wake the streams of ``collection_id``."""
        with self._lock:
            waiting = list(self._waiters.get(collection_id, ()))
        for waiter in waiting:
            waiter.ring()

    def wake_all(self) -> None:
        """Wake every stream."""
        with self._lock:
            waiting = {w for ws in self._waiters.values() for w in ws}
        for waiter in waiting:
            waiter.ring()

    def _watched(self) -> list[str]:
        with self._lock:
            return sorted(self._waiters)

    def _listen(self) -> None:
        """Hold a LISTEN connection, reconnecting after a loss, until stopped."""
        import psycopg

        args, kwargs = self._engine.dialect.create_connect_args(self._engine.url)
        kwargs.pop("context", None)
        pause = _RECONNECT_SECONDS
        while not self._stop.is_set():
            try:
                with psycopg.connect(*args, autocommit=True, **kwargs) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening = True
                    pause = _RECONNECT_SECONDS
                    self.wake_all()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=_LISTEN_TICK):
                            self.wake(note.payload)
            except psycopg.Error as exc:
                log.warning("stream listener has no database connection: %s", exc)
            finally:
                self._listening = False
            # Streams poll meanwhile (``reliable`` is false), so waiting longer loses nothing.
            self._stop.wait(pause)
            pause = min(pause * 2, _MAX_RECONNECT_SECONDS)

    def _poll(self) -> None:
        """Read the watched collections' heads every POLL_SECONDS; wake on every change."""
        readers = make_sessionmaker(self._engine, read_only=True)
        seen: dict[str, int] = {}
        while not self._stop.wait(POLL_SECONDS):
            ids = self._watched()
            if not ids:
                seen.clear()
                continue
            try:
                with readers() as session:
                    heads: dict[str, int] = {}
                    for cid, last in session.execute(
                        select(Collection.id, Collection.last_added_us).where(
                            Collection.id.in_(ids)
                        )
                    ):
                        heads[cid] = last
            except Exception as exc:  # a locked or vanished file: try again next tick
                log.warning("stream poll failed: %s", exc)
                continue
            for cid in ids:
                now = heads.get(cid)
                # A first sighting wakes too: the stream may have read just before a commit.
                if now is None or seen.get(cid) != now:
                    self.wake(cid)
                if now is not None:
                    seen[cid] = now
            for cid in set(seen) - set(ids):
                del seen[cid]
