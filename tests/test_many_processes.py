"""Two real ``varsel serve`` processes on one PostgreSQL database serve one hub.

Requests alternate between the processes: nothing a request relies on may live in one
process's memory (cursors, sessions, throttles, lockouts, authorisation).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path
from typing import IO

import httpx
import pytest
from sqlalchemy import delete
from taxii2client.v21 import Collection, as_pages

from tests import factories as f
from tests import pg
from tests.conftest import SECRET, _free_port
from tests.factories import TAXII
from tests.sharing.conftest import BearerAuth
from varsel import migrate
from varsel.db import make_engine, make_sessionmaker
from varsel.orgs.models import AddressFailure, AuthFailure

FAILED_LOGINS = 3
ADDRESS_LIMIT = 20
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class TwoHubs:
    """Two processes of one hub, and what the tests need to reach it."""

    urls: tuple[str, str]
    collection_id: str
    tokens: dict[str, str]
    database_url: str

    def forget_failures(self) -> None:
        """Start a test with no failed sign-ins counted anywhere."""
        engine = make_engine(self.database_url)
        try:
            with engine.begin() as conn:
                conn.execute(delete(AuthFailure))
                conn.execute(delete(AddressFailure))
        finally:
            engine.dispose()

    def objects_url(self, which: int) -> str:
        """Return the TAXII objects URL of the collection on process ``which``."""
        return f"{self.urls[which]}/taxii2/hub/collections/{self.collection_id}/objects/"


def _start(url: str, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VARSEL_DATABASE_URL": url,
        "VARSEL_SECRET_KEY": SECRET,
        "VARSEL_MAX_FAILED_LOGINS": str(FAILED_LOGINS),
        "VARSEL_AUTH_FAILURES_PER_MINUTE": str(ADDRESS_LIMIT),
        "VARSEL_WARNINGLIST_HELPER": "0",
    }
    command = [sys.executable, "-m", "varsel", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
    )


def _wait_until_serving(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"varsel serve exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(f"{base}/taxii2/", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"varsel serve did not answer on {base}")


@pytest.fixture(scope="module")
def two_hubs(pg_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHubs]:
    """Start two hub processes on one fresh PostgreSQL database."""
    logs = [tmp_path_factory.mktemp("serve") / f"serve{n}.log" for n in range(2)]
    url = pg.create_database()
    engine = make_engine(url)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        migrate.upgrade(engine)
        with make_sessionmaker(engine)() as s:
            f.org(s, "Fjordnett", "NO")
            f.org(s, "Svea", "SE")
            f.user(s, "alice", "Fjordnett")
            f.user(s, "bob", "Svea")
            f.user(s, "mallory", "Svea")
            f.user(s, "root", "Fjordnett", role="hub-admin")
            f.community(s, "Nordic", ["Fjordnett", "Svea"])
            coll = f.collection(s, "Indicators", "Nordic", default_tlp="amber")
            tokens = {name: f.token(s, name) for name in ("alice", "bob", "mallory")}
            s.commit()
            collection_id = coll.id
        ports = (_free_port(), _free_port())
        urls = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
        for port, log in zip(ports, logs, strict=True):
            with log.open("wb") as sink:  # the child keeps its own descriptor
                processes.append(_start(url, port, sink))
        for base, process, log in zip(urls, processes, logs, strict=True):
            _wait_until_serving(base, process, log)
        yield TwoHubs(urls=urls, collection_id=collection_id, tokens=tokens, database_url=url)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        engine.dispose()
        pg.drop_database(url)


def _bearer(token: str) -> dict[str, str]:
    return {"Accept": TAXII, "Content-Type": TAXII, "Authorization": f"Bearer {token}"}


def _share(hubs: TwoHubs, which: int, token: str, values: list[str]) -> list[str]:
    objects = [f.indicator(value=value) for value in values]
    response = httpx.post(
        hubs.objects_url(which), content=f.envelope(*objects), headers=_bearer(token), timeout=60
    )
    assert response.status_code == 202, response.text
    assert response.json()["failure_count"] == 0, response.text
    return [o["id"] for o in objects]


def test_a_cursor_from_one_process_pages_on_the_other(two_hubs: TwoHubs) -> None:
    shared = _share(two_hubs, 0, two_hubs.tokens["alice"], [f"192.0.2.{i}" for i in range(25)])
    seen: list[str] = []
    params: dict[str, str] = {"limit": "7"}
    pages = 0
    for which in cycle((0, 1)):
        response = httpx.get(
            two_hubs.objects_url(which), params=params, headers=_bearer(two_hubs.tokens["bob"])
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(o["id"] for o in page.get("objects", []))
        pages += 1
        if not page.get("more"):
            break
        params = {"limit": "7", "next": page["next"]}
    assert pages >= 4  # so the cursor crossed between the processes in both directions
    assert len(seen) == len(set(seen)) and set(shared) <= set(seen)


def test_a_share_on_one_process_reaches_a_poller_on_the_other(two_hubs: TwoHubs) -> None:
    poller = Collection(
        two_hubs.objects_url(1).removesuffix("objects/"),
        auth=BearerAuth(two_hubs.tokens["bob"]),
    )
    before = {
        o["id"]
        for page in as_pages(poller.get_objects, per_request=50)
        for o in page.get("objects", [])
    }
    shared = _share(two_hubs, 0, two_hubs.tokens["alice"], ["203.0.113.5", "203.0.113.6"])
    after = {
        o["id"]
        for page in as_pages(poller.get_objects, per_request=50)
        for o in page.get("objects", [])
    }
    assert after - before == set(shared)


def test_a_lockout_earned_on_one_process_holds_on_the_other(two_hubs: TwoHubs) -> None:
    two_hubs.forget_failures()
    me = [f"{base}/api/v1/me" for base in two_hubs.urls]
    # Wrong passwords on alternating processes, waiting out each lock as a patient guesser
    # would, until the lock lasts 4 s (1 s, 2 s, then 4 s after the free attempts).
    failures, attempt = 0, 0
    while failures < FAILED_LOGINS + 2:
        answer = httpx.get(me[attempt % 2], auth=("alice", "not the password"))
        assert answer.status_code == 401, answer.text
        if "wrong username or password" in answer.text:
            failures += 1
            attempt += 1
        else:
            wait = re.search(r"try again in (\d+) s", answer.text)
            assert wait, answer.text
            time.sleep(int(wait.group(1)))
    # The last failure was on one process; the other refuses even the right password.
    locked = httpx.get(me[attempt % 2], auth=("alice", f.PASSWORD))
    assert locked.status_code == 401 and "too many failed sign-ins" in locked.text


def test_password_spraying_is_counted_across_processes(two_hubs: TwoHubs) -> None:
    two_hubs.forget_failures()
    me = [f"{base}/api/v1/me" for base in two_hubs.urls]
    # Different made-up accounts, alternating processes: only the per-address window counts.
    answers = [
        httpx.get(me[n % 2], auth=(f"sprayed{n}", "guess")).status_code
        for n in range(ADDRESS_LIMIT)
    ]
    assert answers == [401] * ADDRESS_LIMIT
    # Each process alone saw half the limit; together they saw all of it.
    for url in me:
        assert httpx.get(url, auth=("bob", f.PASSWORD)).status_code == 429
    # A token is never throttled by the address's failures.
    token = httpx.get(me[1], headers={"Authorization": f"Bearer {two_hubs.tokens['bob']}"})
    assert token.status_code == 200


def test_an_admin_change_on_one_process_applies_on_the_other(two_hubs: TwoHubs) -> None:
    two_hubs.forget_failures()
    first, second = two_hubs.urls
    mallory = {"Authorization": f"Bearer {two_hubs.tokens['mallory']}"}
    assert httpx.get(f"{second}/api/v1/me", headers=mallory).status_code == 200
    # A hub-admin signs in on the first process and disables mallory there...
    with httpx.Client(base_url=first) as browser:
        login = browser.get("/login")
        signed_in = browser.post(
            "/login",
            data={
                "username": "root",
                "password": f.PASSWORD,
                "csrf": _csrf(login.text),
                "next": "/admin/users",
            },
        )
        assert signed_in.status_code == 303, signed_in.text
        # ...the web session is honoured by the second process too...
        users = httpx.get(f"{second}/admin/users", cookies=browser.cookies)
        assert users.status_code == 200 and "mallory" in users.text
        disabled = browser.post(
            "/admin/users/state",
            data={"op": "disable", "username": "mallory", "csrf": _csrf(users.text)},
        )
        assert disabled.status_code == 303, disabled.text
    # ...and the second process refuses mallory's token on the very next request.
    refused = httpx.get(f"{second}/api/v1/me", headers=mallory)
    assert refused.status_code == 401  # disabling revoked it
    # A token revoked through one process is refused by the other.
    bob = {"Authorization": f"Bearer {two_hubs.tokens['bob']}"}
    child = httpx.post(f"{second}/api/v1/tokens", json={"name": "ci"}, headers=bob)
    assert child.status_code == 201, child.text
    child_auth = {"Authorization": f"Bearer {child.json()['token']}"}
    assert httpx.get(f"{first}/api/v1/me", headers=child_auth).status_code == 200
    revoked = httpx.post(f"{first}/api/v1/tokens/{child.json()['id']}/revoke", headers=bob)
    assert revoked.status_code == 200, revoked.text
    refused = httpx.get(f"{second}/api/v1/me", headers=child_auth)
    assert refused.status_code == 401 and "revoked" in refused.text


def _csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)
