"""One direction of one link, in its own thread: the pull and the push (see the package)."""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from varsel.clock import utcnow
from varsel.errors import Busy, NotFound, VarselError
from varsel.federation import _seams, lease
from varsel.federation.client import (
    Limits,
    PeerFailed,
    describe,
    open_client,
    read_json,
    read_token,
    status_failure,
)
from varsel.federation.models import Direction, Peer, PeerLink, Refusal, TrustedHub
from varsel.federation.sse import SseReader, StreamRefused
from varsel.federation.worker._checks import (
    Backoff,
    Outcome,
    check_answer,
    check_batch,
    lag_seconds,
    position_in,
    stream_error,
)
from varsel.orgs.models import Organisation, Role
from varsel.policy.principal import Principal
from varsel.sharing.models import Collection

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("varsel.federation")

PULL, PUSH = "pull", "push"
PUSH_BATCH = 500
# A stream that stayed open this long and then closed cleanly was healthy: reconnect at once.
LONG_ENOUGH_S = 10.0
# What one push answer may list as refused, and how long a reason may be (a peer's words).
MAX_REFUSALS_KEPT, MAX_REASON = 100, 500


class Worker(Protocol):
    """What a runner uses of the worker that started it (``_manager.Worker``)."""

    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]
    hub_name: str
    holder: str
    limits: Limits
    rng: random.Random
    push_poll_s: float
    reconnect_s: float


class LinkGone(NotFound):
    """The link was removed while its thread ran."""


@dataclass(frozen=True)
class _Context:
    """What one attempt needs of a link, read from the database when it starts."""

    peer: str
    url: str
    token: str
    ca_bundle: str | None
    link_id: int
    remote_id: str
    local_id: str
    org_id: int
    principal: Principal
    exclude: tuple[str, ...]


def _hub_principal(org: Organisation) -> Principal:
    """Return the principal a peer's hub organisation reads with here (as its users would)."""
    return Principal(
        user_id=0,
        username=f"hub:{org.name}",
        org_id=org.id,
        org_name=org.name,
        country=org.country,
        role=Role.ANALYST,
        hub=True,
    )


# How often a pull stream checks whether new links changed what it should exclude.
EXCLUDE_RECHECK_S = 1.0


