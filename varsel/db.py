"""Engines and sessions for SQLite (embedded default) and PostgreSQL, through the same code.

SQLite runs in WAL mode with a busy timeout so that readers never block the single writer and
writers queue instead of failing. Nothing here is PostgreSQL-only: the schema uses portable types.
A new SQLite file is created readable by the hub's user only (0600), like the secret key: it
holds password hashes, TLP:RED content and personnel records.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Engine, Integer, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of every Varsel table."""

    metadata = MetaData(naming_convention=NAMING)


def normalise_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver chosen for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Checkpoint every ~40 MB of WAL instead of ~4 MB: pages of the id index that several
    # envelopes touch are copied back once, and ingest measured ~10 % faster (benchmarks.md).
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 whatever the umask; leave an existing file alone."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        # os.open applies the umask; fchmod does not, so the mode is 0600 under any umask.
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite files get their directory, WAL and a busy timeout."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            path = Path(parsed.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            # SQLite would create the file with 0644 under the usual umask; an empty file is an
            # empty database to it, and it gives the -wal and -shm files the database's mode.
            create_private_file(path)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory for ``engine`` (objects stay usable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
