"""PostgreSQL: ``pg_dump`` in custom format out, ``pg_restore`` through ``psql`` in.

The manifest and the dump see one snapshot: the manifest is read in a REPEATABLE READ
transaction that exports its snapshot, and ``pg_dump --snapshot`` dumps exactly that. A restore
is one transaction: ``pg_restore`` turns the archive into SQL, and ``psql --single-transaction``
runs it behind a statement that drops the tables already there, so the database holds either
the old hub or the whole backup, never part of one. Passwords reach the tools through
``PGPASSWORD`` in their environment, never on a command line that ``ps`` would show.
"""

from __future__ import annotations

import glob
import io
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from varsel.backup import _snapshot
from varsel.backup._archive import Manifest
from varsel.backup._errors import BackupError, Progress
from varsel.db import make_engine

PAYLOAD = "hub.pgdump"
_CHUNK = 1024 * 1024
_TABLE_LINE = re.compile(r'(?:dumping contents of|processing data for) table "(?:[^"]*\.)?([^"]+)"')


def tool(name: str) -> str:
    """Return the path of a PostgreSQL client program: on PATH, else the newest installed."""
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    if candidates:
        return max(candidates, key=_major)
    raise BackupError(
        f"{name} is not installed (looked on PATH and in /usr/lib/postgresql/*/bin); install "
        "the PostgreSQL client programs of your server's version or newer, e.g. "
        "`apt-get install postgresql-client`"
    )


