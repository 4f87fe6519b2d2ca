"""The SQLite database holds password hashes, TLP:RED content and persons: 0600 like the key."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from varsel.db import make_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_varsel_init_creates_the_database_readable_by_its_owner_only(
    tmp_path: Path, umask: int
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VARSEL_DATABASE_URL"}
    env["VARSEL_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        ["sh", "-c", f'umask {umask:03o} && exec "$0" -m varsel init', sys.executable],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    database = tmp_path / "data" / "varsel.sqlite3"
    assert _mode(database) == 0o600
    assert not (tmp_path / "data" / "secret.key").exists()  # the key came from the environment


def test_the_write_ahead_log_and_shared_memory_files_are_private_too(tmp_path: Path) -> None:
    database = tmp_path / "hub.sqlite3"
    previous = os.umask(0)
    try:
        engine = make_engine(f"sqlite:///{database}")
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            conn.commit()
            # While a connection is open the -wal and -shm files exist beside the database.
            modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
        engine.dispose()
    finally:
        os.umask(previous)
    assert modes == {"hub.sqlite3": 0o600, "hub.sqlite3-wal": 0o600, "hub.sqlite3-shm": 0o600}


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    database = tmp_path / "hub.sqlite3"
    make_engine(f"sqlite:///{database}").dispose()
    os.chmod(database, 0o640)  # an operator's deliberate choice, e.g. for a backup group
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    assert _mode(database) == 0o640
