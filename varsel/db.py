"""Engines and sessions for SQLite (embedded default) and PostgreSQL, through the same code.

SQLite runs in WAL mode with a busy timeout so that readers never block the single writer and
writers queue instead of failing. Every transaction on SQLite begins with ``BEGIN IMMEDIATE``,
taking the write lock up front: a deferred transaction that reads and then writes is refused at
once ("database is locked", without waiting for the busy timeout) when another writer committed
in between, and any request may write (a token's last use, an audit event). Sessions made with
``read_only=True`` begin deferred instead, so they never wait for writers, and cannot write
(``PRAGMA query_only``). A writer that still cannot get the lock within the busy timeout (the
``timeout`` query parameter of a SQLite URL, in seconds; 30 by default), and a PostgreSQL lock
timeout, serialization failure or deadlock, raise :class:`varsel.errors.Busy`: the caller may
simply try again. Nothing here is PostgreSQL-only: the schema uses portable types.
A new SQLite file is created readable by the hub's user only (0600), like the secret key: it
holds password hashes, TLP:RED content and personnel records.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, Integer, MetaData, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from varsel.errors import Busy

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


# The execution option that makes a session's transactions read-only and deferred (SQLite).
READ_ONLY = "varsel_read_only"
DEFAULT_BUSY_TIMEOUT = 30.0


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    # pysqlite would send a deferred BEGIN itself before the first write; the begin event
    # below sends the BEGIN instead (SQLAlchemy's documented pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Checkpoint every ~40 MB of WAL instead of ~4 MB: pages of the id index that several
    # envelopes touch are copied back once, and ingest measured ~10 % faster (benchmarks.md).
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()
    record.info[READ_ONLY] = False


def _sqlite_begin(conn: Connection) -> None:
    read_only = bool(conn.get_execution_options().get(READ_ONLY))
    info = conn.connection.info
    if info.get(READ_ONLY) != read_only:
        conn.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
        info[READ_ONLY] = read_only
    conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


# SQLITE_BUSY and SQLITE_LOCKED (the low byte of extended codes such as SQLITE_BUSY_SNAPSHOT).
_SQLITE_BUSY_CODES = {5, 6}
# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available (lock_timeout).
_PG_BUSY_STATES = {"40001", "40P01", "55P03"}


def _busy(context: ExceptionContext) -> None:
    """Raise Busy in place of a driver error that only says "another writer is in the way"."""
    original = context.original_exception
    code = getattr(original, "sqlite_errorcode", None)
    busy = (
        (isinstance(code, int) and code & 0xFF in _SQLITE_BUSY_CODES)
        or (
            type(original).__module__ == "sqlite3"
            and str(original).startswith(("database is locked", "database table is locked"))
        )
        or getattr(original, "sqlstate", None) in _PG_BUSY_STATES
    )
    if busy:
        raise Busy("the database is busy with other writers; try again shortly") from original


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
        try:
            timeout = float(parsed.query.get("timeout", DEFAULT_BUSY_TIMEOUT))  # type: ignore[arg-type]
        except ValueError:
            raise SystemExit(f"the SQLite timeout must be a number of seconds: {url}") from None
        # pysqlite's timeout is SQLite's busy timeout: how long a writer waits for the lock.
        engine = create_engine(
            parsed.difference_update_query(["timeout"]),
            connect_args={"check_same_thread": False, "timeout": timeout},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    event.listen(engine, "handle_error", _busy)
    return engine


def make_sessionmaker(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Return the session factory for ``engine`` (objects stay usable after commit).

    With ``read_only`` its transactions never wait for writers on SQLite and cannot write.
    """
    if read_only:
        return sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
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
