"""The subscription stream ``GET /api/v1/stream`` over real HTTP, on both databases.

docs/federation.md, "The stream": the producer's exact bytes, restrict() per subscriber,
resumption with no miss and no repeat, exclusion of origins, heartbeats, tombstones to their
audience only, a commit seen within a second (across two server processes on PostgreSQL),
and the stream ending when its token is revoked.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests import factories as f
from tests.conftest import SECRET, Hub, _free_port
from varsel import config
from varsel.api import stream as stream_module
from varsel.clock import utcnow
from varsel.orgs.models import ApiToken, User
from varsel.provenance import keys, seal
from varsel.sharing.models import (
    Collection,
    StixObject,
    StreamPosition,
    Tombstone,
    TombstoneAudience,
)
from varsel.sharing.tlp import TLP

CREATED = "2026-01-01T00:00:00.000Z"


_APPS: list[Any] = []


@pytest.fixture(scope="module", autouse=True)
def _stop_wakeups() -> Iterator[None]:
    """Stop the stream wake-ups the served apps started (the test server has no lifespan)."""
    yield
    for app in _APPS:
        feeds = getattr(app.state, "feeds", None)
        if feeds is not None:
            feeds.wakeups.stop()


@dataclass
class World:
    """Fjordnett (producer), Svea and peer hub 'hub-b' in community Nordic; Outsider not."""

    collection_id: str
    tokens: dict[str, str]
    org_ids: dict[str, int]


@pytest.fixture
def world(hub: Hub) -> World:
    """Create the organisations, users, tokens and the collection."""
    if hub.app not in _APPS:
        _APPS.append(hub.app)
    with hub.session() as s:
        ids = {
            "Fjordnett": f.org(s, "Fjordnett", "NO"),
            "Svea": f.org(s, "Svea", "SE"),
            "hub-b": f.org(s, "hub-b", "SE", kind="hub"),
            "Outsider": f.org(s, "Outsider", "US", kind="international-partner"),
        }
        for name, org in (("alice", "Fjordnett"), ("bob", "Svea"), ("hubb", "hub-b")):
            f.user(s, name, org, password=None)
        f.user(s, "carol", "Outsider", password=None)
        f.community(s, "Nordic", ["Fjordnett", "Svea", "hub-b"], visibility="listed")
        coll = f.collection(s, "Indicators", "Nordic", default_tlp="amber", alias="indicators")
        tokens = {n: f.token(s, n) for n in ("alice", "bob", "hubb", "carol")}
        s.commit()
        return World(collection_id=coll.id, tokens=tokens, org_ids=ids)


def raw_indicator(tlp: TLP, value: str, extra: str = "") -> tuple[str, str]:
    """Return (id, JSON text) of an indicator spelled the way no encoder would spell it."""
    oid = f"indicator--{uuid.uuid4()}"
    text = (
        f'{{"type": "indicator",   "spec_version":"2.1","id":"{oid}",\n "created":"{CREATED}",'
        f'"modified":"{CREATED}","name":"caf\\u00e9 \\"{value}\\" \u00e5","pattern":'
        f'"[ipv4-addr:value = \'{value}\']","pattern_type":"stix","valid_from":"{CREATED}",'
        f'"object_marking_refs":["{tlp.stix_id}"]{extra}}}'
    )
    return oid, text


def share(live: str, token: str, collection_id: str, *texts: str, **props: Any) -> None:
    """Share the objects (JSON texts, kept byte for byte) through the REST API."""
    body = '{"objects": [' + ", ".join(texts) + "]"
    for name, value in props.items():
        body += f', "{name}": {json.dumps(value)}'
    body += "}"
    answer = httpx.post(
        f"{live}/api/v1/collections/{collection_id}/share",
        content=body.encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert not answer.json()["rejected"], answer.text


@dataclass
class Event:
    """One server-sent event (``kind`` "comment" for a comment line)."""

    kind: str
    data: str = ""
    id: str | None = None
    at: float = 0.0

    def json(self) -> Any:
        """Return the event's data decoded."""
        return json.loads(self.data)


