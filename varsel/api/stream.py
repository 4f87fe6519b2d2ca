"""The subscription stream ``GET /api/v1/stream``: Server-Sent Events of collections' feeds.

docs/federation.md ("The stream") is the contract. Every event is read for the subscriber when
it is sent (:func:`varsel.sharing.feed.read_feed`, through ``restrict()``), in a short read-only
transaction in the thread pool; between reads a stream waits on its process's
:class:`varsel.sharing.wakeups.Wakeups` (LISTEN/NOTIFY on PostgreSQL, a 200 ms poll on SQLite)
and sends a heartbeat comment every :data:`HEARTBEAT_SECONDS` while idle. The credentials the
stream was opened with are checked again on every wake (at most every
:data:`RECHECK_SECONDS`) and on every heartbeat, so a revoked token, a disabled user or a
collection the subscriber may no longer see ends the stream within a heartbeat.

Event ids are the positions of every collection of the stream, ``ID:US[,ID:US…]`` (opaque to
clients): sending the last one back as ``Last-Event-ID`` resumes every collection where it
stopped, and acknowledges it (``stream_positions``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Annotated, Final

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from varsel.error_map import http_error
from varsel.errors import AuthenticationFailed, Busy, InvalidInput, VarselError
from varsel.http.deps import CurrentPrincipal, Hub, HubState
from varsel.orgs import service as orgs
from varsel.orgs.models import User
from varsel.policy.principal import Principal, principal_of
from varsel.sharing import feed
from varsel.sharing import service as sharing
from varsel.sharing.wakeups import POLL_SECONDS, Wakeups

# A comment line this often while a stream has nothing to send (tests shorten it).
HEARTBEAT_SECONDS: float = 10.0
# Checks of the stream's credentials at most this often on wake-ups (and on every heartbeat).
RECHECK_SECONDS: float = 1.0
# How often a stream counts each collection's lag (``remaining``) while catching up.
REMAINING_SECONDS: float = 1.0
# Streams one server process holds open; one more is answered 503 (Busy).
MAX_STREAMS: int = 64
# JSON of one event; a single version larger than this travels alone.
MAX_EVENT_BYTES: int = 8 * 1024 * 1024
DEFAULT_LIMIT: Final = 500
MAX_LIMIT: Final = 1000
MAX_COLLECTIONS: Final = 100
_MAX_ORIGINS: Final = 100
_MAX_EVENT_ID: Final = 16 * 1024

log = logging.getLogger("varsel.stream")
router = APIRouter(prefix="/api/v1", tags=["stream"])


class Feeds:
    """A server process's open streams: how many, and what wakes them."""

    def __init__(self, wakeups: Wakeups) -> None:
        self.wakeups = wakeups
        self._open = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        """Return how many streams are open."""
        return self._open

    def admit(self) -> Callable[[], None]:
        """Count one more stream and return what uncounts it; Busy when the process is full."""
        with self._lock:
            if self._open >= MAX_STREAMS:
                raise Busy("this server holds as many streams as it may; try again shortly")
            self._open += 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if not released:
                    released = True
                    self._open -= 1

        return release


_FEEDS_LOCK = threading.Lock()


def feeds_of(app: FastAPI) -> Feeds:
    """Return the application's streams, made (and their wake-ups started) on first use."""
    with _FEEDS_LOCK:
        feeds: Feeds | None = getattr(app.state, "feeds", None)
        if feeds is None:
            feeds = Feeds(Wakeups(app.state.engine))
            app.state.feeds = feeds
    feeds.wakeups.start()
    return feeds


async def start(app: FastAPI) -> None:
    """Start the process's stream wake-ups (the PostgreSQL listener or the SQLite poll)."""
    await run_in_threadpool(feeds_of, app)


async def stop(app: FastAPI) -> None:
    """Stop the process's stream wake-ups."""
    feeds: Feeds | None = getattr(app.state, "feeds", None)
    if feeds is not None:
        await run_in_threadpool(feeds.wakeups.stop)


