"""Find (or start) the PostgreSQL server the suite runs against, and make throwaway databases.

Under ``CI=true`` a server that cannot be reached fails the run; elsewhere its tests are skipped
with the reason. ``VARSEL_TEST_PG_URL`` points at another server (an admin connection).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
import uuid

import psycopg

ADMIN_URL = os.environ.get("VARSEL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _reachable() -> str | None:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)


def _try_start() -> None:
    """Start the machine's local cluster the way the machine itself does, if it is installed."""
    if shutil.which("pg_ctlcluster") is None:
        return
    for version_dir in sorted(glob.glob("/etc/postgresql/*")):
        version = os.path.basename(version_dir)
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=False,
            capture_output=True,
            timeout=60,
        )


def ensure_server() -> str | None:
    """Return None when PostgreSQL answers (starting it if need be), else why it does not."""
    problem = _reachable()
    if problem is None:
        return None
    _try_start()
    for _ in range(20):
        problem = _reachable()
        if problem is None:
            return None
        time.sleep(0.5)
    return problem


def create_database() -> str:
    """Create an empty database and return its SQLAlchemy URL."""
    name = f"varsel_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database`."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