def _major(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


def _connection(url: str) -> tuple[str, dict[str, str]]:
    """Return a libpq URL without the password, and an environment that carries it."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _follow(
    stream: IO[str], tables: list[str], progress: Progress, what: str, log: list[str]
) -> None:
    """Turn the tools' ``--verbose`` lines into progress over tables; keep the rest for errors."""
    done = 0
    for line in stream:
        log.append(line.rstrip())
        if _TABLE_LINE.search(line):
            done += 1
            progress(what, min(done, len(tables)), len(tables))


def _failure(program: str, log: list[str]) -> BackupError:
    problems = [
        line
        for line in log
        if "error" in line.lower() or "fatal" in line.lower() or "could not" in line.lower()
    ]
    detail = "; ".join((problems or log)[-3:]) or "no message"
    return BackupError(f"{program} failed: {detail}")


def backup(*, url: str, into: Path, progress: Progress) -> Manifest:
    """Dump the hub at ``url`` into ``into`` with ``pg_dump -Fc``; return its manifest."""
    pg_dump = tool("pg_dump")
    libpq_url, env = _connection(url)
    with _engine(url) as engine, engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            connection.execute(text("SET TRANSACTION READ ONLY"))
            snapshot = str(connection.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            manifest = _snapshot.read(connection, engine="postgresql", payload=PAYLOAD)
            tables = list(manifest.tables)
            log: list[str] = []
            process = subprocess.Popen(
                [
                    pg_dump,
                    "--format=custom",
                    "--verbose",
                    f"--snapshot={snapshot}",
                    f"--file={into}",
                    f"--dbname={libpq_url}",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert process.stderr is not None
            _follow(process.stderr, tables, progress, "dumping tables", log)
            # The exporting transaction must stay open until pg_dump has finished with it.
            if process.wait() != 0:
                raise _failure("pg_dump", log)
    return manifest


def restore(
    *, url: str, payload: Path, manifest: Manifest, force: bool, progress: Progress
) -> None:
    """Replace the hub at ``url`` with the dump ``payload``, in one transaction."""
    pg_restore, psql = tool("pg_restore"), tool("psql")
    libpq_url, env = _connection(url)
    with _engine(url) as engine, engine.connect() as connection:
        if not force and _snapshot.has_rows(connection):
            database = make_url(url).database
            raise BackupError(
                f"the database {database} already holds a hub; restoring would replace it "
                "(add --force to do so)"
            )
        drop = _drop_everything(connection)
    # A serving hub holding a lock makes the drops fail after 30 s instead of waiting forever.
    prelude = f"SET client_min_messages = warning;\nSET lock_timeout = '30s';\n{drop}"
    restore_log: list[str] = []
    psql_log: list[str] = []
    producer = subprocess.Popen(
        [pg_restore, "--verbose", "--no-owner", "--no-acl", "--file=-", str(payload)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=False,
    )
    consumer = subprocess.Popen(
        [
            psql,
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set=ON_ERROR_STOP=1",
            f"--dbname={libpq_url}",
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=False,
    )
    assert producer.stdout and producer.stderr and consumer.stdin and consumer.stderr
    readers = [
        threading.Thread(
            target=_follow,
            args=(
                _text(producer.stderr),
                list(manifest.tables),
                progress,
                "restoring tables",
                restore_log,
            ),
            daemon=True,
        ),
        threading.Thread(
            target=_follow, args=(_text(consumer.stderr), [], progress, "", psql_log), daemon=True
        ),
    ]
    for reader in readers:
        reader.start()
    broken = False
    try:
        consumer.stdin.write(prelude.encode("utf-8"))
        while chunk := producer.stdout.read(_CHUNK):
            consumer.stdin.write(chunk)
    except BrokenPipeError:
        # psql stopped at an error; its transaction is rolled back and its message follows.
        broken = True
        producer.kill()
    produced = producer.wait()
    if produced != 0 and not broken:
        # psql would commit what it has read so far at the end of its input: end it instead,
        # and the server rolls its transaction back.
        consumer.kill()
    else:
        with suppress(BrokenPipeError):
            consumer.stdin.close()
    consumed = consumer.wait()
    for reader in readers:
        reader.join()
    if broken or consumed != 0:
        raise _failure("psql (the restore was rolled back)", psql_log or restore_log)
    if produced != 0:
        raise _failure("pg_restore (nothing was restored)", restore_log)


_KINDS = {
    "v": "VIEW",
    "m": "MATERIALIZED VIEW",
    "r": "TABLE",
    "p": "TABLE",
    "f": "FOREIGN TABLE",
    "S": "SEQUENCE",
}
# In the hub's schema and not part of an extension (an extension's objects are its own).
_OURS = (
    "n.nspname = current_schema() AND NOT EXISTS "
    "(SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"
)


def _drop_everything(connection: Connection) -> str:
    """Return SQL that drops every relation, function and type in the hub's schema.

    Not only the tables: the migrations add trigger functions, and a restore must recreate
    them as the backup has them. It runs in the restore's transaction, so a failure keeps all.
    """
    preparer = connection.dialect.identifier_preparer
    relations = connection.execute(
        text(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN "
            "('v', 'm', 'r', 'p', 'f', 'S') AND " + _OURS.format(oid="c.oid")
        )
    ).all()
    functions = connection.execute(
        text(
            "SELECT p.oid::regprocedure::text FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE " + _OURS.format(oid="p.oid")
        )
    ).scalars()
    types = connection.execute(
        text(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE t.typtype IN ('e', 'd') AND " + _OURS.format(oid="t.oid")
        )
    ).scalars()
    statements = [
        f"DROP {kind} IF EXISTS {preparer.quote(name)} CASCADE;"
        for code, kind in _KINDS.items()
        for name, relkind in relations
        if relkind == code
    ]
    statements += [f"DROP FUNCTION IF EXISTS {name} CASCADE;" for name in functions]
    statements += [f"DROP TYPE IF EXISTS {preparer.quote(name)} CASCADE;" for name in types]
    return "".join(f"{statement}\n" for statement in statements)


def _text(stream: IO[bytes]) -> IO[str]:
    return io.TextIOWrapper(stream, encoding="utf-8", errors="replace")


def other_sessions(url: str) -> int:
    """Return how many other sessions are connected to the hub's database."""
    with _engine(url) as engine, engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        )