def _flag(value: str) -> bool:
    if value in ("1", "true"):
        return True
    if value in ("", "0", "false"):
        return False
    raise InvalidInput("until_idle must be 1 or 0")


def _origins(values: list[str]) -> frozenset[str]:
    names = {n.strip() for v in values for n in v.split(",") if n.strip()}
    if len(names) > _MAX_ORIGINS or any(len(n) > 100 for n in names):
        raise InvalidInput(f"exclude_origin names at most {_MAX_ORIGINS} hubs of 100 characters")
    return frozenset(names)


def parse_event_id(value: str) -> dict[str, int]:
    """Return the positions in an event id ``ID:US[,ID:US…]``; InvalidInput if malformed."""
    if len(value) > _MAX_EVENT_ID:
        raise InvalidInput("Last-Event-ID is too long")
    positions: dict[str, int] = {}
    for part in value.split(","):
        cid, sep, us = part.strip().rpartition(":")
        if not sep or not cid or not us.isascii() or not us.isdigit() or len(us) > 18:
            raise InvalidInput("Last-Event-ID is not an id this stream sent")
        if cid in positions:
            raise InvalidInput("Last-Event-ID names a collection twice")
        positions[cid] = int(us)
    return positions


def event_id(positions: dict[str, int]) -> str:
    """Return the event id of these positions."""
    return ",".join(f"{cid}:{us}" for cid, us in positions.items())


def _sse(event: str, data: str, ident: str | None = None) -> bytes:
    head = f"event: {event}\n" + (f"id: {ident}\n" if ident is not None else "")
    return (head + f"data: {data}\n\n").encode()


class _Credentials:
    """What the stream was opened with, to check again (never logged)."""

    def __init__(self, authorization: str) -> None:
        scheme, _, value = authorization.partition(" ")
        self.token = value.strip() if scheme.lower() == "bearer" else None

    def check(self, state: HubState, principal: Principal, collections: list[str]) -> Principal:
        """Return the principal as it stands now; AuthenticationFailed/NotFound to end."""
        with state.readers() as session:
            if self.token is not None:
                now = orgs.authenticate_token(
                    session=session, token=self.token, note_use=False
                ).principal
            else:
                user = session.get(User, principal.user_id)
                if user is None or user.disabled_at is not None:
                    raise AuthenticationFailed("this user is disabled")
                now = principal_of(user)
            for cid in collections:
                sharing.readable_collection(session=session, principal=now, collection_id=cid)
            return now


class EventStream(StreamingResponse):
    """A streaming response that gives its place back however it ends (or never starts)."""

    def __init__(self, content: AsyncIterator[bytes], release: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
            # Left at a ``yield`` when the client went away: end it now, not when collected.
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()


@router.get("/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    state: Hub,
    principal: CurrentPrincipal,
    collection: Annotated[list[str] | None, Query()] = None,
    exclude_origin: Annotated[list[str] | None, Query()] = None,
    until_idle: str = "0",
    limit: int = DEFAULT_LIMIT,
    last_event_id: str | None = None,
) -> StreamingResponse:
    """Stream the versions and tombstones of collections as the caller may read them (SSE)."""
    wanted = list(dict.fromkeys(collection or ()))
    if not wanted:
        raise InvalidInput("name at least one collection")
    if len(wanted) > MAX_COLLECTIONS:
        raise InvalidInput(f"a stream follows at most {MAX_COLLECTIONS} collections")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}")
    idle_ends = _flag(until_idle)
    exclude = _origins(exclude_origin or [])
    resume = request.headers.get("last-event-id") or last_event_id
    given = parse_event_id(resume) if resume else {}
    credentials = _Credentials(request.headers.get("authorization", ""))

    def prepare() -> dict[str, int]:
        positions: dict[str, int] = {}
        # Only an acknowledgement writes; without one, no write lock is taken (SQLite).
        with (state.sessions if given else state.readers)() as session:
            for ref in wanted:
                coll = sharing.readable_collection(
                    session=session, principal=principal, collection_id=ref
                )
                if coll.id in positions:
                    continue
                at = given.get(coll.id, given.get(ref))
                positions[coll.id] = 0 if at is None else min(at, coll.last_added_us)
                if at is not None:
                    feed.note_position(session, principal.org_id, coll.id, positions[coll.id])
            session.commit()
        return positions

    feeds = feeds_of(request.app)
    release = feeds.admit()
    try:
        positions = await run_in_threadpool(prepare)
    except BaseException:
        release()
        raise
    events = _events(state, feeds, credentials, principal, positions, limit, exclude, idle_ends)
    return EventStream(events, release)


