"""SQLite: SQLite's online backup API in both directions.

Backing up copies the live database in one step, inside one read transaction: in WAL mode the
hub's writers go on meanwhile, and the copy is the database as of that transaction's start. (A
copy in several steps would restart whenever another connection writes, and under steady writes
might never finish.) Restoring copies the backup's pages into the hub's file the same way, as one
write transaction through SQLite's own locking and journal: readers see the old database or the
new one, never a mixture, and a failure part-way leaves the old one. Swapping files instead would
leave a stale ``-wal`` beside the new file for SQLite to replay over it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from varsel.backup import _snapshot
from varsel.backup._archive import Manifest
from varsel.backup._errors import BackupError, Progress
from varsel.db import create_private_file

PAYLOAD = "hub.sqlite3"


def database_path(url: str) -> Path:
    """Return the file behind an SQLite URL; refuse in-memory and URI-style databases."""
    parsed = make_url(url)
    if not parsed.database or parsed.database == ":memory:" or parsed.query.get("uri"):
        raise BackupError("only an SQLite database in a file can be backed up or restored")
    return Path(parsed.database)


def _manifest_of(path: Path) -> Manifest:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return _snapshot.read(connection, engine="sqlite", payload=PAYLOAD)
    finally:
        engine.dispose()


def backup(*, url: str, into: Path, progress: Progress) -> Manifest:
    """Copy the live database at ``url`` into the file ``into``; return its manifest."""
    source_path = database_path(url)
    if not source_path.is_file():
        raise BackupError(f"no hub database at {source_path}; run `varsel init` first")
    progress("copying database", 0, 0)
    with (
        closing(sqlite3.connect(source_path, timeout=30)) as source,
        closing(sqlite3.connect(into)) as target,
    ):
        source.execute("PRAGMA busy_timeout=30000")
        source.backup(target, pages=-1)
        # A self-contained file: no -wal for whoever takes the payload out of the archive.
        target.execute("PRAGMA journal_mode=DELETE")
    return _manifest_of(into)


def restore(*, url: str, payload: Path, force: bool, progress: Progress) -> None:
    """Copy the database file ``payload`` over the hub at ``url`` in one write transaction."""
    target_path = database_path(url)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    create_private_file(target_path)  # 0600, like every hub database
    engine = create_engine(f"sqlite:///{target_path}")
    try:
        with engine.connect() as connection:
            if not force and _snapshot.has_rows(connection):
                raise BackupError(
                    f"the database at {target_path} already holds a hub; restoring would "
                    "replace it (add --force to do so)"
                )
    finally:
        engine.dispose()
    progress("restoring database", 0, 0)
    with (
        closing(sqlite3.connect(payload)) as source,
        closing(sqlite3.connect(target_path, timeout=30)) as target,
    ):
        target.execute("PRAGMA busy_timeout=30000")
        try:
            source.backup(target, pages=-1)
        except sqlite3.Error as exc:
            raise BackupError(f"cannot write {target_path}: {exc}") from None
