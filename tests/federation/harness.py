"""Real hub processes for the federation tests and benchmark: start, configure, connect, kill.

Each :class:`Hub` is a ``python -m varsel serve`` child process in its own process group, with
its own data directory (and so its own Ed25519 key), ``VARSEL_HUB_NAME``, secret key and
database (a SQLite file, or a fresh PostgreSQL database from :mod:`tests.pg`), on a free
loopback port. Everything an operator would do is done the operator's way: ``python -m varsel
…`` with the hub's environment (:meth:`Hub.cli`), and TAXII over HTTP for producers and readers.
The database is opened directly only to *check* what a hub stored (rows, seals).

Nothing here imports pytest: ``benchmarks/federation_bench.py`` uses it too. The fixtures are in
``tests/federation/conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import Engine, create_engine, text

API_ROOT = "hub"
TAXII = "application/taxii+json;version=2.1"
PASSWORD = "correct horse battery staple"
SECRET_PREFIX = "federation-test-secret-"
ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


class HarnessError(RuntimeError):
    """A hub would not start, a command failed, or a wait ran out of time."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Call ``predicate`` until it returns something truthy and return that; HarnessError
    naming ``message`` once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text_ = message() if callable(message) else message
            raise HarnessError(f"timed out after {timeout:.1f} s waiting for {text_}")
        time.sleep(interval)