def parse(lines: Iterator[str]) -> Iterator[Event]:
    """Yield the events of an SSE body (text/event-stream)."""
    kind, data, ident = "message", [], None
    for line in lines:
        if line == "":
            if data:
                yield Event(kind, "\n".join(data), ident, time.monotonic())
            kind, data, ident = "message", [], None
        elif line.startswith(":"):
            yield Event("comment", line[1:].strip(), None, time.monotonic())
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                kind = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                ident = value


def url(live: str, *collections: str, **params: Any) -> str:
    """Return the stream URL for ``collections`` with query ``params``."""
    query = [("collection", c) for c in collections]
    for name, value in params.items():
        query += [(name, str(v)) for v in (value if isinstance(value, list) else [value])]
    return str(httpx.URL(f"{live}/api/v1/stream", params=query))


def drain(
    live: str, token: str, *collections: str, headers: dict[str, str] | None = None, **params: Any
) -> list[Event]:
    """Return every event of an ``until_idle=1`` stream (it must end by itself)."""
    sent = {"Authorization": f"Bearer {token}", **(headers or {})}
    with httpx.stream(
        "GET", url(live, *collections, until_idle=1, **params), headers=sent, timeout=30
    ) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = list(parse(answer.iter_lines()))
    assert events[-1].kind == "idle", events
    return events


def objects_of(events: list[Event]) -> list[dict[str, Any]]:
    """Return the objects of the batch events, in order."""
    return [o for e in events if e.kind == "batch" for o in e.json()["objects"]]


def stix_ids(events: list[Event]) -> list[str]:
    """Return the STIX ids of the objects of the batch events, in order."""
    return [json.loads(o["raw"])["id"] for o in objects_of(events)]


@dataclass
class Subscriber:
    """A stream read by a thread of its own; its events arrive in ``events``."""

    target: str
    token: str
    headers: dict[str, str] = field(default_factory=dict)
    events: queue.Queue[Event | None] = field(default_factory=queue.Queue)
    status: int | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    _socket: socket.socket | None = None

    def start(self) -> Subscriber:
        """Open the stream and wait until the server answered."""
        opened = threading.Event()

        def run() -> None:
            try:
                with httpx.Client(timeout=httpx.Timeout(10, read=60)) as client:
                    sent = {"Authorization": f"Bearer {self.token}", **self.headers}
                    with client.stream("GET", self.target, headers=sent) as answer:
                        # Closing the client from another thread would leave this read
                        # blocked and the connection open; shutting the socket down ends both.
                        stream = answer.extensions["network_stream"]
                        self._socket = stream.get_extra_info("socket")
                        self.status = answer.status_code
                        opened.set()
                        for event in parse(answer.iter_lines()):
                            self.events.put(event)
            except (httpx.HTTPError, RuntimeError, OSError):
                pass  # closed by the test
            finally:
                opened.set()
                self.ended.set()
                self.events.put(None)

        threading.Thread(target=run, daemon=True).start()
        assert opened.wait(15)
        return self

    def next(self, kind: str, timeout: float = 5) -> Event:
        """Return the next event of ``kind`` (skipping others); fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no {kind} event within {timeout} s")
            if event is None:
                pytest.fail(f"the stream ended before a {kind} event")
            if event.kind == kind:
                return event

    def close(self) -> None:
        """Close the connection."""
        if self._socket is not None and not self.ended.is_set():
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        assert self.ended.wait(5)


@pytest.fixture
def subscribers() -> Iterator[list[Subscriber]]:
    """Collect the test's subscribers and close them afterwards."""
    opened: list[Subscriber] = []
    yield opened
    for sub in opened:
        sub.close()


