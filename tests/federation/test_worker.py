"""The federation worker: its lease, its limits against misbehaving peers, pull and push.

The misbehaving peers (a line without end, an event that trickles, silence, heartbeats that
never lead anywhere, a wrong answer) are small HTTP servers started here: no real hub would
behave so. Two-hub runs over real Varsel hubs are in the end-to-end suite.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import SECRET, Hub
from varsel.api.app import create_app
from varsel.db import make_sessionmaker
from varsel.errors import InvalidInput
from varsel.federation import _seams, lease, service
from varsel.federation.client import Limits
from varsel.federation.models import Lease, PeerLink, Refusal
from varsel.federation.sse import Event, SseReader, StreamRefused
from varsel.federation.worker import Background, Backoff, LeaseBusy, LinkRunner, Outcome, Worker
from varsel.policy.principal import local_operator
from varsel.provenance.keys import public_text
from varsel.sharing import ingest
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP

TOKEN = "vs_peer-token-that-must-never-show"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Peer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append(
            SimpleNamespace(
                method=self.command, path=self.path, headers=dict(self.headers), body=body
            )
        )
        try:
            self.server.behaviour(self)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = _serve

    def log_message(self, *args: Any) -> None:
        pass

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

    def send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def answer_json(self, status: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.send(body)


class _Peer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: Callable[[_Handler], None]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        self.requests: list[SimpleNamespace] = []
        self.done = threading.Event()  # ends the endless behaviours

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/taxii2/hub/"


@pytest.fixture
def peer_server() -> Iterator[Callable[[Callable[[_Handler], None]], _Peer]]:
    started: list[_Peer] = []

    def start(behaviour: Callable[[_Handler], None]) -> _Peer:
        server = _Peer(behaviour)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.done.set()
        server.shutdown()
        server.server_close()


def _batch(position: int, n: int = 1, remaining: int = 0, collection: str = "remote-1") -> bytes:
    doc = {
        "collection": collection,
        "position": position,
        "head": position + remaining,
        "remaining": remaining,
        "seals": {},
        "objects": [
            {"raw": "{}", "provenance": "{}", "seal": "x/1", "date_added": "2026-01-01T00:00:00Z"}
        ]
        * n,
        "tombstones": [],
    }
    return f"event: batch\nid: {collection}:{position}\ndata: {json.dumps(doc)}\n\n".encode()


IDLE = b'event: idle\ndata: {"position": "remote-1:0"}\n\n'
IDLE_AT_250 = b'event: idle\nid: remote-1:250\ndata: {"position": "remote-1:250"}\n\n'


@pytest.fixture
def hub_a(hub: Hub, tmp_path: Path) -> dict[str, Any]:
    """Hub "hub-a" with one collection its peers' links map onto."""
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.user(s, "alice", "Fjordnett", password=None)
        s.commit()
    return {"hub": hub, "data": tmp_path / "data", "tmp": tmp_path}


def _link(
    ctx: dict[str, Any], name: str, url: str, *, direction: str = "pull", members: bool = True
) -> int:
    hub: Hub = ctx["hub"]
    token_file = ctx["tmp"] / f"{name}.token"
    token_file.write_text(TOKEN)
    with hub.session() as s:
        service.add_peer(
            session=s,
            principal=local_operator(),
            own_name="hub-a",
            data_dir=ctx["data"],
            name=name,
            url=url,
            token_file=token_file,
            public_key=public_text(Ed25519PrivateKey.generate().public_key()),
            country="SE",
        )
        if "collection" not in ctx:
            f.community(s, "Nordic", ["Fjordnett", name] if members else ["Fjordnett"])
            ctx["collection"] = f.collection(s, "Indicators", "Nordic").id
        row = service.link(
            session=s,
            principal=local_operator(),
            name=name,
            remote="remote-1",
            local=ctx["collection"],
            direction=direction,
            remote_collections=[
                {"id": "remote-1", "title": "R", "can_read": True, "can_write": True}
            ],
        )
        s.commit()
        return row.id


