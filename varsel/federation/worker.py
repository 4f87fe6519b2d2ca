"""The federation worker: one thread per link direction, pulling from and pushing to peers.

Exactly one worker runs per hub (:mod:`varsel.federation.lease`): every process of ``varsel
serve`` starts one (``VARSEL_FEDERATION``), and only the lease holder runs links; ``varsel peer
sync`` runs one alone. The holder looks at the links every few seconds as it renews the lease,
so a link added or removed while the hub serves starts or stops within that time.

**Pull** reads the peer's ``GET /api/v1/stream`` for the link's remote collection, resuming with
``Last-Event-ID`` = the link's ``pull_position`` and naming in ``exclude_origin`` this hub and the
peers it pulls into the same collection directly (each version then comes by one path: the
mesh's amplification stays near 1). Each ``batch`` event is applied in ONE transaction with the
link's new position and counters, after checking the lease in that same transaction: a crash
or a lost lease neither repeats nor misses anything.

**Push** reads the local collection after the link's ``push_position`` as the peer's hub
organisation would read it here (the same policy, so a push sends only what that hub may read),
posts it to ``POST /api/v1/federation/collections/{id}/batch``, and moves the position only after
the peer answered 2xx: the collection itself is the durable outbox.

Every wait is bounded (connect 5 s, a read three heartbeat intervals, an event's bytes 120 s),
every line, event, batch and answer limited in size, and a failing link backs off (1 s doubling
to 60 s, with jitter) in its own thread, so a slow or malicious peer stalls nothing else. Its
state (``ok``, ``retrying``, ``error``) and last error are kept on the link for ``peer status``;
no message carries the token.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


class LinkGone(NotFound):
    """The link was removed while its thread ran."""


@dataclass
class Backoff:
    """Delays between attempts: 1 s doubling to 60 s, each drawn between half and all of it."""

    first_s: float = 1.0
    ceiling_s: float = 60.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next(self) -> float:
        """Return the delay before the next attempt, and count the failure."""
        base = min(self.ceiling_s, self.first_s * float(2 ** min(self.failures, 16)))
        self.failures += 1
        return base / 2 + self.rng.uniform(0, base / 2)

    def reset(self) -> None:
        """Start again from the first delay (after a success)."""
        self.failures = 0


@dataclass(frozen=True)
class Outcome:
    """How one link direction ended a ``peer sync --once``."""

    peer: str
    link_id: int
    direction: str
    ok: bool
    moved: int
    error: str | None = None


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
                if self.moved > moved or time.monotonic() - began >= LONG_ENOUGH_S:
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
        direct = session.execute(
            select(Peer.name)
            .join(PeerLink, PeerLink.peer_id == Peer.id)
            .where(
                PeerLink.local_collection_id == link.local_collection_id,
                PeerLink.direction.in_((Direction.PULL.value, Direction.BOTH.value)),
                Peer.id != peer.id,
            )
        ).scalars()
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
            exclude=tuple(sorted({self.worker.hub_name, *direct})),
        )

    # -- pull --------------------------------------------------------------------------------

    def _pull(self) -> None:
        limits = self.worker.limits
        with self.worker.readers() as session:
            ctx = self._context(session)
            position = session.execute(
                select(PeerLink.pull_position).where(PeerLink.id == self.link_id)
            ).scalar_one_or_none()
        params = {"collection": ctx.remote_id, "exclude_origin": ",".join(ctx.exclude)}
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
            for event in reader.events():
                if self.halt.is_set():
                    return
                if event.event == "batch":
                    self._apply(ctx, event.id, event.data)
                elif event.event == "idle":
                    # Caught up; its id may lie past versions this hub may not read there.
                    self._caught_up(ctx, event.id)
                    if self.once:
                        return
                elif event.event == "error":
                    raise _stream_error(event.data)
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
        batch = _check_batch(data, event_id, ctx.remote_id, self.worker.limits.max_batch_objects)
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
            link.lag_seconds = _lag_seconds(batch)
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
                        answer = _check_answer(read_json(response, limits.max_answer_bytes))
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
            link.lag_seconds = _lag_seconds(batch)
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


def _lag_seconds(batch: dict[str, Any]) -> float:
    if not batch["remaining"]:
        return 0.0
    return max(0.0, (int(batch["head"]) - int(batch["position"])) / 1_000_000)


def position_in(event_id: str, remote_id: str) -> int:
    """Return the link's collection's position in a stream event id ``ID:US[,ID:US…]``."""
    if not event_id or len(event_id) > 200:
        raise StreamRefused("a stream event's id is missing or longer than 200 characters")
    for part in event_id.split(","):
        cid, sep, us = part.strip().rpartition(":")
        if sep and cid == remote_id and us.isascii() and us.isdigit() and len(us) <= 18:
            return int(us)
    raise StreamRefused("a stream event's id does not hold the position of the link's collection")


def _stream_error(data: str) -> PeerFailed:
    """Return the failure an ``error`` event reports (the peer ends the stream after it)."""
    try:
        doc = json.loads(data)
        status, detail = int(doc["status"]), str(doc.get("detail", ""))[:300]
    except (ValueError, TypeError, KeyError):
        return PeerFailed("the peer ended the stream with a malformed error event", permanent=True)
    # 401, 403, 404 will not pass by retrying; a 503 (its database) may.
    return PeerFailed(
        f"the peer ended the stream: {status} {detail}",
        permanent=status in (401, 403, 404),
        status=status,
    )


def _check_batch(data: str, event_id: str, remote_id: str, max_items: int) -> dict[str, Any]:
    """Return the batch in an event's data if its shape is the stream's; StreamRefused if not."""
    try:
        batch = json.loads(data)
    except ValueError:
        raise StreamRefused("a batch event's data is not JSON") from None
    ints = ("position", "head", "remaining")
    if (
        not isinstance(batch, dict)
        or not all(isinstance(batch.get(k), int) and batch[k] >= 0 for k in ints)
        or not isinstance(batch.get("objects"), list)
        or not isinstance(batch.get("tombstones", []), list)
        or not isinstance(batch.get("seals", {}), dict)
    ):
        raise StreamRefused("a batch event is not shaped as docs/federation.md says")
    if batch.get("collection") != remote_id:
        raise StreamRefused("a batch event is for another collection than the link's")
    if position_in(event_id, remote_id) != batch["position"]:
        raise StreamRefused("a batch event's id does not hold its position")
    if len(batch["objects"]) + len(batch.get("tombstones", [])) > max_items:
        raise StreamRefused(f"a batch holds more than {max_items} objects and tombstones")
    return batch


def _check_answer(answer: Any) -> dict[str, Any]:
    ok = (
        isinstance(answer, dict)
        and all(isinstance(answer.get(k), int) for k in ("accepted", "duplicates"))
        and isinstance(answer.get("refused"), list)
        and all(isinstance(item, dict) for item in answer["refused"])
    )
    if not ok:
        raise PeerFailed(
            "the peer's answer to a push is not shaped as docs/federation.md says", permanent=True
        )
    return dict(answer)


class LeaseBusy(Busy):
    """Another process holds the federation worker's lease."""


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
        """Run until ``stop`` is set: take the lease when free, run the links while held."""
        try:
            while not stop.is_set():
                if self._take():
                    try:
                        self._sync_runners()
                    except SQLAlchemyError as exc:
                        log.warning("federation worker: cannot read links: %s", type(exc).__name__)
                else:
                    self._stop_runners()
                stop.wait(self.renew_s)
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