def test_events_carry_the_producers_exact_bytes_and_a_verifiable_seal(
    live: str, world: World
) -> None:
    oid1, text1 = raw_indicator(TLP.GREEN, "198.51.100.1")
    oid2, text2 = raw_indicator(TLP.AMBER, "198.51.100.2", ', "x_note": 1.50e2')
    share(live, world.tokens["alice"], world.collection_id, text1, text2)

    events = drain(live, world.tokens["bob"], world.collection_id)

    [batch] = [e for e in events if e.kind == "batch"]
    data = batch.json()
    assert [o["raw"] for o in data["objects"]] == [text1, text2]
    assert data["collection"] == world.collection_id
    assert data["remaining"] == 0 and data["position"] == data["head"]
    assert batch.id == f"{world.collection_id}:{data['position']}"
    settings = config.current()
    public = keys.current(settings.data_dir, settings.hub_name).private.public_key()
    for obj in data["objects"]:
        signed = seal.Seal.from_json(data["seals"][obj["seal"]])
        assert seal.verify_seal(signed, public)
        assert seal.digest(obj["provenance"], obj["raw"]) in signed.digests
        assert json.loads(obj["provenance"])["origin"] == settings.hub_name
    assert events[-1].json() == {"position": batch.id} and events[-1].id == batch.id


def test_the_response_is_an_unbuffered_event_stream(live: str, world: World) -> None:
    with httpx.stream(
        "GET",
        url(live, world.collection_id, until_idle=1),
        headers={"Authorization": f"Bearer {world.tokens['bob']}"},
    ) as answer:
        answer.read()
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["x-accel-buffering"] == "no"


def test_each_subscriber_gets_what_restrict_lets_it_read(live: str, world: World) -> None:
    green, g = raw_indicator(TLP.GREEN, "198.51.100.11")
    amber, a = raw_indicator(TLP.AMBER, "198.51.100.12")
    red_b, rb = raw_indicator(TLP.RED, "198.51.100.13", ', "x_varsel_recipients": ["hub-b"]')
    red_s, rs = raw_indicator(TLP.RED, "198.51.100.14", ', "x_varsel_recipients": ["Svea"]')
    share(live, world.tokens["alice"], world.collection_id, g, a, rb, rs)

    assert stix_ids(drain(live, world.tokens["carol"], world.collection_id)) == []
    assert stix_ids(drain(live, world.tokens["hubb"], world.collection_id)) == [
        green,
        amber,
        red_b,
    ]
    assert stix_ids(drain(live, world.tokens["bob"], world.collection_id)) == [
        green,
        amber,
        red_s,
    ]
    assert stix_ids(drain(live, world.tokens["alice"], world.collection_id)) == [
        green,
        amber,
        red_b,
        red_s,
    ]


def test_an_outsider_advances_past_what_it_may_not_read(live: str, world: World, hub: Hub) -> None:
    texts = [raw_indicator(TLP.AMBER, f"198.51.100.{n}")[1] for n in range(3)]
    share(live, world.tokens["alice"], world.collection_id, *texts)
    events = drain(live, world.tokens["carol"], world.collection_id)
    assert [e.kind for e in events] == ["idle"]
    with hub.session() as s:
        head = s.execute(
            select(Collection.last_added_us).where(Collection.id == world.collection_id)
        ).scalar_one()
    assert events[0].id == f"{world.collection_id}:{head}"


def test_last_event_id_resumes_with_no_miss_and_no_repeat(
    live: str, world: World, hub: Hub
) -> None:
    first = [raw_indicator(TLP.GREEN, f"198.51.100.{n}") for n in range(20, 25)]
    share(live, world.tokens["alice"], world.collection_id, *(t for _, t in first))

    events = drain(live, world.tokens["hubb"], world.collection_id, limit=2)
    batches = [e for e in events if e.kind == "batch"]
    assert [len(e.json()["objects"]) for e in batches] == [2, 2, 1]
    assert [e.json()["remaining"] for e in batches] == [3, 1, 0]
    stop_after = batches[0]

    later = [raw_indicator(TLP.GREEN, f"198.51.100.{n}") for n in range(30, 33)]
    share(live, world.tokens["alice"], world.collection_id, *(t for _, t in later))
    resumed = drain(
        live,
        world.tokens["hubb"],
        world.collection_id,
        headers={"Last-Event-ID": stop_after.id or ""},
    )
    got = stix_ids([stop_after]) + stix_ids(resumed)
    assert got == [oid for oid, _ in first + later]

    # The same through the query parameter, from the end of the first stream: only the later.
    again = drain(live, world.tokens["hubb"], world.collection_id, last_event_id=events[-1].id)
    assert stix_ids(again) == [oid for oid, _ in later]

    # Connecting with an id acknowledged it.
    with hub.session() as s:
        position = s.execute(
            select(StreamPosition.position_us).where(
                StreamPosition.org_id == world.org_ids["hub-b"],
                StreamPosition.collection_id == world.collection_id,
            )
        ).scalar_one()
    assert f"{world.collection_id}:{position}" == events[-1].id


