"""Writers that cannot get SQLite's write lock in time get 503 with Retry-After, never 500.

Every transaction on SQLite begins with ``BEGIN IMMEDIATE`` (varsel.db), so a writer waits its
turn for the busy timeout instead of failing at once when another writer committed first; one
that still waits in vain has written nothing and is told to come back.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from tests import factories as f
from tests.conftest import SECRET, _free_port
from tests.factories import TAXII
from varsel import migrate
from varsel.api.app import create_app
from varsel.config import Settings
from varsel.db import make_engine, make_sessionmaker
from varsel.sharing.models import StixObject

BUSY_TIMEOUT = 0.3  # seconds; the hub's default is 30


@dataclass
class BusyHub:
    """A SQLite hub with a short busy timeout, served over HTTP."""

    url: str
    path: Path
    objects_url: str
    token: str

    def stored(self, ids: list[str]) -> int:
        """Return how many of ``ids`` the hub stored."""
        engine = make_engine(f"sqlite:///{self.path}")
        try:
            with engine.connect() as conn:
                query = select(func.count()).where(StixObject.stix_id.in_(ids))
                return int(conn.execute(query).scalar_one())
        finally:
            engine.dispose()


@pytest.fixture
def busy_hub(tmp_path: Path) -> Iterator[BusyHub]:
    """Serve a fresh SQLite hub whose writers wait at most BUSY_TIMEOUT for the lock."""
    path = tmp_path / "hub.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with make_sessionmaker(engine)() as s:
        f.org(s, "Fjordnett", "NO")
        f.user(s, "alice", "Fjordnett")
        f.community(s, "Nordic", ["Fjordnett"])
        collection_id = f.collection(s, "Indicators", "Nordic").id
        token = f.token(s, "alice")
        s.commit()
    engine.dispose()
    settings = Settings(
        database_url=f"sqlite:///{path}?timeout={BUSY_TIMEOUT}",
        secret_key=SECRET,
        auth_failures_per_minute=1000,
    )
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    try:
        yield BusyHub(
            url=base,
            path=path,
            objects_url=f"{base}/taxii2/hub/collections/{collection_id}/objects/",
            token=token,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.engine.dispose()


def _post(
    hub: BusyHub, client: httpx.Client, values: list[str]
) -> tuple[httpx.Response, list[str]]:
    objects = [f.indicator(value=value) for value in values]
    response = client.post(
        hub.objects_url,
        content=f.envelope(*objects),
        headers={"Accept": TAXII, "Content-Type": TAXII, "Authorization": f"Bearer {hub.token}"},
    )
    return response, [o["id"] for o in objects]


def test_a_writer_that_cannot_get_the_lock_gets_503_and_writes_nothing(busy_hub: BusyHub) -> None:
    holder = sqlite3.connect(busy_hub.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        with httpx.Client(timeout=30) as client:
            refused, ids = _post(busy_hub, client, ["192.0.2.1", "192.0.2.2"])
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"].isdigit()
        assert refused.headers["content-type"].startswith("application/taxii+json")
        assert refused.json()["http_status"] == "503"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert busy_hub.stored(ids) == 0
    with httpx.Client(timeout=30) as client:
        accepted, again = _post(busy_hub, client, ["192.0.2.1", "192.0.2.2"])
    assert accepted.status_code == 202, accepted.text
    assert busy_hub.stored(again) == 2


def test_concurrent_writers_get_202_or_503_and_never_half_a_write(busy_hub: BusyHub) -> None:
    answers: list[tuple[int, str | None, list[str]]] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        with httpx.Client(timeout=60) as client:
            for e in range(8):
                values = [f"198.51.{n}.{e * 20 + i}" for i in range(20)]
                response, ids = _post(busy_hub, client, values)
                with lock:
                    answers.append((response.status_code, response.headers.get("retry-after"), ids))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 48
    assert {status for status, _, _ in answers} <= {202, 503}
    for status, retry_after, ids in answers:
        if status == 503:
            assert retry_after is not None and busy_hub.stored(ids) == 0
        else:
            assert busy_hub.stored(ids) == len(ids)


def test_a_web_form_that_cannot_get_the_lock_gets_a_503_page(busy_hub: BusyHub) -> None:
    with httpx.Client(base_url=busy_hub.url, timeout=30) as browser:
        page = browser.get("/login")  # reads only: it never waits for the lock
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert page.status_code == 200 and csrf
        holder = sqlite3.connect(busy_hub.path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            assert browser.get("/login").status_code == 200  # still reads while it is held
            refused = browser.post(
                "/login",
                data={"username": "alice", "password": f.PASSWORD, "csrf": csrf.group(1)},
            )
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert refused.status_code == 503
        assert refused.headers["retry-after"].isdigit()
        assert refused.headers["content-type"].startswith("text/html")
        signed_in = browser.post(
            "/login",
            data={"username": "alice", "password": f.PASSWORD, "csrf": csrf.group(1)},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text
