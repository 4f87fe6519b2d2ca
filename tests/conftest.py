"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

A backend's schema is built once per session through the Alembic migrations (so the migrations
are what is tested) and emptied between tests. ``hub`` is the application with its session
factory; ``live`` serves it over real HTTP on a loopback port for real clients.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from tests import pg
from varsel import config, migrate
from varsel.api.app import create_app
from varsel.config import Settings
from varsel.db import Base, make_engine, make_sessionmaker

BACKENDS = ["sqlite", "postgresql"]
SECRET = "test-secret-key-not-for-production"


def pytest_configure(config: pytest.Config) -> None:
    # CLI tests build Settings from the environment; never let them create a key file.
    os.environ.setdefault("VARSEL_SECRET_KEY", SECRET)
    # Dozens of tests start the application's lifespan; a warning-list helper process for each
    # would load the lists (~3 s of CPU) every time. tests/sharing/test_warninglist_helper.py
    # turns it on.
    os.environ.setdefault("VARSEL_WARNINGLIST_HELPER", "0")
    # Likewise the federation worker, which every lifespan would start: its tests start it.
    os.environ.setdefault("VARSEL_FEDERATION", "0")
    # And the alerts evaluator (tests/alerts call it directly, and start its loop once).
    os.environ.setdefault("VARSEL_ALERTS", "0")
    # Every share is sealed with the hub's key (varsel.provenance), created on first use in the
    # data directory: give the test session its own, never the checkout's ./data.
    if "VARSEL_DATA_DIR" not in os.environ:
        import tempfile

        os.environ["VARSEL_DATA_DIR"] = tempfile.mkdtemp(prefix="varsel-test-data-")


@pytest.fixture(autouse=True)
def _settings_of_the_test() -> Iterator[None]:
    """Give every test the environment's settings afresh and put back the ones before."""
    before = config.use(None)
    yield
    config.use(before)


@pytest.fixture
def configure() -> Callable[..., config.Settings]:
    """Return a function that changes this test's settings (``config.current()``)."""

    def apply(**changes: Any) -> config.Settings:
        settings = dataclasses.replace(config.current(), **changes)
        config.use(settings)
        return settings

    return apply


@pytest.fixture(scope="session")
def pg_available() -> None:
    """Fail under CI, skip elsewhere, when PostgreSQL cannot be reached or started."""
    problem = pg.ensure_server()
    if problem is None:
        return
    message = f"PostgreSQL is not reachable at {pg.ADMIN_URL}: {problem}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing database fails the run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Yield the URL of a migrated, empty database on each backend."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "hub.sqlite3"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
        return
    request.getfixturevalue("pg_available")
    url = pg.create_database()
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        pg.drop_database(url)


def _empty(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    # DELETE in dependency order: on small tables it is ten times faster than TRUNCATE, which
    # pays a fixed cost per table on PostgreSQL. Ids keep counting; no test relies on them.
    with engine.begin() as conn:
        for name in tables:
            conn.execute(text(f"DELETE FROM {name}"))


@dataclass
class Hub:
    """The application under test and a way to reach its database."""

    app: FastAPI
    settings: Settings
    sessions: sessionmaker[Session]
    engine: Engine
    backend: str

    def session(self) -> Session:
        """Return a new session on the hub's database."""
        return self.sessions()


@pytest.fixture(scope="session")
def _hub_app(database_url: str) -> Iterator[Hub]:
    settings = Settings(
        database_url=database_url,
        secret_key=SECRET,
        max_failed_logins=5,
        lockout_seconds=900,
        auth_failures_per_minute=1000,
        max_content_length=2 * 1024 * 1024,
    )
    app = create_app(settings)
    engine: Engine = app.state.engine
    yield Hub(
        app=app,
        settings=settings,
        sessions=make_sessionmaker(engine),
        engine=engine,
        backend=engine.dialect.name,
    )
    engine.dispose()


@pytest.fixture
def hub(_hub_app: Hub) -> Iterator[Hub]:
    """Yield the hub with an empty database (on each backend in turn)."""
    _empty(_hub_app.engine)
    yield _hub_app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def _live_server(_hub_app: Hub) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(
        _hub_app.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def live(hub: Hub, _live_server: str) -> str:
    """Return the base URL of the hub served over real HTTP (database emptied)."""
    return _live_server