def test_an_alias_streams_the_collection_under_its_id(live: str, world: World) -> None:
    oid, text = raw_indicator(TLP.GREEN, "198.51.100.40")
    share(live, world.tokens["alice"], world.collection_id, text)
    events = drain(live, world.tokens["bob"], "indicators")
    assert stix_ids(events) == [oid]
    assert events[-1].id.startswith(f"{world.collection_id}:")  # type: ignore[union-attr]
    assert (
        stix_ids(drain(live, world.tokens["bob"], "indicators", last_event_id=events[-1].id)) == []
    )


def test_exclude_origin_leaves_out_versions_first_stored_there(
    live: str, world: World, hub: Hub
) -> None:
    texts = [raw_indicator(TLP.GREEN, f"198.51.100.{n}") for n in range(50, 53)]
    share(live, world.tokens["alice"], world.collection_id, *(t for _, t in texts))
    (x, _), (y, _), (local, _) = texts
    with hub.session() as s:
        for oid, origin in ((x, "hub-x"), (y, "hub-y")):
            s.execute(update(StixObject).where(StixObject.stix_id == oid).values(origin_hub=origin))
        s.commit()
    token, cid = world.tokens["hubb"], world.collection_id
    assert stix_ids(drain(live, token, cid)) == [x, y, local]
    assert stix_ids(drain(live, token, cid, exclude_origin="hub-x")) == [y, local]
    assert stix_ids(drain(live, token, cid, exclude_origin="hub-x,hub-y")) == [local]
    here = config.current().hub_name
    assert stix_ids(drain(live, token, cid, exclude_origin=here)) == [x, y]
    assert stix_ids(drain(live, token, cid, exclude_origin=[here, "hub-y"])) == [x]


def test_heartbeats_while_idle(
    live: str, world: World, subscribers: list[Subscriber], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "HEARTBEAT_SECONDS", 0.3)
    sub = Subscriber(url(live, world.collection_id), world.tokens["bob"]).start()
    subscribers.append(sub)
    assert sub.status == 200
    assert sub.next("comment", timeout=3).data == "heartbeat"
    assert sub.next("comment", timeout=3).data == "heartbeat"


def test_a_committed_share_reaches_a_waiting_stream_within_a_second(
    live: str, world: World, subscribers: list[Subscriber]
) -> None:
    sub = Subscriber(url(live, world.collection_id), world.tokens["hubb"]).start()
    subscribers.append(sub)
    time.sleep(0.5)  # the stream has read everything and waits
    for n in range(3):
        oid, text = raw_indicator(TLP.GREEN, f"198.51.100.{60 + n}")
        share(live, world.tokens["alice"], world.collection_id, text)
        shared = time.monotonic()
        event = sub.next("batch", timeout=3)
        assert stix_ids([event]) == [oid]
        assert event.at - shared < 1.0, f"took {event.at - shared:.3f} s"


def test_tombstones_go_to_their_audience_only(live: str, world: World, hub: Hub) -> None:
    oid, text = raw_indicator(TLP.GREEN, "198.51.100.70")
    share(live, world.tokens["alice"], world.collection_id, text)
    here = config.current().hub_name
    document = {
        "type": "varsel-tombstone",
        "id": f"{here}/{uuid.uuid4()}",
        "origin": here,
        "stix_id": oid,
        "versions": None,
        "reason": "deleted",
        "issued": "2026-12-05T12:00:00.000000Z",
        "signature": "c2ln",
    }
    with hub.session() as s:
        # Positions come from the collection's one counter, taken under its lock.
        s.execute(
            update(Collection)
            .where(Collection.id == world.collection_id)
            .values(last_added_us=Collection.last_added_us + 1)
        )
        at = s.execute(
            select(Collection.last_added_us).where(Collection.id == world.collection_id)
        ).scalar_one()
        stone = Tombstone(
            collection_id=world.collection_id,
            stix_id=oid,
            origin_hub=here,
            reason="deleted",
            date_added_us=at,
            document=json.dumps(document, indent=2),
            created_at=utcnow(),
        )
        s.add(stone)
        s.flush()
        s.add(TombstoneAudience(tombstone_id=stone.id, org_id=world.org_ids["hub-b"]))
        s.commit()

    peer = drain(live, world.tokens["hubb"], world.collection_id)
    assert [t for e in peer if e.kind == "batch" for t in e.json()["tombstones"]] == [document]
    assert stix_ids(peer) == [oid]
    assert peer[-1].id == f"{world.collection_id}:{at}"
    member = drain(live, world.tokens["bob"], world.collection_id)
    assert all(e.json()["tombstones"] == [] for e in member if e.kind == "batch")
    assert stix_ids(member) == [oid]
    # Excluding the origin excludes its tombstones too.
    excluded = drain(live, world.tokens["hubb"], world.collection_id, exclude_origin=here)
    assert [e.kind for e in excluded] == ["idle"]