def _worker(hub: Hub, **limits: Any) -> Worker:
    return Worker(
        hub.sessions,
        readers=make_sessionmaker(hub.engine, read_only=True),
        hub_name="hub-a",
        limits=dataclasses.replace(Limits(), **limits),
        rng=random.Random(7),
    )


def _row(hub: Hub, link_id: int) -> PeerLink:
    with hub.session() as s:
        row = s.get(PeerLink, link_id)
        assert row is not None
        return row


def test_backoff_doubles_to_a_minute_with_jitter() -> None:
    backoff = Backoff(rng=random.Random(1))
    delays = [backoff.next() for _ in range(10)]
    for delay, base in zip(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60], strict=True):
        assert base / 2 <= delay <= base
    assert len({round(d, 6) for d in delays[6:]}) == 4  # jittered, not one fixed minute
    backoff.reset()
    assert backoff.next() <= 1


def test_the_lease_has_one_holder_among_racing_threads(hub: Hub) -> None:
    start = threading.Barrier(8)
    won: list[str] = []

    def contend(holder: str) -> None:
        start.wait()
        if lease.acquire(hub.sessions, holder=holder, ttl_s=30):
            won.append(holder)

    threads = [threading.Thread(target=contend, args=(f"h{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1
    with hub.session() as s:
        assert s.get(Lease, lease.NAME).holder == won[0]  # type: ignore[union-attr]


def test_an_expired_lease_passes_on_and_fences_the_old_holder(hub: Hub) -> None:
    assert lease.acquire(hub.sessions, holder="first", ttl_s=0.5)
    assert not lease.acquire(hub.sessions, holder="second", ttl_s=0.5)
    assert lease.acquire(hub.sessions, holder="first", ttl_s=0.5)  # a renewal
    time.sleep(0.7)
    assert lease.acquire(hub.sessions, holder="second", ttl_s=30)
    with hub.session() as s, pytest.raises(lease.LeaseLost):
        lease.fence(s, holder="first")
    assert not lease.acquire(hub.sessions, holder="first", ttl_s=30)
    lease.release(hub.sessions, holder="first")  # not its lease: nothing happens
    with hub.session() as s:
        assert s.get(Lease, lease.NAME).holder == "second"  # type: ignore[union-attr]


def test_two_sync_processes_run_one_worker_and_hand_over(hub: Hub, tmp_path: Path) -> None:
    env = {**os.environ, "VARSEL_DATABASE_URL": hub.settings.database_url,
           "VARSEL_SECRET_KEY": SECRET, "VARSEL_DATA_DIR": str(tmp_path)}  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "varsel", "peer", "sync"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:

        def holder_pid() -> int | None:
            with hub.session() as s:
                row = s.get(Lease, lease.NAME)
                return int(row.holder.split(":")[1]) if row else None

        deadline = time.monotonic() + 60
        while holder_pid() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        first = holder_pid()
        assert first in {p.pid for p in procs}
        time.sleep(lease.RENEW_S + 1)  # the other tried at least once meanwhile
        assert holder_pid() == first
        holder = next(p for p in procs if p.pid == first)
        holder.send_signal(signal.SIGINT)  # a clean stop gives the lease up
        holder.wait(timeout=30)
        deadline = time.monotonic() + lease.RENEW_S * 3
        while holder_pid() in (None, first) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert holder_pid() == next(p.pid for p in procs if p.pid != first)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


def _endless_line(h: _Handler) -> None:
    h.start_stream()
    h.send(b"data: ")
    while not h.server.done.is_set():
        h.send(b"A" * 65536)


def _trickle(h: _Handler) -> None:
    h.start_stream()
    h.send(b"event: batch\ndata: x")
    while not h.server.done.is_set():
        h.send(b"x")
        time.sleep(0.1)


def _silence(h: _Handler) -> None:
    h.start_stream()
    h.server.done.wait(30)


def _heartbeats_only(h: _Handler) -> None:
    h.start_stream()
    while not h.server.done.is_set():
        h.send(b": heartbeat\n\n")
        time.sleep(0.1)


def _too_big_batch(h: _Handler) -> None:
    h.start_stream()
    h.send(_batch(5, n=3))
    h.server.done.wait(30)


def _unauthorised(h: _Handler) -> None:
    h.answer_json(401, {"detail": f"bad token {h.headers.get('Authorization')}"})


def _error_event(h: _Handler) -> None:
    h.start_stream()
    h.send(b'event: error\ndata: {"status": 401, "detail": "the token was revoked"}\n\n')


def _foreign_id(h: _Handler) -> None:
    h.start_stream()
    h.send(_batch(5).replace(b"id: remote-1:5", b"id: other:5"))
    h.server.done.wait(30)


def _html(h: _Handler) -> None:
    h.answer_json(200, {"not": "a stream"})


@pytest.mark.parametrize(
    ("behaviour", "limits", "needle", "state"),
    [
        (_endless_line, {"max_line_bytes": 1 << 20}, "longer than 1048576 bytes", "error"),
        (_trickle, {"max_event_seconds": 1.0}, "more than 1 s to send one event", "error"),
        (_silence, {"heartbeat_s": 0.3}, "ReadTimeout", "retrying"),
        (_heartbeats_only, {"heartbeat_s": 0.5}, "no event for 1.5 s", "error"),
        (_too_big_batch, {"max_batch_objects": 2}, "more than 2 objects", "error"),
        (_unauthorised, {}, "HTTP 401", "error"),
        (_html, {}, "not text/event-stream", "error"),
        (_error_event, {}, "ended the stream: 401 the token was revoked", "error"),
        (_foreign_id, {}, "does not hold the position", "error"),
    ],
)
def test_a_misbehaving_peer_is_cut_off_within_its_limits(
    hub_a: dict[str, Any],
    peer_server: Callable[..., _Peer],
    behaviour: Callable[[_Handler], None],
    limits: dict[str, Any],
    needle: str,
    state: str,
) -> None:
    server = peer_server(behaviour)
    link_id = _link(hub_a, "hub-b", server.url)
    started = time.monotonic()
    (outcome,) = _worker(hub_a["hub"], **limits).run_once()
    assert time.monotonic() - started < 15
    assert not outcome.ok and needle in (outcome.error or "")
    row = _row(hub_a["hub"], link_id)
    assert row.state == state and needle in (row.last_error or "")
    assert row.pull_position is None
    assert TOKEN not in (row.last_error or "")
    (request,) = server.requests
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.path.startswith("/api/v1/stream?")


def test_a_silent_peer_does_not_hold_up_another_link(
    hub_a: dict[str, Any], peer_server: Callable[..., _Peer]
) -> None:
    slow = _link(hub_a, "hub-slow", peer_server(_silence).url)

    def idle_at_once(h: _Handler) -> None:
        h.start_stream()
        h.send(IDLE)

    quick = _link(hub_a, "hub-quick", peer_server(idle_at_once).url)
    outcomes = {o.link_id: o for o in _worker(hub_a["hub"], heartbeat_s=1.0).run_once()}
    assert outcomes[quick].ok and not outcomes[slow].ok
    quick_row, slow_row = _row(hub_a["hub"], quick), _row(hub_a["hub"], slow)
    assert quick_row.state == "ok" and slow_row.state == "retrying"
    # The quick link was done before the slow one's read timed out, not after it.
    assert quick_row.last_success_at is not None and slow_row.last_error_at is not None
    assert quick_row.last_success_at < slow_row.last_error_at


def test_pull_applies_each_batch_with_its_position_and_resumes_there(
    hub_a: dict[str, Any], peer_server: Callable[..., _Peer], monkeypatch: pytest.MonkeyPatch
) -> None:
    applied: list[dict[str, Any]] = []

    def stand_in(session: Any, *, batch: dict[str, Any], **kw: Any) -> Any:
        # The receive path's stand-in: the worker's own bookkeeping is what is tested here.
        applied.append(batch)
        if batch["position"] == 300:
            raise InvalidInput("a batch the receiver refuses whole")
        return SimpleNamespace(
            accepted=len(batch["objects"]), duplicates=1, refused=[{}], tombstones=0
        )

    monkeypatch.setattr(_seams, "apply_batch", stand_in)

    def two_batches(h: _Handler) -> None:
        h.start_stream()
        h.send(b": heartbeat\n\n" + _batch(100, n=2, remaining=1) + _batch(200) + IDLE_AT_250)

    server = peer_server(two_batches)
    other = _link(
        hub_a, "hub-c", "http://127.0.0.1:9/taxii2/hub/"
    )  # pulls into the same collection
    link_id = _link(hub_a, "hub-b", server.url)
    with hub_a["hub"].session() as s:
        s.get(PeerLink, other).direction = "push"  # type: ignore[union-attr]
        s.commit()
    outcomes = {o.link_id: o for o in _worker(hub_a["hub"]).run_once()}
    assert outcomes[link_id] == Outcome("hub-b", link_id, "pull", True, 3)
    row = _row(hub_a["hub"], link_id)
    # The idle event's id lies past versions hub-a may not read there: resumed from it.
    assert (row.pull_position, row.received, row.duplicates, row.refused) == (
        "remote-1:250",
        3,
        2,
        2,
    )
    assert (row.lag_objects, row.lag_seconds, row.state) == (0, 0.0, "ok")
    (first,) = server.requests
    assert "Last-Event-ID" not in first.headers and "until_idle=1" in first.path
    assert "exclude_origin=hub-a&" in first.path or first.path.endswith("exclude_origin=hub-a")

    def refused_whole(h: _Handler) -> None:
        h.start_stream()
        h.send(_batch(300) + IDLE)

    server.behaviour = refused_whole
    # hub-c now pulls into the same collection too: versions from it come from it directly.
    with hub_a["hub"].session() as s:
        s.get(PeerLink, other).direction = "both"  # type: ignore[union-attr]
        s.commit()
    monkeypatch.setattr(_seams, "outgoing", lambda *a, **k: _seams.Outgoing(0, []))
    outcomes = {o.link_id: o for o in _worker(hub_a["hub"]).run_once()}
    assert not outcomes[link_id].ok
    again = server.requests[-1]
    assert again.headers["Last-Event-ID"] == "remote-1:250"
    assert "exclude_origin=hub-a%2Chub-c" in again.path
    row = _row(hub_a["hub"], link_id)
    # Nothing of the refused batch was kept: not its position, not its counts.
    assert (row.pull_position, row.received, row.state) == ("remote-1:250", 3, "error")
    assert "refuses whole" in (row.last_error or "")


def test_push_sends_what_the_peer_may_read_and_moves_only_on_2xx(
    hub_a: dict[str, Any], peer_server: Callable[..., _Peer]
) -> None:
    hub: Hub = hub_a["hub"]
    answers = [(500, {"detail": "down"})]

    def receiver(h: _Handler) -> None:
        status, doc = answers[0]
        h.answer_json(status, doc)

    server = peer_server(receiver)
    link_id = _link(hub_a, "hub-b", server.url, direction="push")
    green = f.indicator(tlp=TLP.GREEN)
    red = f.indicator(tlp=TLP.RED, recipients=["Fjordnett"], value="198.51.100.9")
    with hub.session() as s:
        coll = s.get(Collection, hub_a["collection"])
        result = ingest.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, "alice"),
            body=f.envelope(green, red),
        )
        assert not result.failures
        s.commit()
        # The stream's reader moves past the RED version the peer may not read (without
        # sending it): the push position ends at the collection's head, the RED row.
        head = s.execute(
            select(StixObject.date_added_us).where(StixObject.stix_id == red["id"])
        ).scalar_one()
    (outcome,) = _worker(hub).run_once()
    assert not outcome.ok and "HTTP 500" in (outcome.error or "")
    assert _row(hub, link_id).push_position == 0 and _row(hub, link_id).state == "retrying"

    answers[0] = (
        200,
        {
            "accepted": 1,
            "duplicates": 0,
            "refused": [{"id": green["id"], "reason": "forged"}],
            "tombstones": 0,
        },
    )
    (outcome,) = _worker(hub).run_once()
    assert outcome.ok, outcome.error
    row = _row(hub, link_id)
    assert (row.push_position, row.sent, row.refused, row.state) == (head, 1, 1, "ok")
    sent = json.loads(server.requests[-1].body)
    assert server.requests[-1].path == "/api/v1/federation/collections/remote-1/batch"
    assert [json.loads(o["raw"])["id"] for o in sent["objects"]] == [green["id"]]
    assert set(sent) >= {
        "collection",
        "position",
        "head",
        "remaining",
        "seals",
        "objects",
        "tombstones",
    }
    assert sent["objects"][0]["seal"] in sent["seals"]
    with hub.session() as s:
        (refusal,) = s.execute(select(Refusal)).scalars()
        assert (refusal.peer_name, refusal.link_id, refusal.stix_id) == (
            "hub-b",
            link_id,
            green["id"],
        )
        assert refusal.reason == "refused by the peer: forged"
    calls = len(server.requests)
    (outcome,) = _worker(hub).run_once()  # nothing new: nothing is sent again
    assert outcome.ok and len(server.requests) == calls


def test_serve_runs_the_worker_and_gives_its_lease_up_on_stop(hub: Hub) -> None:
    app = create_app(dataclasses.replace(hub.settings, federation=True))
    try:
        with TestClient(app):
            deadline = time.monotonic() + 20
            held = None
            while held is None and time.monotonic() < deadline:
                with hub.session() as s:
                    held = s.get(Lease, lease.NAME)
                time.sleep(0.1)
            assert held is not None and held.holder.split(":")[1] == str(os.getpid())
        with hub.session() as s:
            assert s.get(Lease, lease.NAME) is None
    finally:
        app.state.engine.dispose()


def test_sync_once_as_a_process_prints_a_summary_and_its_exit_says_if_all_caught_up(
    hub_a: dict[str, Any], peer_server: Callable[..., _Peer]
) -> None:
    from tests.cli.test_cli import run

    def idle_at_once(h: _Handler) -> None:
        h.start_stream()
        h.send(IDLE)

    hub: Hub = hub_a["hub"]
    _link(hub_a, "hub-b", peer_server(idle_at_once).url)
    done = run(hub, "peer", "sync", "--once")
    assert done.returncode == 0, done.stderr
    assert "hub-b link" in done.stdout and "up to date" in done.stdout
    assert "1 link directions, 0 failed" in done.stdout
    _link(hub_a, "hub-c", peer_server(_unauthorised).url)
    done = run(hub, "peer", "sync", "--once")
    assert done.returncode == 1
    assert "hub-c link" in done.stdout and "HTTP 401" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    status = json.loads(run(hub, "peer", "status", "--json").stdout)
    states = {p["name"]: p["links"][0]["state"] for p in status["peers"]}
    assert states == {"hub-b": "ok", "hub-c": "error"}


def test_a_worker_that_lost_its_lease_writes_nothing(
    hub_a: dict[str, Any], peer_server: Callable[..., _Peer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        _seams,
        "apply_batch",
        lambda *a, **k: SimpleNamespace(accepted=1, duplicates=0, refused=[], tombstones=0),
    )
    hub: Hub = hub_a["hub"]
    link_id = _link(hub_a, "hub-b", "http://127.0.0.1:9/taxii2/hub/")
    worker = _worker(hub)
    assert lease.acquire(hub.sessions, holder=worker.holder, ttl_s=0.3)
    runner = LinkRunner(worker, link_id, "pull", once=True)
    with hub.session() as s:
        ctx = runner._context(s)
    runner._apply(ctx, "remote-1:100", _batch(100).decode().split("data: ", 1)[1].strip())
    assert _row(hub, link_id).pull_position == "remote-1:100"
    time.sleep(0.4)
    assert lease.acquire(hub.sessions, holder="successor", ttl_s=30)
    with pytest.raises(lease.LeaseLost):
        runner._apply(ctx, "remote-1:200", _batch(200).decode().split("data: ", 1)[1].strip())
    assert _row(hub, link_id).pull_position == "remote-1:100"
    with pytest.raises(LeaseBusy, match="successor"):
        worker.run_once(lease_wait_s=0.5)


def test_stopping_the_worker_breaks_a_read_that_would_wait_30_s(
    hub_a: dict[str, Any], peer_server: Callable[..., _Peer]
) -> None:
    hub: Hub = hub_a["hub"]
    server = peer_server(_silence)
    _link(hub_a, "hub-b", server.url)
    background = Background(_worker(hub)).start()
    deadline = time.monotonic() + 20
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.requests, "the worker never connected"
    time.sleep(0.3)
    started = time.monotonic()
    background.stop()
    assert not background.thread.is_alive()
    assert time.monotonic() - started < 5
    with hub.session() as s:
        assert s.get(Lease, lease.NAME) is None


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 7, 11])
def test_the_reader_splits_lines_and_events_as_the_specification_says(cut: int) -> None:
    text = (
        b": hello\r\n"
        b"event: batch\r\nid: 7\r\ndata: one\r\ndata:two\r\n\r\n"
        b"data: three\rid: 8\r\r"
        b"event: idle\ndata: {}\n\n"
        b"data: never finished"
    )
    chunks = [text[i : i + cut] for i in range(0, len(text), cut)]
    reader = SseReader(chunks, max_line_bytes=100, max_event_bytes=100, max_event_seconds=5)
    events = list(reader.events())
    assert events == [
        Event("batch", "one\ntwo", "7"),
        Event("message", "three", "8"),
        Event("idle", "{}", "8"),
    ]


