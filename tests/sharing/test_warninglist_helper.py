"""The warning-list helper process: the same flags as in-process, and never a dependency."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories as f
from tests.conftest import Hub
from varsel import config
from varsel.config import Settings
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.ingest import warninglists
from varsel.sharing.ingest.helper import WarningListHelper, helper_enabled

# Flagged (a public resolver, RFC 1918 space, a Tranco top site) and ordinary values, single and
# mixed-kind patterns, patterns the matcher cannot evaluate, and invalid ones.
PATTERNS = [
    "[ipv4-addr:value = '8.8.8.8']",
    "[ipv4-addr:value = '10.1.2.3']",
    "[ipv4-addr:value = '198.51.100.7']",
    "[domain-name:value = 'c2.bad.example']",
    "[domain-name:value = 'www.google.com']",
    "[url:value = 'https://www.google.com/search?q=1']",
    "[url:value = 'https://c2.bad.example/payload.bin']",
    "[domain-name:value = 'c2.bad.example'] OR [ipv4-addr:value = '8.8.8.8']",
    "[ipv4-addr:value = '1.1.1.1' OR domain-name:value = 'www.google.com']",
    "[file:hashes.'SHA-256' = '" + "ab" * 32 + "']",
    "[ipv4-addr:value = '8.8.8.8'] FOLLOWEDBY [domain-name:value = 'x.example']",
    "[this is not a pattern",
]


def _wait(predicate: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def helper() -> Iterator[WarningListHelper]:
    """A started helper that takes envelopes of any size."""
    started = WarningListHelper(min_body_bytes=0)
    started.start()
    _wait(lambda: started.ready, "the helper to load its lists")
    yield started
    started.stop()


def _objects(draw_patterns: list[int], extras: list[int]) -> list[Any]:
    objects: list[Any] = [f.indicator(pattern=PATTERNS[i]) for i in draw_patterns]
    for at, kind in enumerate(extras):
        entry: Any = [
            {"type": "malware", "id": f.stix_id("malware"), "name": "x"},
            "not an object",
            f.indicator(pattern=PATTERNS[0], pattern_type="snort"),
            f.indicator(pattern=PATTERNS[0], revoked=True),
        ][kind]
        objects.insert(at % (len(objects) + 1), entry)
    return objects


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    patterns=st.lists(st.integers(0, len(PATTERNS) - 1), max_size=30),
    extras=st.lists(st.integers(0, 3), max_size=5),
)
def test_helper_flags_are_the_in_process_flags(
    helper: WarningListHelper, patterns: list[int], extras: list[int]
) -> None:
    objects = _objects(patterns, extras)
    pending = helper.submit(json.dumps({"objects": objects}))
    assert pending is not None
    flags = pending.result(len(objects))
    assert flags is not None
    dicts = [o if isinstance(o, dict) else {} for o in objects]
    expected = {i: w for i, w in enumerate(warninglists.check_indicators(dicts)) if w}
    assert flags == expected
    # And each object's flags are what the one-object check (the bulk Arrow path) finds.
    for position, obj in enumerate(dicts):
        assert sorted(flags.get(position, [])) == sorted(warninglists.check_indicator(obj))


def test_envelopes_the_helper_cannot_read_are_left_to_the_ingest(
    helper: WarningListHelper,
) -> None:
    for body in ('{"objects": 5}', "[1, 2]", '{"objects": [', "\x00"):
        pending = helper.submit(body)
        assert pending is not None
        assert pending.result(0) is None
    # A count that disagrees with the server's reading of the envelope is not trusted either.
    pending = helper.submit(f.envelope(f.indicator(pattern=PATTERNS[0])))
    assert pending is not None
    assert pending.result(2) is None
    assert helper.ready  # none of this hurt the helper


def test_small_envelopes_and_a_busy_helper_stay_in_process() -> None:
    small = WarningListHelper()  # default threshold, never started
    assert small.submit(f.envelope(f.indicator())) is None
    assert small.submit("x" * 100_000) is None  # not ready


def test_a_second_share_does_not_wait_for_a_busy_helper(helper: WarningListHelper) -> None:
    first = helper.submit(f.envelope(f.indicator(pattern=PATTERNS[0])))
    assert first is not None
    assert helper.submit(f.envelope(f.indicator())) is None
    assert first.result(1) == {0: warninglists.check_indicator(f.indicator(pattern=PATTERNS[0]))}
    second = helper.submit(f.envelope(f.indicator()))
    assert second is not None
    second.close()  # a result nobody collects still frees the helper
    third = helper.submit(f.envelope(f.indicator(pattern=PATTERNS[3])))  # on no list
    assert third is not None
    assert third.result(1) == {}


def _world(hub: Hub) -> tuple[str, str]:
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.user(s, "alice", "Fjordnett", password=None)
        f.community(s, "Nordic", ["Fjordnett"])
        one = f.collection(s, "With helper", "Nordic").id
        two = f.collection(s, "In process", "Nordic").id
        s.commit()
        return one, two


def _share(hub: Hub, collection_id: str, body: str, helper: WarningListHelper | None) -> list[Any]:
    with hub.session() as s:
        result = ingesting.ingest(
            session=s,
            collection=sharing.get_collection(session=s, collection_id=collection_id),
            principal=f.principal(s, "alice"),
            body=body,
            warnings_helper=helper,
        )
        s.commit()
    return [
        sorted((o.id or "", o.message or "") for o in result.successes),
        sorted((o.id or "", o.message or "") for o in result.failures),
    ]


@pytest.mark.parametrize("mode", ["warn", "refuse"])
def test_ingest_decides_the_same_with_and_without_the_helper(
    hub: Hub, helper: WarningListHelper, configure: Callable[..., Settings], mode: str
) -> None:
    configure(warninglist_mode=mode)
    with_helper, in_process = _world(hub)
    objects = _objects(list(range(len(PATTERNS))) * 2, [0, 1, 2, 3])
    body = json.dumps({"objects": objects})
    checked = helper.checked
    outcome = _share(hub, with_helper, body, helper)
    assert helper.checked == checked + 1  # the helper's flags were the ones used
    assert outcome == _share(hub, in_process, body, None)
    successes, failures = outcome
    flagged = [m for _, m in (failures if mode == "refuse" else successes) if "8.8.8.8" in m]
    assert flagged, "the public resolver was not flagged"


def test_a_dead_helper_is_replaced_and_shares_go_on(
    hub: Hub, configure: Callable[..., Settings]
) -> None:
    configure(warninglist_mode="warn")
    with_helper, in_process = _world(hub)
    body = f.envelope(*(f.indicator(pattern=p) for p in PATTERNS))
    helper = WarningListHelper(min_body_bytes=0)
    helper.start()
    try:
        _wait(lambda: helper.ready, "the helper to start")
        first_pid = helper.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        time.sleep(0.2)
        # The share is checked in-process and loses nothing.
        outcome = _share(hub, with_helper, body, helper)
        assert outcome == _share(hub, in_process, body, None)
        assert any("8.8.8.8" in m for _, m in outcome[0])
        _wait(lambda: helper.ready and helper.pid != first_pid, "a new helper")
        pending = helper.submit(body)
        assert pending is not None and pending.result(len(PATTERNS)) is not None
    finally:
        helper.stop()
    assert not helper.ready and helper.pid is None


def test_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, on in (("off", False), ("1", True), ("", (os.cpu_count() or 1) > 1)):
        monkeypatch.setenv("VARSEL_WARNINGLIST_HELPER", raw)
        config.use(None)  # read the environment again, as a new process would
        assert helper_enabled() is on, raw


def test_taxii_adds_go_through_the_servers_helper(
    hub: Hub, configure: Callable[..., Settings]
) -> None:
    configure(warninglist_helper=True, warninglist_mode="warn")
    collection_id, _ = _world(hub)
    with hub.session() as s:
        token = f.token(s, "alice")
        s.commit()
    resolver = f.indicator(pattern=PATTERNS[0])
    ordinary = [
        f.indicator(pattern=f"[domain-name:value = 'c2-{i}.bad.example']") for i in range(90)
    ]
    body = f.envelope(resolver, *ordinary)
    assert len(body) > 16 * 1024  # big enough for the helper
    headers = {"Authorization": f"Bearer {token}", "Accept": f.TAXII, "Content-Type": f.TAXII}
    with TestClient(hub.app) as client:  # runs the lifespan, which starts the helper
        server_helper = hub.app.state.hub.warnings_helper
        assert server_helper is not None
        _wait(lambda: server_helper.ready, "the server's helper")
        root = client.get("/taxii2/", headers=headers).json()["api_roots"][0]
        status = client.post(
            f"{root}collections/{collection_id}/objects/", content=body, headers=headers
        )
        assert status.status_code == 202, status.text
        assert server_helper.checked == 1
    assert hub.app.state.hub.warnings_helper is None  # stopped with the application
    messages = {s["id"]: s.get("message", "") for s in status.json()["successes"]}
    assert messages[resolver["id"]].startswith("warning: 8.8.8.8 is on the warning list")
    assert sum(1 for m in messages.values() if m) == 1