class LinkRunner(threading.Thread):
    """Runs one direction of one link until stopped (or, ``once``, until caught up)."""

    def __init__(self, worker: Worker, link_id: int, direction: str, *, once: bool) -> None:
        super().__init__(name=f"federation-{direction}-{link_id}", daemon=True)
        self.worker, self.link_id, self.direction, self.once = worker, link_id, direction, once
        self.halt = threading.Event()
        self.moved = 0
        self.outcome: Outcome | None = None
        self._response: httpx.Response | None = None
        self._peer = "?"
        self._token = ""
        # The link's row already says ok with no lag: an idle push need not write it again.
        self._clean = False
        self._exclude_checked = 0.0
        self._reopen = False

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> None:
        backoff = Backoff(rng=self.worker.rng)
        while not self.halt.is_set():
            moved, began = self.moved, time.monotonic()
            try:
                if self.direction == PULL:
                    self._pull()
                else:
                    self._push()
                if self.once:
                    self.outcome = Outcome(
                        self._peer, self.link_id, self.direction, True, self.moved
                    )
                    return
                # The stream closed cleanly: come back at once if it brought something or
                # stayed open a while (a proxy's idle timeout), else wait as after a failure
                # (a peer that hangs up at once must not spin us).
                if self._reopen:
                    # Closed on purpose, to reopen with new exclusions: at once.
                    self._reopen = False
                    backoff.reset()
                    self.halt.wait(self.worker.reconnect_s)
                elif self.moved > moved or time.monotonic() - began >= LONG_ENOUGH_S:
                    backoff.reset()
                    self.halt.wait(self.worker.reconnect_s)
                else:
                    self.halt.wait(backoff.next())
            except (lease.LeaseLost, LinkGone):
                return
            except Exception as exc:  # noqa: BLE001 - a link's failure must never end the worker
                if self.halt.is_set():
                    return
                text = self._record_error(exc)
                if self.once:
                    self.outcome = Outcome(
                        self._peer, self.link_id, self.direction, False, self.moved, text
                    )
                    return
                self.halt.wait(backoff.next())

    def stop(self) -> None:
        """Ask the thread to end, and break a read it may be waiting in."""
        self.halt.set()
        response = self._response
        if response is None:
            return
        try:
            # httpx's documented "network_stream" extension: shutting the socket down wakes
            # a read blocked in another thread (closing it would not).
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass  # already closed

    def _context(self, session: Session) -> _Context:
        row = session.execute(
            select(PeerLink, Peer, TrustedHub)
            .join(Peer, Peer.id == PeerLink.peer_id)
            .join(TrustedHub, TrustedHub.name == Peer.name)
            .where(PeerLink.id == self.link_id)
        ).first()
        if row is None:
            raise LinkGone(f"link {self.link_id} was removed")
        link, peer, pin = row
        self._peer = peer.name
        org = session.get(Organisation, pin.org_id)
        if org is None or not link.remote_collection_id:
            raise PeerFailed(
                "the link's peer organisation or remote collection is missing", permanent=True
            )
        self._token = read_token(Path(peer.token_file))
        return _Context(
            peer=peer.name,
            url=peer.url,
            token=self._token,
            ca_bundle=peer.ca_bundle,
            link_id=link.id,
            remote_id=link.remote_collection_id,
            local_id=link.local_collection_id,
            org_id=org.id,
            principal=_hub_principal(org),
            exclude=self._exclude(session, link.local_collection_id, peer.id),
        )

    def _exclude(self, session: Session, local_id: str, peer_id: int) -> tuple[str, ...]:
        """Return the origins this link's stream must not send: this hub, and the peers that
        already pull into the same local collection (they send their own versions directly)."""
        direct = session.execute(
            select(Peer.name)
            .join(PeerLink, PeerLink.peer_id == Peer.id)
            .where(
                PeerLink.local_collection_id == local_id,
                PeerLink.direction.in_((Direction.PULL.value, Direction.BOTH.value)),
                Peer.id != peer_id,
            )
        ).scalars()
        return tuple(sorted({self.worker.hub_name, *direct}))

    def _exclude_changed(self, ctx: _Context) -> bool:
        """Return whether links added or removed since the stream opened change its exclusions
        (checked at most once a second, before a batch is applied)."""
        now = time.monotonic()
        if now - self._exclude_checked < EXCLUDE_RECHECK_S:
            return False
        self._exclude_checked = now
        with self.worker.readers() as session:
            peer_id = session.execute(
                select(PeerLink.peer_id).where(PeerLink.id == ctx.link_id)
            ).scalar_one_or_none()
            if peer_id is None:
                return False  # removed: the next write says so
            return self._exclude(session, ctx.local_id, peer_id) != ctx.exclude

    # -- pull --------------------------------------------------------------------------------

    def _pull(self) -> None:
        limits = self.worker.limits
        with self.worker.readers() as session:
            ctx = self._context(session)
            position = session.execute(
                select(PeerLink.pull_position).where(PeerLink.id == self.link_id)
            ).scalar_one_or_none()
        params = {
            "collection": ctx.remote_id,
            "exclude_origin": ",".join(ctx.exclude),
            # As many as a batch may hold: each batch is one transaction here (catch-up speed).
            "limit": str(limits.max_batch_objects),
        }
        if self.once:
            params["until_idle"] = "1"
        headers = {
            "Accept": "text/event-stream",
            "Cache-Control": "no-store",
            "Accept-Encoding": "identity",
        }
        if position:
            headers["Last-Event-ID"] = position
        with (
            open_client(
                url=ctx.url, token=ctx.token, ca_bundle=ctx.ca_bundle, limits=limits
            ) as http,
            http.stream("GET", "api/v1/stream", params=params, headers=headers) as response,
        ):
            self._response = response
            self._clean = False
            if response.status_code != 200:
                raise status_failure(response, "opening the peer's stream")
            kind = response.headers.get("content-type", "").partition(";")[0].strip()
            if kind != "text/event-stream":
                raise PeerFailed(
                    f"the peer's stream is {kind or 'untyped'}, not text/event-stream",
                    permanent=True,
                )
            reader = SseReader(
                response.iter_raw(),
                max_line_bytes=limits.max_line_bytes,
                max_event_bytes=limits.max_event_bytes,
                max_event_seconds=limits.max_event_seconds,
                max_quiet_seconds=limits.read_s if self.once else None,
            )
            self._exclude_checked = time.monotonic()
            for event in reader.events():
                if self.halt.is_set():
                    return
                if event.event == "batch":
                    if not self.once and self._exclude_changed(ctx):
                        # A link was added beside this one: reopen with the new exclusions
                        # rather than take versions another link brings directly (amplification).
                        # Nothing is applied, so the position stays and nothing is lost.
                        self._reopen = True
                        return
                    self._apply(ctx, event.id, event.data)
                elif event.event == "idle":
                    # Caught up; its id may lie past versions this hub may not read there.
                    self._caught_up(ctx, event.id)
                    if self.once:
                        return
                elif event.event == "error":
                    raise stream_error(event.data)
        if self.once:
            raise PeerFailed("the peer's stream ended before it was caught up")

    def _caught_up(self, ctx: _Context, event_id: str) -> None:
        if event_id:
            position_in(event_id, ctx.remote_id)  # refuse an id that is not the stream's
        with self.worker.sessions() as session, session.begin():
            lease.fence(session, holder=self.worker.holder)
            values: dict[str, Any] = {
                "state": "ok",
                "last_success_at": utcnow(),
                "lag_objects": 0,
                "lag_seconds": 0.0,
            }
            if event_id:
                values["pull_position"] = event_id
            session.execute(
                update(PeerLink)
                .where(PeerLink.id == ctx.link_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def _apply(self, ctx: _Context, event_id: str, data: str) -> None:
        batch = check_batch(data, event_id, ctx.remote_id, self.worker.limits.max_batch_objects)
        with self.worker.sessions() as session, session.begin():
            lease.fence(session, holder=self.worker.holder)
            link = session.get(PeerLink, ctx.link_id, with_for_update=True)
            collection = session.get(Collection, ctx.local_id)
            if link is None or collection is None:
                raise LinkGone(f"link {ctx.link_id} was removed")
            result = _seams.apply_batch(
                session,
                collection=collection,
                sender=None,  # pulled: the link an operator made is the authority
                peer_name=ctx.peer,
                link_id=ctx.link_id,
                batch=batch,
            )
            accepted, refused = int(result.accepted), len(result.refused)
            now = utcnow()
            link.pull_position = event_id
            link.received += accepted
            link.duplicates += int(result.duplicates)
            link.refused += refused
            link.tombstones_applied += int(result.tombstones)
            link.lag_objects = batch["remaining"]
            link.lag_seconds = lag_seconds(batch)
            link.state, link.last_success_at, link.updated_at = "ok", now, now
        self.moved += accepted

    # -- push --------------------------------------------------------------------------------

    def _push(self) -> None:
        limits = self.worker.limits
        with self.worker.readers() as session:
            ctx = self._context(session)
        path = f"api/v1/federation/collections/{ctx.remote_id}/batch"
        with open_client(
            url=ctx.url, token=ctx.token, ca_bundle=ctx.ca_bundle, limits=limits
        ) as http:
            while not self.halt.is_set():
                with self.worker.readers() as session:
                    link = session.get(PeerLink, ctx.link_id)
                    collection = session.get(Collection, ctx.local_id)
                    if link is None or collection is None:
                        raise LinkGone(f"link {ctx.link_id} was removed")
                    after = link.push_position
                    try:
                        out = _seams.outgoing(
                            session,
                            principal=ctx.principal,
                            collection=collection,
                            after_us=after,
                            limit=min(PUSH_BATCH, limits.max_batch_objects),
                            exclude_origins=frozenset({ctx.peer}),
                            max_bytes=limits.max_push_bytes,
                        )
                    except NotFound:
                        raise NotFound(
                            f"organisation {ctx.peer!r} may not read the local collection "
                            f"{collection.title!r} here: a push sends what the peer's hub may "
                            "read, so make it a member of the collection's community"
                        ) from None
                for position, body in out.events:
                    with http.stream(
                        "POST",
                        path,
                        content=body.encode("utf-8"),
                        headers={"Content-Type": "application/json", "Accept": "application/json"},
                    ) as response:
                        if not 200 <= response.status_code < 300:
                            raise status_failure(response, "pushing a batch")
                        answer = check_answer(read_json(response, limits.max_answer_bytes))
                    self._pushed(ctx, after, position, json.loads(body), answer)
                    after = position
                if out.position > after:
                    # Rows past the last one sent that the peer may not read: pass over them.
                    self._pushed(ctx, after, out.position, None, None)
                    after = out.position
                if not out.events:
                    self._mark_ok(lag_zero=True)
                    if self.once:
                        return
                    self.halt.wait(self.worker.push_poll_s)

    def _pushed(
        self,
        ctx: _Context,
        after: int,
        position: int,
        batch: dict[str, Any] | None,
        answer: dict[str, Any] | None,
    ) -> None:
        """Record that the peer took everything up to ``position`` (one transaction)."""
        with self.worker.sessions() as session, session.begin():
            lease.fence(session, holder=self.worker.holder)
            link = session.get(PeerLink, ctx.link_id, with_for_update=True)
            if link is None:
                raise LinkGone(f"link {ctx.link_id} was removed")
            if link.push_position != after:
                raise lease.LeaseLost("another writer moved the push position")
            link.push_position = position
            if batch is None or answer is None:
                return
            now = utcnow()
            refused = answer["refused"]
            link.sent += len(batch["objects"])
            link.refused += len(refused)
            link.lag_objects = int(batch["remaining"])
            link.lag_seconds = lag_seconds(batch)
            link.state, link.last_success_at, link.updated_at = "ok", now, now
            self._clean = False  # the next idle poll records that the lag is gone
            for item in refused[:MAX_REFUSALS_KEPT]:
                session.execute(
                    insert(Refusal).values(
                        peer_name=ctx.peer,
                        link_id=ctx.link_id,
                        stix_id=str(item.get("id") or "")[:300] or None,
                        reason=("refused by the peer: " + str(item.get("reason")))[:MAX_REASON],
                        at=now,
                    )
                )
        if batch is not None:
            self.moved += len(batch["objects"])

    # -- health ------------------------------------------------------------------------------

    def _mark_ok(self, *, lag_zero: bool) -> None:
        if self._clean:
            return
        with self.worker.sessions() as session, session.begin():
            lease.fence(session, holder=self.worker.holder)
            values: dict[str, Any] = {"state": "ok", "last_success_at": utcnow()}
            if lag_zero:
                values |= {"lag_objects": 0, "lag_seconds": 0.0}
            session.execute(
                update(PeerLink)
                .where(PeerLink.id == self.link_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        self._clean = lag_zero

    def _record_error(self, exc: Exception) -> str:
        if isinstance(exc, (PeerFailed, StreamRefused, VarselError)):
            text = exc.message
        elif isinstance(exc, SQLAlchemyError):
            text = f"database: {type(exc).__name__}"
        else:
            text = describe(exc)
        if self._token:
            text = text.replace(self._token, "[token]")
        text = f"{self.direction}: {text}"[:1000]
        # Retrying cannot help a refusal, a bad token file or a malformed stream; a network
        # error, a 5xx or a database hiccup may pass.
        permanent = bool(getattr(exc, "permanent", False)) or (
            isinstance(exc, VarselError) and not isinstance(exc, (PeerFailed, Busy))
        )
        state = "error" if permanent else "retrying"
        log.warning("federation link %s to %s: %s", self.link_id, self._peer, text)
        self._clean = False
        try:
            with self.worker.sessions() as session, session.begin():
                lease.fence(session, holder=self.worker.holder)
                session.execute(
                    update(PeerLink)
                    .where(PeerLink.id == self.link_id)
                    .values(
                        state=state, last_error=text, last_error_at=utcnow(), updated_at=utcnow()
                    )
                    .execution_options(synchronize_session=False)
                )
        except (lease.LeaseLost, SQLAlchemyError):
            pass
        return text