async def _events(
    state: HubState,
    feeds: Feeds,
    credentials: _Credentials,
    principal: Principal,
    positions: dict[str, int],
    limit: int,
    exclude: frozenset[str],
    idle_ends: bool,
) -> AsyncIterator[bytes]:
    """Yield the stream's events until the client leaves, its rights end or it is caught up."""
    wakeups = feeds.wakeups
    ids = list(positions)
    waiter = wakeups.subscribe(ids)
    checked = time.monotonic()
    sent = time.monotonic()

    # The lag is counted at most once a second per collection (a count of up to 100,000
    # readable rows costs more than a batch); in between it is the last count less what was
    # sent since, which is exact unless rows arrived meanwhile.
    counted: dict[str, float] = {}
    lag: dict[str, int] = {}

    def read(cid: str, after: int, who: Principal) -> feed.FeedBatch:
        count = time.monotonic() - counted.get(cid, float("-inf")) >= REMAINING_SECONDS
        with state.readers() as session:
            batch = feed.read_feed(
                session,
                who,
                cid,
                after,
                limit=limit,
                exclude_origins=exclude,
                count_remaining=count,
            )
        if batch.remaining is None:
            batch = replace(batch, remaining=max(0, lag.get(cid, 0) - len(batch.objects)))
        elif count:
            counted[cid] = time.monotonic()
        lag[cid] = batch.remaining or 0
        return batch

    try:
        while True:
            waiter.clear()
            more = True
            while more:
                more = False
                for cid in ids:
                    batch = await run_in_threadpool(read, cid, positions[cid], principal)
                    for position, data in feed.encode(batch, max_bytes=MAX_EVENT_BYTES):
                        positions[cid] = position
                        yield _sse("batch", data, event_id(positions))
                        sent = time.monotonic()
                    positions[cid] = batch.position
                    more = more or not batch.caught_up
                if more and time.monotonic() - checked >= HEARTBEAT_SECONDS:
                    # A long catch-up: the rights are checked as often as when idle.
                    principal = await run_in_threadpool(credentials.check, state, principal, ids)
                    checked = time.monotonic()
            if idle_ends:
                ident = event_id(positions)
                yield _sse("idle", json.dumps({"position": ident}), ident)
                return
            reliable = wakeups.reliable
            due = sent + HEARTBEAT_SECONDS - time.monotonic()
            woke = await waiter.wait(due if reliable else min(due, POLL_SECONDS))
            now = time.monotonic()
            heartbeat = now - sent >= HEARTBEAT_SECONDS
            if heartbeat:
                yield b": heartbeat\n\n"
                sent = now
            if heartbeat or (woke and now - checked >= RECHECK_SECONDS):
                principal = await run_in_threadpool(credentials.check, state, principal, ids)
                checked = now
    except VarselError as exc:  # the token revoked, the user disabled, the collection gone
        error = http_error(exc)
        yield _sse("error", json.dumps({"status": error.status, "detail": exc.message}))
    except SQLAlchemyError as exc:
        log.warning("a stream ended on a database error: %s", type(exc).__name__)
        yield _sse("error", json.dumps({"status": 503, "detail": "database unavailable"}))
    finally:
        wakeups.unsubscribe(waiter)