def test_the_reader_refuses_an_event_past_its_size() -> None:
    chunks = [b"data: " + b"x" * 60 + b"\n"] * 3 + [b"\n"]
    reader = SseReader(chunks, max_line_bytes=100, max_event_bytes=150, max_event_seconds=5)
    with pytest.raises(StreamRefused, match="larger than 150 bytes"):
        list(reader.events())


def test_push_says_so_when_the_peer_may_not_read_the_collection_here(
    hub_a: dict[str, Any], peer_server: Callable[..., _Peer]
) -> None:
    server = peer_server(lambda h: h.answer_json(500, {}))
    link_id = _link(hub_a, "hub-b", server.url, direction="push", members=False)
    (outcome,) = _worker(hub_a["hub"]).run_once()
    assert not outcome.ok and "make it a member" in (outcome.error or "")
    assert _row(hub_a["hub"], link_id).state == "error"
    assert server.requests == []


def test_a_token_file_others_may_read_is_not_used(
    hub_a: dict[str, Any], peer_server: Callable[..., _Peer]
) -> None:
    server = peer_server(_silence)
    link_id = _link(hub_a, "hub-b", server.url)
    (hub_a["data"] / "peers" / "hub-b.token").chmod(0o644)
    (outcome,) = _worker(hub_a["hub"]).run_once()
    assert not outcome.ok and "chmod 600" in (outcome.error or "")
    assert _row(hub_a["hub"], link_id).state == "error"
    assert server.requests == []  # the token never left
