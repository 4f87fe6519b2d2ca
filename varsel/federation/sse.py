"""Read a peer's Server-Sent Events within limits: lines, events and time are all bounded.

``httpx_sse.EventSource.iter_sse`` buffers a line until its newline comes, however long: a peer
that sends one endless line would fill this hub's memory. This reader splits the bytes itself
(``\\r\\n``, ``\\n`` or ``\\r`` end a line, as the SSE specification says), refuses a line or an
event past its limit, and an event whose bytes trickle in for longer than ``max_event_seconds``
(a read timeout never fires while a byte a second keeps coming). With ``max_quiet_seconds`` it
also refuses a stream that dispatches no event for that long even though it sends comments: a
``peer sync --once`` must end. Field parsing follows the specification (WHATWG HTML §9.2.6).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from varsel.errors import UpstreamFailed


class StreamRefused(UpstreamFailed):
    """The peer's stream broke a limit or the protocol; the message says which."""


@dataclass(frozen=True)
class Event:
    """One dispatched event: its type (``message`` if none was named), data and last id."""

    event: str
    data: str
    id: str


class SseReader:
    """Turn a peer's byte chunks into events, refusing what is too long or too slow."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        max_line_bytes: int,
        max_event_bytes: int,
        max_event_seconds: float,
        max_quiet_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._chunks = chunks
        self._max_line = max_line_bytes
        self._max_event = max_event_bytes
        self._max_event_s = max_event_seconds
        self._max_quiet_s = max_quiet_seconds
        self._clock = clock
        self.last_id = ""

    def _lines(self) -> Iterator[bytes | None]:
        """Yield each line without its end, and None after each chunk (to check the clocks)."""
        buffer = bytearray()
        for chunk in self._chunks:
            buffer += chunk
            start = 0
            while True:
                cr, lf = buffer.find(b"\r", start), buffer.find(b"\n", start)
                ends = [i for i in (cr, lf) if i >= 0]
                if not ends:
                    break
                end = min(ends)
                if buffer[end] == 13 and end + 1 == len(buffer):
                    break  # a CR at the end of a chunk may be the first half of CRLF
                yield bytes(buffer[start:end])
                step = 2 if buffer[end] == 13 and buffer[end + 1] == 10 else 1
                start = end + step
            del buffer[:start]
            if len(buffer) > self._max_line:
                raise StreamRefused(f"the peer sent a line longer than {self._max_line} bytes")
            yield None
        if buffer.endswith(b"\r"):
            yield bytes(buffer[:-1])
        # Anything after the last line end is an incomplete event: discarded, as specified.

    def events(self) -> Iterator[Event]:
        """Yield each event as it completes; raise StreamRefused on a broken limit."""
        event_type, size = "", 0
        data: list[str] = []
        started: float | None = None
        quiet_since = self._clock()
        for line in self._lines():
            now = self._clock()
            if line is None:
                if started is not None and now - started > self._max_event_s:
                    raise StreamRefused(
                        f"the peer took more than {self._max_event_s:g} s to send one event"
                    )
                if self._max_quiet_s is not None and now - quiet_since > self._max_quiet_s:
                    raise StreamRefused(f"the peer sent no event for {self._max_quiet_s:g} s")
                continue
            if len(line) > self._max_line:
                raise StreamRefused(f"the peer sent a line longer than {self._max_line} bytes")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise StreamRefused("the peer's stream is not UTF-8") from None
            if not text:
                if data or event_type:
                    quiet_since = now
                    yield Event(event_type or "message", "\n".join(data), self.last_id)
                event_type, data, size, started = "", [], 0, None
                continue
            if text.startswith(":"):
                continue  # a comment: the heartbeat
            if started is None:
                started = now
            name, _, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event_type = value
            elif name == "data":
                size += len(line) + 1
                if size > self._max_event:
                    raise StreamRefused(
                        f"the peer sent an event larger than {self._max_event} bytes"
                    )
                data.append(value)
            elif name == "id" and "\x00" not in value:
                self.last_id = value