def test_large_batches_are_split_into_events_that_resume_exactly(
    live: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "MAX_EVENT_BYTES", 3000)
    texts = [raw_indicator(TLP.GREEN, f"198.51.100.{n}") for n in range(80, 88)]
    share(live, world.tokens["alice"], world.collection_id, *(t for _, t in texts))
    events = drain(live, world.tokens["bob"], world.collection_id)
    batches = [e for e in events if e.kind == "batch"]
    assert len(batches) > 1
    assert all(len(e.data.encode()) <= 3000 for e in batches)
    assert stix_ids(batches) == [oid for oid, _ in texts]
    assert [e.json()["remaining"] for e in batches][-1] == 0
    half = len(batches) // 2
    seen = len(stix_ids(batches[: half + 1]))
    rest = drain(live, world.tokens["bob"], world.collection_id, last_event_id=batches[half].id)
    assert stix_ids(rest) == [oid for oid, _ in texts][seen:]


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [
        ({}, {}, 400),
        ({"collection": "no-such-collection"}, {}, 404),
        ({"collection": "COLL", "limit": 0}, {}, 400),
        ({"collection": "COLL", "limit": 1001}, {}, 400),
        ({"collection": "COLL", "limit": "many"}, {}, 400),
        ({"collection": "COLL", "until_idle": "perhaps"}, {}, 400),
        ({"collection": "COLL"}, {"Last-Event-ID": "garbage"}, 400),
        ({"collection": "COLL"}, {"Last-Event-ID": "COLL:12,COLL:13"}, 400),
        ({"collection": "COLL", "last_event_id": "COLL:-5"}, {}, 400),
        ({"collection": "COLL", "last_event_id": "COLL:99999999999999999999999"}, {}, 400),
    ],
)
def test_bad_parameters_are_refused_before_streaming(
    live: str, world: World, params: dict[str, Any], headers: dict[str, str], status: int
) -> None:
    query = {k: str(v).replace("COLL", world.collection_id) for k, v in params.items()}
    sent = {k: v.replace("COLL", world.collection_id) for k, v in headers.items()}
    answer = httpx.get(
        f"{live}/api/v1/stream",
        params=query,
        headers={"Authorization": f"Bearer {world.tokens['bob']}", **sent},
        timeout=10,
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_an_unlisted_collection_of_others_is_not_found(live: str, world: World, hub: Hub) -> None:
    with hub.session() as s:
        f.community(s, "Closed", ["Fjordnett"])
        closed = f.collection(s, "Closed feed", "Closed").id
        s.commit()
    for target in (url(live, closed), url(live, world.collection_id, closed)):
        answer = httpx.get(target, headers={"Authorization": f"Bearer {world.tokens['bob']}"})
        assert answer.status_code == 404
        assert answer.json()["detail"] == f"no collection {closed!r}"
    assert httpx.get(url(live, world.collection_id)).status_code == 401


def test_too_many_streams_are_refused_busy(
    live: str, world: World, subscribers: list[Subscriber], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "MAX_STREAMS", 1)
    bearer = {"Authorization": f"Bearer {world.tokens['bob']}"}
    for _ in range(3):  # a refused stream gives its place back
        assert httpx.get(url(live, "no-such-collection"), headers=bearer).status_code == 404
    first = Subscriber(url(live, world.collection_id), world.tokens["bob"]).start()
    subscribers.append(first)
    assert first.status == 200
    refused = httpx.get(
        url(live, world.collection_id), headers={"Authorization": f"Bearer {world.tokens['bob']}"}
    )
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    first.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the server notices the client left
        answer = httpx.get(
            url(live, world.collection_id, until_idle=1),
            headers={"Authorization": f"Bearer {world.tokens['bob']}"},
        )
        if answer.status_code == 200:
            break
        time.sleep(0.1)
    assert answer.status_code == 200


@pytest.mark.parametrize("how", ["revoked", "disabled"])
def test_a_revoked_token_or_disabled_user_ends_the_stream(
    live: str,
    world: World,
    hub: Hub,
    subscribers: list[Subscriber],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    monkeypatch.setattr(stream_module, "HEARTBEAT_SECONDS", 0.5)
    sub = Subscriber(url(live, world.collection_id), world.tokens["bob"]).start()
    subscribers.append(sub)
    sub.next("comment", timeout=3)
    with hub.session() as s:
        bob = s.execute(select(User.id).where(User.username == "bob")).scalar_one()
        if how == "revoked":
            s.execute(update(ApiToken).where(ApiToken.user_id == bob).values(revoked_at=utcnow()))
        else:
            s.execute(update(User).where(User.id == bob).values(disabled_at=utcnow()))
        s.commit()
    ended = sub.next("error", timeout=3)
    assert ended.json()["status"] == 401
    assert sub.ended.wait(3)
    # Nothing shared afterwards reaches it.
    assert sub.events.get(timeout=1) is None


def test_a_share_wakes_a_stream_of_another_server_process(
    live: str, world: World, hub: Hub, tmp_path: Path, subscribers: list[Subscriber]
) -> None:
    if hub.backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY across processes is PostgreSQL's; SQLite polls one file")
    port = _free_port()
    other = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "VARSEL_DATABASE_URL": hub.settings.database_url,
        "VARSEL_SECRET_KEY": SECRET,
        "VARSEL_WARNINGLIST_HELPER": "0",
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "varsel", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                httpx.get(f"{other}/taxii2/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "varsel serve did not start"
                time.sleep(0.2)
        sub = Subscriber(url(other, world.collection_id), world.tokens["hubb"]).start()
        subscribers.append(sub)
        assert sub.status == 200
        time.sleep(1.0)  # caught up, and its process's listener is connected
        for n in range(3):
            oid, text = raw_indicator(TLP.GREEN, f"198.51.100.{90 + n}")
            share(live, world.tokens["alice"], world.collection_id, text)  # this process
            shared = time.monotonic()
            event = sub.next("batch", timeout=3)
            assert stix_ids([event]) == [oid]
            assert event.at - shared < 1.0, f"took {event.at - shared:.3f} s"
        sub.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_share_notifies_the_feed_channel_on_commit(live: str, world: World, hub: Hub) -> None:
    if hub.backend != "postgresql":
        pytest.skip("SQLite has no NOTIFY; its streams poll")
    import psycopg

    args, kwargs = hub.engine.dialect.create_connect_args(hub.engine.url)
    kwargs.pop("context", None)
    with psycopg.connect(*args, autocommit=True, **kwargs) as conn:
        conn.execute("LISTEN varsel_feed")
        share(
            live, world.tokens["alice"], world.collection_id, raw_indicator(TLP.GREEN, "1.2.3.4")[1]
        )
        notes = [n.payload for n in conn.notifies(timeout=2, stop_after=1)]
    assert notes == [world.collection_id]


def test_the_application_starts_and_stops_its_wakeups(hub: Hub) -> None:
    from fastapi.testclient import TestClient

    with TestClient(hub.app):
        wakeups = hub.app.state.feeds.wakeups
        deadline = time.monotonic() + 5
        while not wakeups.reliable and time.monotonic() < deadline:
            time.sleep(0.05)  # PostgreSQL: until its LISTEN connection is up
        assert wakeups.reliable
    assert not wakeups.reliable