def wait_stable(
    probe: Callable[[], T], *, quiet: float, timeout: float, interval: float = 0.2
) -> T:
    """Return ``probe()`` once it has returned the same value for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last = probe()
    since = time.monotonic()
    while True:
        time.sleep(interval)
        now = probe()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
        if time.monotonic() >= deadline:
            raise HarnessError(f"no quiet period of {quiet} s within {timeout} s (last: {now!r})")


def _clean_environment() -> dict[str, str]:
    # The caller's VARSEL_* (pytest's own data directory, a developer's database) must never
    # leak into a hub: each hub is configured from nothing.
    return {k: v for k, v in os.environ.items() if not k.startswith("VARSEL_")}


@dataclass
class Hub:
    """One hub: a ``varsel serve`` process, its data directory, database and environment."""

    name: str
    workdir: Path
    database_url: str
    backend: str
    port: int = field(default_factory=free_port)
    secret_key: str = field(default_factory=lambda: SECRET_PREFIX + secrets.token_hex(16))
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    _engine: Engine | None = None

    # Paths and URLs -------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """Return the hub's data directory (its key, peer token files)."""
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        """Return the file the server's output goes to."""
        return self.workdir / "serve.log"

    @property
    def url(self) -> str:
        """Return the hub's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_root_url(self) -> str:
        """Return the TAXII API root URL other hubs are given (``peer add --url``)."""
        return f"{self.url}/taxii2/{API_ROOT}/"

    def objects_url(self, collection_id: str) -> str:
        """Return the TAXII objects URL of a collection."""
        return f"{self.api_root_url}collections/{collection_id}/objects/"

    @property
    def env(self) -> dict[str, str]:
        """Return the environment every process of this hub runs with."""
        return {
            **_clean_environment(),
            "VARSEL_DATABASE_URL": self.database_url,
            "VARSEL_DATA_DIR": str(self.data_dir),
            "VARSEL_HUB_NAME": self.name,
            "VARSEL_SECRET_KEY": self.secret_key,
            "VARSEL_HOST": "127.0.0.1",
            "VARSEL_PORT": str(self.port),
            "VARSEL_WARNINGLIST_HELPER": "0",
            "VARSEL_AUTH_FAILURES_PER_MINUTE": "100000",
            "VARSEL_MAX_FAILED_LOGINS": "1000",
            **self.extra_env,
        }

    # The process ----------------------------------------------------------------------

    def init(self) -> None:
        """Create the database schema and the hub's key (``varsel init``)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cli("init")

    def start(self, timeout: float = 90) -> None:
        """Start ``varsel serve`` in its own process group and wait until /taxii2/ answers."""
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start ``varsel serve`` in its own process group (without waiting for it)."""
        if self.running:
            return
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "varsel", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 90) -> None:
        """Wait until the server answers on /taxii2/; HarnessError if it exits or times out."""
        assert self.process is not None, "spawn() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HarnessError(
                    f"{self.name}: varsel serve exited with {self.process.returncode}:\n"
                    + self.log_tail()
                )
            try:
                httpx.get(f"{self.url}/taxii2/", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.kill()
        raise HarnessError(
            f"{self.name}: no answer on {self.url} in {timeout} s\n{self.log_tail()}"
        )

    @property
    def running(self) -> bool:
        """Return whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL if it does not end."""
        if not self.running:
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Kill the server's whole process group with SIGKILL (no clean shutdown at all)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Stop (cleanly) and start the server again on the same port."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the server's output."""
        with contextlib.suppress(OSError):
            content = self.log_path.read_text(encoding="utf-8", errors="replace")
            return "\n".join(content.splitlines()[-lines:])
        return ""

    def close(self) -> None:
        """Stop the server and release the database connections held here."""
        self.stop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # The command line -----------------------------------------------------------------

    def cli(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> str:
        """Run ``python -m varsel ARGS`` with this hub's environment; return its stdout.

        A non-zero exit raises HarnessError with the command's stderr (``check``)."""
        done = subprocess.run(
            [sys.executable, "-m", "varsel", *args],
            env=self.env,
            cwd=self.workdir,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise HarnessError(
                f"{self.name}: varsel {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stderr[-3000:]}{done.stdout[-1000:]}"
            )
        return done.stdout

    def cli_many(self, *commands: Sequence[str], stdin: str | None = None) -> list[str]:
        """Run several ``varsel`` commands, in order, in ONE process with this hub's
        environment (the same Typer application ``python -m varsel`` runs); return each
        command's stdout. Set-up only: it saves a Python start-up per command. The first
        command that fails raises HarnessError (the ones before it took effect)."""
        done = subprocess.run(
            [sys.executable, "-c", _BATCH],
            env=self.env,
            cwd=self.workdir,
            input=json.dumps({"commands": [list(c) for c in commands], "stdin": stdin or ""}),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise HarnessError(f"{self.name}: batch failed:\n{done.stderr[-3000:]}")
        results = json.loads(done.stdout.strip().splitlines()[-1])
        outputs = []
        for command, result in zip(commands, results, strict=False):
            if result["code"] != 0:
                raise HarnessError(
                    f"{self.name}: varsel {' '.join(command)} exited {result['code']}:\n"
                    f"{result['stderr'][-3000:]}{result['stdout'][-1000:]}"
                )
            outputs.append(result["stdout"])
        return outputs

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``python -m varsel ARGS`` and return the whole result, whatever its exit code."""
        return subprocess.run(
            [sys.executable, "-m", "varsel", *args],
            env=self.env,
            cwd=self.workdir,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def hub_id(self) -> tuple[str, str]:
        """Return ``(name, public key)`` as ``varsel hub id`` prints them."""
        line = self.cli("hub", "id").strip()
        name, key = line.split(" ")
        return name, key

    def add_org(self, name: str, country: str = "NO", kind: str = "company") -> None:
        """``varsel org add NAME --country CC --kind KIND``."""
        self.cli("org", "add", name, "--country", country, "--kind", kind)

    def add_user(self, username: str, org: str, role: str = "analyst") -> None:
        """``varsel user add USERNAME --org ORG`` (password on stdin)."""
        self.cli("user", "add", username, "--org", org, "--role", role, stdin=PASSWORD + "\n")

    def create_token(self, username: str, scope: str = "read-write") -> str:
        """``varsel token create USERNAME``: return the token it prints once."""
        return self.cli("token", "create", username, "--scope", scope).strip()

    def add_reader(self, org: str, username: str | None = None, country: str = "NO") -> str:
        """Add organisation ORG (unless it exists), a user of it, and return their token."""
        if org not in self.org_names():
            self.add_org(org, country=country)
        username = username or f"{org.lower()}-user"
        self.add_user(username, org)
        return self.create_token(username)

    def add_community(self, name: str, members: Iterable[str] = ()) -> None:
        """``varsel community add NAME --member ORG …``."""
        args = ["community", "add", name]
        for org in members:
            args += ["--member", org]
        self.cli(*args)

    def add_member(self, community: str, org: str) -> None:
        """``varsel community member COMMUNITY ORG``."""
        self.cli("community", "member", community, org)

    def add_collection(self, title: str, community: str, default_tlp: str = "amber") -> str:
        """``varsel collection add TITLE --community C --default-tlp T``: return its id."""
        return self.cli(
            "collection", "add", title, "--community", community, "--default-tlp", default_tlp
        ).strip()

    def populate(
        self,
        *,
        orgs: dict[str, str] | None = None,
        users: dict[str, str] | None = None,
        communities: dict[str, Sequence[str]] | None = None,
        collections: dict[str, tuple[str, str]] | None = None,
        country: str = "NO",
        listed: Iterable[str] = (),
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Add organisations (name -> kind), users (username -> organisation, each given a
        token), communities (name -> members) and collections (title -> (community, default
        TLP)) with the operator's commands, in one process; return (collection ids by title,
        tokens by username). Communities named in ``listed`` are listed (every user sees them
        and their collections); the others unlisted."""
        commands: list[list[str]] = []
        for org, kind in (orgs or {}).items():
            commands.append(["org", "add", org, "--country", country, "--kind", kind])
        for username, org in (users or {}).items():
            commands += [["user", "add", username, "--org", org], ["token", "create", username]]
        listed = set(listed)
        for name, members in (communities or {}).items():
            flags = [f for m in members for f in ("--member", m)]
            flags.append("--listed" if name in listed else "--unlisted")
            commands.append(["community", "add", name, *flags])
        for title, (community, tlp) in (collections or {}).items():
            commands.append(
                ["collection", "add", title, "--community", community, "--default-tlp", tlp]
            )
        out = iter(self.cli_many(*commands, stdin=PASSWORD + "\n"))
        for _ in orgs or {}:
            next(out)
        tokens = {}
        for username in users or {}:
            next(out)
            tokens[username] = next(out).strip()
        for _ in communities or {}:
            next(out)
        ids_ = {title: next(out).strip() for title in collections or {}}
        return ids_, tokens

    def org_names(self) -> set[str]:
        """Return the names of the hub's organisations (from its database)."""
        return {r[0] for r in self.sql("SELECT name FROM organisations")}

    def peer_status(self) -> Any:
        """Return ``varsel peer status --json`` parsed."""
        return json.loads(self.cli("peer", "status", "--json"))

    def token_file(self, name: str, token: str) -> Path:
        """Write ``token`` to a mode-0600 file outside the data directory; return its path."""
        path = self.workdir / f"{name}.token"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        return path

    # The database (checks only) -------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """Return an engine on the hub's database, for checking what it stored."""
        if self._engine is None:
            url = self.database_url
            self._engine = create_engine(url, pool_pre_ping=True)
        return self._engine

    def sql(self, query: str, **params: Any) -> list[Any]:
        """Run a read-only SQL query on the hub's database and return its rows."""
        with self.engine.connect() as conn:
            return list(conn.execute(text(query), params))

    def rows_of(self, stix_id: str) -> list[Any]:
        """Return (collection_id, version, seal_id, origin_hub, raw, provenance) of every
        stored version of ``stix_id``."""
        return self.sql(
            "SELECT collection_id, version, seal_id, origin_hub, raw, provenance "
            "FROM stix_objects WHERE stix_id = :s ORDER BY id",
            s=stix_id,
        )

    def copies(self, stix_id: str, collection_id: str | None = None) -> int:
        """Return how many rows (versions) of ``stix_id`` the hub stores."""
        if collection_id is None:
            return int(
                self.sql("SELECT count(*) FROM stix_objects WHERE stix_id = :s", s=stix_id)[0][0]
            )
        return int(
            self.sql(
                "SELECT count(*) FROM stix_objects WHERE stix_id = :s AND collection_id = :c",
                s=stix_id,
                c=collection_id,
            )[0][0]
        )

    def count_named(self, collection_id: str, tag: str) -> tuple[int, int]:
        """Return (rows, distinct ids) of the collection's objects whose name contains ``tag``."""
        row = self.sql(
            "SELECT count(*), count(DISTINCT stix_id) FROM stix_objects "
            "WHERE collection_id = :c AND name LIKE :t",
            c=collection_id,
            t=f"%{tag}%",
        )[0]
        return int(row[0]), int(row[1])

    def push_batch(self, token: str, collection_id: str, batch: dict[str, Any]) -> httpx.Response:
        """POST a batch to ``/api/v1/federation/collections/ID/batch`` as a hub's user."""
        return httpx.post(
            f"{self.url}/api/v1/federation/collections/{collection_id}/batch",
            json=batch,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=60,
        )

    def count_rows(self, collection_id: str | None = None) -> int:
        """Return how many object versions the hub stores (in one collection, if given)."""
        if collection_id is None:
            return int(self.sql("SELECT count(*) FROM stix_objects")[0][0])
        return int(
            self.sql("SELECT count(*) FROM stix_objects WHERE collection_id = :c", c=collection_id)[
                0
            ][0]
        )

    # TAXII as a user ------------------------------------------------------------------

    def share(self, token: str, collection_id: str, *objects: dict[str, Any], **props: Any) -> Any:
        """POST objects to a collection as the token's user; return the status resource.

        Raises HarnessError unless every object was accepted."""
        body = json.dumps({**props, "objects": list(objects)})
        return self.share_text(token, collection_id, body)

    def share_text(self, token: str, collection_id: str, body: str) -> Any:
        """POST an envelope given as exact text; return the status (all must succeed)."""
        response = httpx.post(
            self.objects_url(collection_id),
            content=body.encode("utf-8"),
            headers=bearer(token),
            timeout=120,
        )
        if response.status_code != 202 or response.json().get("failure_count"):
            raise HarnessError(
                f"{self.name}: share refused: {response.status_code} {response.text}"
            )
        return response.json()

    def delete(self, token: str, collection_id: str, stix_id: str) -> None:
        """DELETE every version of an object (TAXII §5.7) as the token's user."""
        response = httpx.delete(
            f"{self.objects_url(collection_id)}{stix_id}/", headers=bearer(token), timeout=60
        )
        if response.status_code != 200:
            raise HarnessError(
                f"{self.name}: delete refused: {response.status_code} {response.text}"
            )

    def read_text(self, token: str, collection_id: str, **params: str) -> list[str]:
        """Return the bodies of every page of the collection's objects as the token reads it."""
        pages: list[str] = []
        query = {"limit": "1000", **params}
        while True:
            response = httpx.get(
                self.objects_url(collection_id), params=query, headers=bearer(token), timeout=60
            )
            if response.status_code == 404 or response.status_code == 403:
                return pages
            response.raise_for_status()
            pages.append(response.text)
            doc = response.json()
            if not doc.get("more"):
                return pages
            query = {**query, "next": doc["next"]}

    def read(self, token: str, collection_id: str, **params: str) -> list[dict[str, Any]]:
        """Return every object of the collection the token's user may read (all versions)."""
        params.setdefault("match[version]", "all")
        objects: list[dict[str, Any]] = []
        for page in self.read_text(token, collection_id, **params):
            objects += json.loads(page).get("objects", [])
        return objects

    def readable(self, token: str, collection_id: str) -> set[tuple[str, str]]:
        """Return ``(id, modified)`` of every version the token's user may read."""
        return {
            (o["id"], o.get("modified", o.get("created", "")))
            for o in self.read(token, collection_id)
        }

    def read_object_text(self, token: str, collection_id: str, stix_id: str) -> str | None:
        """Return the response body of GET …/objects/ID/ (None when not readable)."""
        response = httpx.get(
            f"{self.objects_url(collection_id)}{stix_id}/",
            params={"match[version]": "all"},
            headers=bearer(token),
            timeout=60,
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.text if json.loads(response.text).get("objects") else None


# Runs commands of the real Typer application one after the other in one process (cli_many).
_BATCH = """
import json, sys
from typer.testing import CliRunner
from varsel.cli.commands import app
job = json.loads(sys.stdin.read())
runner = CliRunner()
results = []
for argv in job["commands"]:
    r = runner.invoke(app, argv, input=job["stdin"], catch_exceptions=True)
    err = r.stderr
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        err += repr(r.exception)
    results.append({"code": r.exit_code, "stdout": r.stdout, "stderr": err})
    if r.exit_code != 0:
        break
print(json.dumps(results))
"""


def bearer(token: str) -> dict[str, str]:
    """Return the headers of a TAXII request authenticated by ``token``."""
    return {"Accept": TAXII, "Content-Type": TAXII, "Authorization": f"Bearer {token}"}


# Several hubs ---------------------------------------------------------------------------


@dataclass
class Link:
    """The simplest federation between two hubs, as made by :func:`connect`."""

    upstream: Hub
    downstream: Hub
    remote_collection: str
    local_collection: str
    token: str  # the downstream hub's token at the upstream hub


class Federation:
    """Several hubs started together and always cleaned up together (a context manager)."""

    def __init__(self, base: Path | None = None) -> None:
        self._own_base = base is None
        self.base = Path(tempfile.mkdtemp(prefix="varsel-fed-")) if base is None else base
        self.hubs: dict[str, Hub] = {}
        self._pg_databases: list[str] = []

    def add_hub(self, name: str, backend: str = "sqlite", **extra_env: str) -> Hub:
        """Create (not start) hub NAME on a fresh SQLite file or PostgreSQL database."""
        workdir = self.base / name
        workdir.mkdir(parents=True, exist_ok=True)
        if backend == "postgresql":
            from tests import pg

            problem = pg.ensure_server()
            if problem is not None:
                raise HarnessError(f"PostgreSQL is not reachable: {problem}")
            url = pg.create_database()
            self._pg_databases.append(url)
        elif backend == "sqlite":
            url = f"sqlite:///{workdir / 'hub.sqlite3'}"
        else:
            raise HarnessError(f"unknown backend {backend!r}")
        hub = Hub(
            name=name, workdir=workdir, database_url=url, backend=backend, extra_env=extra_env
        )
        self.hubs[name] = hub
        hub.init()
        return hub

    def start(self, names: Sequence[str], backends: dict[str, str] | None = None) -> list[Hub]:
        """Create and start hubs (in parallel: each start waits for its own server)."""
        backends = backends or {}
        hubs = [self.add_hub(n, backends.get(n, "sqlite")) for n in names]
        for hub in hubs:
            hub.spawn()
        for hub in hubs:
            hub.wait_ready()
        return hubs

    def __getitem__(self, name: str) -> Hub:
        return self.hubs[name]

    def close(self) -> None:
        """Stop every hub, drop the PostgreSQL databases and remove the directories."""
        # SIGTERM to all first: each takes seconds to close its streams, so they do it at once.
        for hub in self.hubs.values():
            if hub.running and hub.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(hub.process.pid, signal.SIGTERM)
        for hub in self.hubs.values():
            with contextlib.suppress(Exception):
                hub.close()
        for url in self._pg_databases:
            from tests import pg

            with contextlib.suppress(Exception):
                pg.drop_database(url)
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Federation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def admit_hub(upstream: Hub, downstream: Hub, community: str | None, country: str = "SE") -> str:
    """At ``upstream``: add organisation ``downstream.name`` of kind hub (if missing), make it
    a member of ``community`` (if given), give it a user and return that user's token."""
    commands: list[list[str]] = []
    if downstream.name not in upstream.org_names():
        commands.append(["org", "add", downstream.name, "--country", country, "--kind", "hub"])
    if community is not None:
        commands.append(["community", "member", community, downstream.name])
    username = f"{downstream.name}-peer"
    if not upstream.sql("SELECT 1 FROM users WHERE username = :u", u=username):
        commands.append(["user", "add", username, "--org", downstream.name])
    commands.append(["token", "create", username])
    return upstream.cli_many(*commands, stdin=PASSWORD + "\n")[-1].strip()


def add_peer(downstream: Hub, upstream: Hub, token: str, country: str = "NO") -> None:
    """At ``downstream``: ``varsel peer add UPSTREAM --url … --token-file … --public-key …
    --country CC`` with the key ``varsel hub id`` prints at the upstream hub (unless already a
    peer). The country is given because the hub's organisation is created here if missing."""
    if downstream.sql("SELECT 1 FROM peers WHERE name = :n", n=upstream.name):
        return
    _, key = upstream.hub_id()
    token_file = downstream.token_file(f"token-for-{upstream.name}", token)
    downstream.cli(
        "peer",
        "add",
        upstream.name,
        "--url",
        upstream.api_root_url,
        "--token-file",
        str(token_file),
        "--public-key",
        key,
        "--country",
        country,
    )


def link(downstream: Hub, upstream: Hub, remote: str, local: str, direction: str = "pull") -> None:
    """At ``downstream``: ``varsel peer link UPSTREAM --remote R --local L --direction D``."""
    downstream.cli(
        "peer",
        "link",
        upstream.name,
        "--remote",
        remote,
        "--local",
        local,
        "--direction",
        direction,
    )


def connect(
    upstream: Hub,
    downstream: Hub,
    *,
    upstream_community: str,
    remote_collection: str,
    local_collection: str,
    direction: str = "pull",
) -> Link:
    """Make the issue's simplest federation: at ``upstream`` the organisation
    ``downstream.name`` (kind hub) is a member of ``upstream_community`` with a user and token;
    at ``downstream`` the peer is added with its pinned key and the link is made."""
    token = admit_hub(upstream, downstream, upstream_community)
    add_peer(downstream, upstream, token)
    link(downstream, upstream, remote_collection, local_collection, direction)
    return Link(upstream, downstream, remote_collection, local_collection, token)


# Objects --------------------------------------------------------------------------------

TLP_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}


def indicator(
    *,
    tlp: str | None = None,
    recipients: list[str] | None = None,
    oid: str | None = None,
    modified: str | None = None,
    value: str | None = None,
    created: str = "2026-01-01T00:00:00.000Z",
    name: str | None = None,
) -> dict[str, Any]:
    """Return a valid STIX 2.1 indicator (TLP marking and recipients optional)."""
    import uuid

    value = value or f"198.51.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": oid or f"indicator--{uuid.uuid4()}",
        "created": created,
        "modified": modified or created,
        "name": name or f"Bad address {value}",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": created,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [TLP_IDS[tlp]]
    if recipients is not None:
        obj["x_varsel_recipients"] = recipients
    return obj


def ids(objects: Iterable[dict[str, Any]]) -> list[str]:
    """Return the ids of ``objects``."""
    return [o["id"] for o in objects]


@contextlib.contextmanager
def stopped(hub: Hub) -> Iterator[Hub]:
    """Stop ``hub`` for the block and start it again after."""
    hub.stop()
    try:
        yield hub
    finally:
        hub.start()


def parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` in threads (each mostly waits on a subprocess) and return their results
    in order; the first exception is raised once all have ended."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        futures = [pool.submit(c) for c in calls]
        return [f.result() for f in futures]
