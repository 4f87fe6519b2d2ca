"""A per-process sliding-window counter of failed authentications per client address."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class FailureWindow:
    """Count failures per key over the last ``window`` seconds; refuse above ``limit``."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        events = self._events[key]
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def blocked(self, key: str) -> bool:
        """Return whether ``key`` has used up its failures for now."""
        with self._lock:
            events = self._trim(key, time.monotonic())
            if not events:
                self._events.pop(key, None)
                return False
            return len(events) >= self.limit

    def fail(self, key: str) -> None:
        """Note one failure for ``key``."""
        with self._lock:
            self._trim(key, time.monotonic()).append(time.monotonic())
