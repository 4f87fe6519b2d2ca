"""``varsel backup`` and ``varsel restore`` as an operator runs them, on both engines.

A hub seeded with the demo data is backed up by a real ``varsel backup`` process and restored
by a real ``varsel restore`` into a database made for the test; every table is compared row by
row with the original.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from tests import factories as f
from tests import pg
from tests.conftest import SECRET
from varsel import migrate
from varsel.db import make_engine, make_sessionmaker, unit_of_work


def varsel(*args: str, url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run ``varsel ARGS`` in its own process against the database at ``url``."""
    env = {
        **os.environ,
        "VARSEL_DATABASE_URL": url,
        "VARSEL_SECRET_KEY": SECRET,
        "VARSEL_DATA_DIR": str(data_dir),
        "COLUMNS": "300",
    }
    return subprocess.run(
        [sys.executable, "-m", "varsel", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class Databases:
    """Makes empty databases of one engine for a test and drops them afterwards."""

    def __init__(self, engine: str, directory: Path) -> None:
        self.engine, self.directory = engine, directory
        self.made: list[str] = []

    def new(self, *, migrated: bool = False) -> str:
        """Return the URL of a new, empty database (with the hub's schema if ``migrated``)."""
        if self.engine == "sqlite":
            url = f"sqlite:///{self.directory / f'hub{len(self.made)}.sqlite3'}"
        else:
            url = pg.create_database()
        self.made.append(url)
        if migrated:
            engine = make_engine(url)
            migrate.upgrade(engine)
            engine.dispose()
        return url

    def drop(self) -> None:
        """Drop every PostgreSQL database made (SQLite files go with the directory)."""
        if self.engine == "postgresql":
            for url in self.made:
                pg.drop_database(url)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    """Yield a maker of databases on each engine in turn."""
    if request.param == "postgresql":
        request.getfixturevalue("pg_available")
    made = Databases(request.param, tmp_path_factory.mktemp(f"backup-{request.param}"))
    try:
        yield made
    finally:
        made.drop()


@pytest.fixture(scope="module")
def seeded(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the URL of a hub seeded with the demo data and an API token."""
    url = databases.new()
    data = tmp_path_factory.mktemp("data")
    assert varsel("init", url=url, data_dir=data).returncode == 0
    done = varsel("demo", "--password", "demo-password-123", url=url, data_dir=data)
    assert done.returncode == 0, done.stderr
    done = varsel("token", "create", "analyst.no", url=url, data_dir=data)
    assert done.returncode == 0, done.stderr
    return url


@pytest.fixture(scope="module")
def backup_file(seeded: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a backup of the seeded hub made by ``varsel backup``."""
    path = tmp_path_factory.mktemp("backups") / "hub.varsel"
    done = varsel("backup", str(path), url=seeded, data_dir=path.parent)
    assert done.returncode == 0, done.stderr
    assert "backed up" in done.stdout
    return path


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Return every table's rows, in a stable order."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tables = sorted(inspect(connection).get_table_names())
            result = {}
            for table in tables:
                columns = [c["name"] for c in inspect(connection).get_columns(table)]
                order = ", ".join(f'"{c}"' for c in columns)
                result[table] = [
                    tuple(row)
                    for row in connection.execute(text(f'SELECT * FROM "{table}" ORDER BY {order}'))
                ]
            return result
    finally:
        engine.dispose()


def restored_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Return :func:`rows` of a restored hub without its restore: the last audit event must be
    the ``hub.restore`` the command recorded, and the chain's head moved past it."""
    found = rows(url)
    *before, last = found["audit_events"]
    assert last[3] == "hub.restore", last  # (id, at, actor, action, target, …)
    assert last[2].startswith("operator:"), last
    found["audit_events"] = before
    del found["audit_head"]
    return found


def source_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Return :func:`rows` of the hub a backup was made of, to compare with a restored copy."""
    found = rows(url)
    del found["audit_head"]
    return found


def test_a_backup_restores_into_a_fresh_database_row_for_row(
    databases: Databases, seeded: str, backup_file: Path, tmp_path: Path
) -> None:
    assert oct(backup_file.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(backup_file) as tar:
        first = tar.next()
        assert first is not None and first.name == "varsel-backup.json"
        handle = tar.extractfile(first)
        assert handle is not None
        manifest = json.loads(handle.read())
    assert manifest["engine"] == databases.engine
    assert manifest["tables"]["stix_objects"] >= 300
    assert manifest["tables"]["api_tokens"] == 1

    target = databases.new()
    done = varsel("restore", str(backup_file), url=target, data_dir=tmp_path)

    assert done.returncode == 0, done.stderr
    assert f"audit chain intact: {manifest['audit_events']} events" in done.stdout
    original, restored = source_rows(seeded), restored_rows(target)
    assert set(restored) == set(original)
    for table, expected in original.items():
        assert restored[table] == expected, table
    assert sum(len(r) for r in restored.values()) > 1000
    # The restored hub works: the audit chain goes on from where the backup left it.
    done = varsel(
        "org",
        "add",
        "Nytt AS",
        "--country",
        "NO",
        "--kind",
        "company",
        url=target,
        data_dir=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert varsel("audit", "verify", url=target, data_dir=tmp_path).returncode == 0


def test_a_restore_into_a_new_hub_made_by_varsel_init_needs_no_force(
    databases: Databases, seeded: str, backup_file: Path, tmp_path: Path
) -> None:
    target = databases.new(migrated=True)
    done = varsel("restore", str(backup_file), url=target, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert restored_rows(target) == source_rows(seeded)


def test_a_tampered_backup_fails_audit_verification(
    databases: Databases, backup_file: Path, tmp_path: Path
) -> None:
    # The tamperer restores the backup, rewrites one audit event and backs the result up again:
    # the file is a well-formed backup with a valid checksum, and only the chain can tell.
    scratch = databases.new()
    assert varsel("restore", str(backup_file), url=scratch, data_dir=tmp_path).returncode == 0
    engine = make_engine(scratch)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET actor = 'nobody' WHERE id = 3"))
    engine.dispose()
    tampered = tmp_path / "tampered.varsel"
    assert varsel("backup", str(tampered), url=scratch, data_dir=tmp_path).returncode == 0

    target = databases.new()
    done = varsel("restore", str(tampered), url=target, data_dir=tmp_path)

    assert done.returncode == 1, done.stdout
    assert "audit chain broken at event 3" in done.stderr
    assert "Traceback" not in done.stderr
    # A restore that does not verify appends nothing to a chain already in question.
    assert rows(target)["audit_events"] == rows(scratch)["audit_events"]


def test_a_restore_into_a_hub_with_data_refuses_without_force_and_changes_nothing(
    databases: Databases, seeded: str, backup_file: Path, tmp_path: Path
) -> None:
    target = databases.new(migrated=True)
    done = varsel(
        "org",
        "add",
        "Annan AB",
        "--country",
        "SE",
        "--kind",
        "company",
        url=target,
        data_dir=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    before = rows(target)

    refused = varsel("restore", str(backup_file), url=target, data_dir=tmp_path)

    assert refused.returncode == 1
    assert "already holds a hub" in refused.stderr and "--force" in refused.stderr
    assert rows(target) == before

    forced = varsel("restore", str(backup_file), "--force", url=target, data_dir=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert restored_rows(target) == source_rows(seeded)


def test_files_that_are_not_a_sound_backup_of_this_engine_are_refused(
    databases: Databases, backup_file: Path, tmp_path: Path
) -> None:
    target = databases.new(migrated=True)
    before = rows(target)

    not_ours = tmp_path / "notes.txt"
    not_ours.write_text("not a backup\n")
    done = varsel("restore", str(not_ours), url=target, data_dir=tmp_path)
    assert done.returncode == 1 and "is not a Varsel backup" in done.stderr

    # One byte of the payload changed: the checksum catches it before anything is written.
    damaged = tmp_path / "damaged.varsel"
    data = bytearray(backup_file.read_bytes())
    data[-20_000] ^= 0xFF
    damaged.write_bytes(bytes(data))
    done = varsel("restore", str(damaged), url=target, data_dir=tmp_path)
    assert done.returncode == 1 and "damaged" in done.stderr

    # A backup from a newer Varsel, whose schema this one does not know.
    newer = tmp_path / "newer.varsel"
    with tarfile.open(backup_file) as source, tarfile.open(newer, "w") as copy:
        for member in source:
            handle = source.extractfile(member)
            assert handle is not None
            body = handle.read()
            if member.name == "varsel-backup.json":
                manifest = json.loads(body)
                manifest["schema"] = ["9999"]
                body = json.dumps(manifest).encode()
                member.size = len(body)
            copy.addfile(member, io.BytesIO(body))
    done = varsel("restore", str(newer), url=target, data_dir=tmp_path)
    assert done.returncode == 1 and "upgrade Varsel first" in done.stderr

    other = (
        "postgresql://nobody@127.0.0.1:1/never"
        if databases.engine == "sqlite"
        else f"sqlite:///{tmp_path / 'never.sqlite3'}"
    )
    done = varsel("restore", str(backup_file), url=other, data_dir=tmp_path)
    assert done.returncode == 1 and "cross-engine restore is not supported" in done.stderr
    assert not (tmp_path / "never.sqlite3").exists()

    assert rows(target) == before
    assert "Traceback" not in done.stderr


def test_a_backup_taken_while_the_hub_writes_is_consistent(
    databases: Databases, seeded: str, tmp_path: Path
) -> None:
    # Writers append audit events and organisations throughout the backup; the restored copy
    # must be one moment of the hub: an intact chain and the row counts the manifest recorded
    # (read in the same snapshot as the data).
    engine = make_engine(seeded)
    sessions = make_sessionmaker(engine)
    stop = threading.Event()
    written = [0]

    def write() -> None:
        while not stop.is_set():
            with unit_of_work(sessions) as session:
                f.org(session, f"Skriver {written[0]}")
            written[0] += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        path = tmp_path / "busy.varsel"
        done = varsel("backup", str(path), url=seeded, data_dir=tmp_path)
    finally:
        stop.set()
        writer.join()
        engine.dispose()
    assert done.returncode == 0, done.stderr
    assert written[0] > 0

    restored = varsel("restore", str(path), url=databases.new(), data_dir=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "audit chain intact" in restored.stdout


def test_backing_up_a_database_without_a_hub_says_so(databases: Databases, tmp_path: Path) -> None:
    path = tmp_path / "nothing.varsel"
    done = varsel("backup", str(path), url=databases.new(), data_dir=tmp_path)
    assert done.returncode == 1
    assert "no hub" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.glob("*.varsel")) == [] and list(tmp_path.glob(".*")) == []
