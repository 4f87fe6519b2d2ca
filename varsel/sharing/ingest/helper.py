"""Check an envelope against the warning lists in a helper process, beside the ingest.

A share of 500 indicators spends about as long on the warning lists as on validation, and both
are pure Python, so in one process they queue behind the GIL. The server therefore hands each
large envelope to one long-lived helper process (started with ``spawn``, lists loaded once)
*before* it validates; the helper decodes the envelope and checks every indicator while the
server validates, and the server collects the flags when it needs them. The result is the same
as :func:`warninglists.check_indicators` in the server's own process (each object's flags depend
only on its own pattern; tests/sharing/test_warninglist_helper.py checks it), so nothing the hub
decides changes, only where the work runs.

The helper is an optimisation and never a dependency: an envelope it cannot take (too small, the
helper busy with another share, not started yet, dead, too slow) is checked in-process, and a
dead helper is started again. Only envelope text crosses the pipe, from the server's own memory
to a child of the same user; no secret does.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from varsel import config

__all__ = ["Pending", "WarningListHelper", "helper_enabled"]

_log = logging.getLogger(__name__)

# Below this an envelope is checked in-process: the round trip would cost more than it saves.
MIN_BODY_BYTES = 16 * 1024
# How long a share waits for the helper before checking in-process after all.
RESULT_TIMEOUT_S = 30.0
START_TIMEOUT_S = 120.0


def helper_enabled() -> bool:
    """Return whether the server runs the helper: ``VARSEL_WARNINGLIST_HELPER`` (default: on
    when the machine has more than one core)."""
    return config.current().warninglist_helper


Flags = tuple[int, dict[int, list[str]]]  # objects in the envelope, flags by position


def _flags_of(body: bytes) -> Flags | None:
    """Return how many objects the envelope ``body`` holds and the flags of its indicators by
    position; None if it is not an envelope (the server reports that itself)."""
    from varsel.sharing.ingest import warninglists

    try:
        objects = json.loads(body).get("objects")
    except (ValueError, AttributeError):
        return None
    if not isinstance(objects, list):
        return None
    dicts = [obj if isinstance(obj, dict) else {} for obj in objects]
    found = warninglists.check_indicators(dicts)
    return len(objects), {position: flags for position, flags in enumerate(found) if flags}


def _serve(conn: Connection) -> None:  # pragma: no cover - runs in the child process
    """The helper's loop: envelope bytes in, ``(count, flags)`` out (None for a body that is not
    an envelope, an exception's name if the check failed), until the pipe closes."""
    from varsel.sharing.ingest._checks import preload_warning_lists

    preload_warning_lists()
    conn.send("ready")
    while True:
        try:
            body = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            conn.send(_flags_of(body))
        except Exception as exc:  # an envelope that breaks the check must not end the helper
            # Only the exception's type: its message may quote shared (even TLP:RED) values.
            conn.send(type(exc).__name__)


@dataclass
class Pending:
    """An envelope the helper is checking; :meth:`result` collects its flags once."""

    _helper: WarningListHelper
    _done: bool = False

    def result(self, objects: int) -> dict[int, list[str]] | None:
        """Return the flags by position in an envelope of ``objects`` objects, or None: check
        in-process then (also when the helper read the envelope differently)."""
        if self._done:
            raise RuntimeError("the helper's result was already collected")
        self._done = True
        answer = self._helper._collect()
        if answer is None or answer[0] != objects:
            return None
        return answer[1]

    def close(self) -> None:
        """Collect and drop the result if nobody did, so the helper takes the next envelope."""
        if not self._done:
            self._done = True
            self._helper._collect()


class WarningListHelper:
    """One helper process that checks envelopes against the warning lists, one at a time."""

    def __init__(self, *, min_body_bytes: int = MIN_BODY_BYTES) -> None:
        self._min_body_bytes = min_body_bytes
        self._lock = threading.Lock()  # held from submit until the result is collected
        self._conn: Connection | None = None
        self._process: Any = None
        self._launching: Any = None
        self._ready = False
        self._starting = False
        self._stopped = False
        # Envelopes checked here, and those that fell back to in-process (tests, benchmarks).
        self.checked = 0
        self.fallbacks = 0

    def start(self) -> None:
        """Start the helper process; it becomes usable once its lists are loaded."""
        with self._lock:
            if self._stopped or self._starting or self._process is not None:
                return
            self._starting = True
        threading.Thread(target=self._spawn, name="varsel-warninglist-helper", daemon=True).start()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded server
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), daemon=True)
        with self._lock:
            if self._stopped:
                self._starting = False
                return
            process.start()
            self._launching = process  # so that stop() can end it while it loads
        child.close()
        try:
            ready = parent.poll(START_TIMEOUT_S) and parent.recv() == "ready"
        except (OSError, EOFError):
            ready = False
        with self._lock:
            self._starting = False
            self._launching = None
            if not ready or self._stopped:
                if not self._stopped:
                    _log.warning("the warning-list helper did not start")
                parent.close()
                if process.is_alive():
                    process.kill()
                process.join(timeout=5)
                return
            self._conn, self._process, self._ready = parent, process, True

    @property
    def ready(self) -> bool:
        """Return whether the helper is up and has its lists loaded."""
        return self._ready

    def submit(self, body: str | bytes) -> Pending | None:
        """Start checking ``body`` in the helper; None when it cannot take it now."""
        if len(body) < self._min_body_bytes or not self._ready:
            return None
        if not self._lock.acquire(blocking=False):
            return None  # another share has it; this one is checked in-process
        conn = self._conn
        if not self._ready or conn is None:
            self._lock.release()
            return None
        try:
            conn.send_bytes(body.encode("utf-8") if isinstance(body, str) else body)
        except (OSError, ValueError) as exc:
            self._broken(f"could not send an envelope: {exc}")
            self._lock.release()
            return None
        return Pending(self)

    def _collect(self) -> Flags | None:
        try:
            conn = self._conn
            if conn is None:
                self.fallbacks += 1
                return None
            began = time.monotonic()
            try:
                if not conn.poll(RESULT_TIMEOUT_S):
                    self._broken(f"no answer in {time.monotonic() - began:.0f} s")
                    self.fallbacks += 1
                    return None
                answer = conn.recv()
            except (OSError, EOFError) as exc:
                self._broken(f"the pipe broke: {exc}")
                self.fallbacks += 1
                return None
            if isinstance(answer, str):
                _log.warning("the warning-list helper failed on an envelope: %s", answer)
                self.fallbacks += 1
                return None
            if answer is None:  # not an envelope: ingest refuses it on its own
                return None
            self.checked += 1
            count, flags = answer
            return int(count), dict(flags)
        finally:
            self._lock.release()

    def _broken(self, why: str) -> None:
        """Drop the helper (the lock is held) and start a new one in the background."""
        _log.warning("the warning-list helper is restarted: %s", why)
        self._close_process()
        if not self._stopped:
            self._starting = True
            threading.Thread(
                target=self._spawn, name="varsel-warninglist-helper", daemon=True
            ).start()

    def _close_process(self) -> None:
        self._ready = False
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(timeout=2)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=2)
        self._conn, self._process = None, None

    def stop(self) -> None:
        """End the helper process, also one still loading its lists."""
        with self._lock:
            self._stopped = True
            self._close_process()
            if self._launching is not None and self._launching.is_alive():
                self._launching.kill()  # its starter thread then finds the pipe closed

    @property
    def pid(self) -> int | None:
        """Return the helper's process id while it runs."""
        return None if self._process is None else int(self._process.pid)
