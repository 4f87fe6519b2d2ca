#!/usr/bin/env python3
"""TAXII hub benchmark (issue 2): ingest, read-back, object by id and scale, over real HTTP.

The script starts everything itself: a Varsel hub per database (``varsel init``, then ``varsel
serve`` in a child process on a fresh SQLite file or a fresh PostgreSQL database it creates and
drops) and the OASIS reference server ``medallion`` (memory backend). It then drives them only
through the OASIS ``taxii2-client`` on 127.0.0.1 and prints the figures side by side; JSON goes
to ``benchmarks/results/taxii.json``. Organisations, users, the community, the collections and
the tokens are created through the service layer before the clock starts.

Examples::

    python benchmarks/taxii_bench.py                     # 100,000 objects, both DBs, medallion
    python benchmarks/taxii_bench.py --scale             # also the 10k vs 1M read-rate test
    python benchmarks/taxii_bench.py --quick --backends sqlite
    python benchmarks/taxii_bench.py --profile           # py-spy on the hub, per phase
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from taxii2client.v21 import ApiRoot, Collection, as_pages

if __package__ in {None, ""}:
    # Run as a script: make the repository root importable for ``benchmarks._common``.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as common  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "taxii.json"
DEFAULT_PG_ADMIN = os.environ.get(
    "VARSEL_BENCH_PG_URL",
    os.environ.get("VARSEL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
TARGETS = {
    "ingest_objects_per_s": 10_000,
    "read_objects_per_s": 20_000,
    "by_id_p50_ms": 5.0,
    "scale_read_ratio": 0.70,
}
TLP_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
TLP_AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
MAIN, COMPARISON = "Benchmark indicators", "Benchmark comparison"
SCALE, SCALE_SMALL = "Benchmark scale", "Benchmark scale, small"


# STIX objects -----------------------------------------------------------------------------


def indicator(seed: int, index: int) -> dict[str, Any]:
    """Return indicator number ``index`` of the run: valid STIX 2.1, the same for the same seed.

    Patterns cycle through the four forms CSIRTs exchange most: IPv4, domain, URL, SHA-256.
    One in ten is TLP:CLEAR, two in ten TLP:AMBER, the rest unmarked (the collection's GREEN).
    """
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    hexed = digest.hex()
    kind = index % 4
    if kind == 0:
        value, pattern = (f"{10 + digest[0] % 200}.{digest[1]}.{digest[2]}.{digest[3]}", "ipv4")
        expression = f"[ipv4-addr:value = '{value}']"
    elif kind == 1:
        value, pattern = f"h{hexed[:10]}.example-{index % 97}.net", "domain"
        expression = f"[domain-name:value = '{value}']"
    elif kind == 2:
        value, pattern = f"https://cdn{index % 53}.example.org/{hexed[:16]}/payload.bin", "url"
        expression = f"[url:value = '{value}']"
    else:
        value, pattern = hexed, "sha256"
        expression = f"[file:hashes.'SHA-256' = '{value}']"
    seconds = index % 86_400
    stamp = (
        f"2026-01-{1 + index // 86_400 % 28:02d}T{seconds // 3600:02d}:"
        f"{seconds // 60 % 60:02d}:{seconds % 60:02d}.000Z"
    )
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator_id(seed, index),
        "created": stamp,
        "modified": stamp,
        "name": f"Malicious {pattern} {value[:40]}",
        "description": "Observed in a phishing campaign against Nordic energy operators.",
        "indicator_types": ["malicious-activity"],
        "pattern": expression,
        "pattern_type": "stix",
        "valid_from": stamp,
        "confidence": 50 + index % 50,
    }
    if index % 10 == 0:
        obj["object_marking_refs"] = [TLP_CLEAR]
    elif index % 10 in {1, 2}:
        obj["object_marking_refs"] = [TLP_AMBER]
    return obj


def indicator_id(seed: int, index: int) -> str:
    """Return the STIX id of indicator ``index`` (a deterministic, well-formed UUIDv4)."""
    digest = hashlib.md5(f"id:{seed}:{index}".encode()).digest()  # an id, not a secret
    return f"indicator--{uuid.UUID(bytes=digest, version=4)}"


def envelopes(seed: int, start: int, stop: int, size: int) -> Iterator[str]:
    """Yield TAXII envelopes (JSON text) holding indicators ``start`` to ``stop - 1``."""
    for first in range(start, stop, size):
        objects = [indicator(seed, i) for i in range(first, min(first + size, stop))]
        yield json.dumps({"objects": objects})


# Clients ------------------------------------------------------------------------------------


class BearerAuth(requests.auth.AuthBase):
    """Send an API token as ``Authorization: Bearer``."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@dataclass
class Endpoint:
    """One collection of one server as taxii2-client sees it: a writer and a reader."""

    name: str
    writer: Collection
    reader: Collection
    root: ApiRoot | None = None  # the reader's API root, for the request floor
    pid: int | None = None  # the server process, for the profiler


def _warmed(endpoint: Endpoint) -> Endpoint:
    """Load both clients' collection information now, so no timed call pays for it."""
    if not (endpoint.writer.can_write and endpoint.reader.can_read):
        raise RuntimeError(f"{endpoint.name}: the benchmark users lack rights on the collection")
    return endpoint


# Workloads ----------------------------------------------------------------------------------


@dataclass
class Options:
    """What to measure and how much."""

    seed: int
    envelope: int
    page: int
    id_samples: int
    profile: bool
    profile_dir: Path


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


@contextlib.contextmanager
def _profiled(
    endpoint: Endpoint, opts: Options, phase: str, sink: dict[str, Any]
) -> Iterator[None]:
    if not opts.profile or endpoint.pid is None:
        yield
        return
    sampler = common.Sampler(endpoint.pid, opts.profile_dir / f"{endpoint.name}-{phase}.txt")
    sampler.start()
    try:
        yield
    finally:
        sink[phase] = sampler.stop()


def ingest(
    endpoint: Endpoint, opts: Options, start: int, stop: int, *, prebuild: bool = True
) -> dict[str, Any]:
    """POST indicators ``start``..``stop - 1`` in envelopes; fail loudly on any rejection.

    With ``prebuild`` the envelopes are serialised before the clock starts; without it (the
    scale test's growth, which would otherwise hold a million objects in memory) they are
    made as they are sent, and that time is counted too.
    """
    bodies: Iterable[str] = envelopes(opts.seed, start, stop, opts.envelope)
    if prebuild:
        bodies = list(bodies)
    total_bytes = sent = 0
    began = time.perf_counter()
    for body in bodies:
        status = endpoint.writer.add_objects(body, wait_for_completion=True, poll_interval=0.05)
        if status.failure_count or status.success_count != status.total_count:
            raise RuntimeError(
                f"{endpoint.name}: the server rejected objects: {status.failures[:3]}"
            )
        total_bytes += len(body)
        sent += 1
    seconds = time.perf_counter() - began
    count = stop - start
    return {
        "objects": count,
        "envelopes": sent,
        "envelope_size": opts.envelope,
        "mib": round(total_bytes / 2**20, 1),
        "seconds": round(seconds, 3),
        "objects_per_s": _rate(count, seconds),
        "path": "taxii",
        "generation_timed": not prebuild,
    }


def _read_pages(
    reader: Collection, page: int, max_pages: int | None = None, **filters: Any
) -> tuple[int, set[str], float]:
    """Read pages of ``page`` objects following ``next``; return count, ids and seconds."""
    seen: set[str] = set()
    count = pages = 0
    began = time.perf_counter()
    for envelope in as_pages(reader.get_objects, per_request=page, **filters):
        objects = envelope.get("objects", [])
        count += len(objects)
        seen.update(o["id"] for o in objects)
        pages += 1
        if max_pages is not None and pages >= max_pages:
            break
    return count, seen, time.perf_counter() - began


def read_back(endpoint: Endpoint, opts: Options, expected: int) -> dict[str, Any]:
    """Read the whole collection back in pages and check nothing is missing or repeated."""
    count, seen, seconds = _read_pages(endpoint.reader, opts.page)
    if count != expected or len(seen) != expected:
        raise RuntimeError(
            f"{endpoint.name}: read {count} objects ({len(seen)} distinct), expected {expected}"
        )
    return {
        "objects": count,
        "page_size": opts.page,
        "seconds": round(seconds, 3),
        "objects_per_s": _rate(count, seconds),
    }


def by_id(endpoint: Endpoint, opts: Options, population: int, samples: int) -> dict[str, Any]:
    """Fetch random objects one by one (Get An Object) and return latency percentiles."""
    rng = random.Random(opts.seed + population)
    indices = rng.sample(range(population), min(samples, population))
    latencies: list[float] = []
    for index in indices:
        wanted = indicator_id(opts.seed, index)
        began = time.perf_counter()
        envelope = endpoint.reader.get_object(wanted)
        latencies.append((time.perf_counter() - began) * 1000)
        got = [o.get("id") for o in envelope.get("objects", [])]
        if got != [wanted]:
            raise RuntimeError(f"{endpoint.name}: asked for {wanted}, got {got[:3]}")
    return {
        "samples": len(latencies),
        "p50_ms": round(common.percentile(latencies, 50), 2),
        "p95_ms": round(common.percentile(latencies, 95), 2),
        "p99_ms": round(common.percentile(latencies, 99), 2),
        "mean_ms": round(sum(latencies) / len(latencies), 2),
    }


def request_floor(root: ApiRoot, samples: int) -> dict[str, Any]:
    """Time Get API Root Information: authentication, routing and HTTP, but no object query.

    The difference between this and Get An Object is what the object lookup itself costs.
    """
    latencies = []
    for _ in range(samples):
        began = time.perf_counter()
        root.refresh_information()
        latencies.append((time.perf_counter() - began) * 1000)
    return {
        "samples": samples,
        "what": "GET api root (taxii2-client ApiRoot)",
        "p50_ms": round(common.percentile(latencies, 50), 2),
        "p95_ms": round(common.percentile(latencies, 95), 2),
    }


def workload(endpoint: Endpoint, opts: Options, count: int) -> dict[str, Any]:
    """Ingest ``count`` objects, read them all back, then fetch a sample by id."""
    profile: dict[str, Any] = {}
    with _profiled(endpoint, opts, "ingest", profile):
        ingested = ingest(endpoint, opts, 0, count)
    with _profiled(endpoint, opts, "read", profile):
        read = read_back(endpoint, opts, count)
    with _profiled(endpoint, opts, "by_id", profile):
        single = by_id(endpoint, opts, count, opts.id_samples)
    result = {"objects": count, "ingest": ingested, "read": read, "by_id": single}
    if endpoint.root is not None:
        result["request_floor"] = request_floor(endpoint.root, min(opts.id_samples, 100))
    if profile:
        result["profile"] = profile
    return result


@dataclass
class ScalePlan:
    """The scale test: read rate at ``small`` objects against the rate at ``large``."""

    small: int
    large: int
    pages: int
    repeats: int
    loader: str  # "taxii" or "service"
    id_samples: int


def _pass_rate(reader: Collection, opts: Options, plan: ScalePlan, **filters: Any) -> float:
    count, _, seconds = _read_pages(reader, opts.page, plan.pages, **filters)
    return _rate(count, seconds)


def _date_added(reader: Collection, stix_id: str) -> str:
    manifest = reader.get_manifest(id=stix_id)
    records = manifest.get("objects", [])
    if not records:
        raise RuntimeError(f"no manifest record for {stix_id}")
    return str(records[0]["date_added"])


def scale(
    large: Endpoint,
    small: Endpoint,
    opts: Options,
    plan: ScalePlan,
    bulk_load: Callable[[int, int], dict[str, Any]],
) -> dict[str, Any]:
    """Compare the paged read rate of a ``plan.small`` and a ``plan.large`` collection.

    Both collections live in the same hub. After the growth, the passes over the small
    collection, the large one from its start and the large one from 90 % deep are interleaved
    and the best pass of each counts: on a shared machine the load drifts over the minutes the
    growth takes, and interleaving keeps that drift out of the ratio.
    """
    loaded_small = ingest(small, opts, 0, plan.small)
    ingest(large, opts, 0, plan.small)
    before_growth = max(_pass_rate(large.reader, opts, plan) for _ in range(plan.repeats))
    if plan.loader == "taxii":
        grown = ingest(large, opts, plan.small, plan.large, prebuild=False)
    else:
        grown = bulk_load(plan.small, plan.large)
    deep_index = int(plan.large * 0.9)
    after = _date_added(large.reader, indicator_id(opts.seed, deep_index))
    small_rates, start_rates, deep_rates = [], [], []
    for _ in range(plan.repeats):
        small_rates.append(_pass_rate(small.reader, opts, plan))
        start_rates.append(_pass_rate(large.reader, opts, plan))
        deep_rates.append(_pass_rate(large.reader, opts, plan, added_after=after))
    single = by_id(large, opts, plan.large, plan.id_samples)
    small_rate, start_rate, deep_rate = max(small_rates), max(start_rates), max(deep_rates)

    def ratio(rate: float) -> float | None:
        return round(rate / small_rate, 3) if small_rate else None

    return {
        "small_objects": plan.small,
        "large_objects": plan.large,
        "pages_per_pass": plan.pages,
        "page_size": opts.page,
        "passes": plan.repeats,
        "loader_for_growth": plan.loader,
        "load_small": loaded_small,
        "load_growth": grown,
        "read_rate_large_collection_before_growth": before_growth,
        "read_rate_small": small_rate,
        "read_rate_large_from_start": start_rate,
        "read_rate_large_deep": deep_rate,
        "pass_rates": {"small": small_rates, "large_start": start_rates, "large_deep": deep_rates},
        "deep_from_index": deep_index,
        "ratio_from_start": ratio(start_rate),
        "ratio_deep": ratio(deep_rate),
        "ratio": ratio(min(start_rate, deep_rate)),
        "by_id_at_large": single,
    }


# The Varsel hub ------------------------------------------------------------------------------


@dataclass
class Hub:
    """A Varsel hub under test: its database, its server process and its credentials."""

    backend: str
    workdir: Path
    pg_admin_url: str
    database_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    server: common.Server | None = None
    base_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    collections: dict[str, str] = field(default_factory=dict)

    def create_database(self) -> None:
        """Create an empty database for this hub."""
        if self.backend == "sqlite":
            self.database_url = f"sqlite:///{self.workdir / 'hub.sqlite3'}"
            return
        import psycopg

        name = f"varsel_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = self.pg_admin_url.rsplit("/", 1)[0]
        self.database_url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)

    def drop_database(self) -> None:
        """Drop the database made by :meth:`create_database` (SQLite files go with the dir)."""
        if self.backend != "postgresql" or not self.database_url:
            return
        import psycopg

        name = self.database_url.rsplit("/", 1)[1]
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def init(self, envelope_bytes: int, *, helper: bool = True) -> None:
        """Run ``varsel init`` and create the organisations, users, collections and tokens."""
        self.env = {
            **os.environ,
            # The warning-list helper process (docs/matching.md), on by default as in production.
            "VARSEL_WARNINGLIST_HELPER": "1" if helper else "0",
            "VARSEL_DATABASE_URL": self.database_url,
            "VARSEL_SECRET_KEY": secrets.token_urlsafe(32),
            "VARSEL_DATA_DIR": str(self.workdir),
            "VARSEL_MAX_PAGE_SIZE": "1000",
            "VARSEL_MAX_CONTENT_LENGTH": str(max(10 * 2**20, 2 * envelope_bytes)),
        }
        done = subprocess.run(
            [sys.executable, "-m", "varsel", "init"],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"varsel init failed: {done.stderr.strip()[-2000:]}")
        self._provision()

    def _provision(self) -> None:
        # Service layer, in-process: quicker than six CLI start-ups, and done before any timing.
        from varsel.db import make_engine, make_sessionmaker
        from varsel.orgs import service as orgs
        from varsel.sharing import service as sharing

        engine = make_engine(self.database_url)
        try:
            with make_sessionmaker(engine)() as session:
                orgs.add_org(
                    session=session, name="Bench CERT", country="NO", kind="csirt", actor="bench"
                )
                orgs.add_org(
                    session=session,
                    name="Bench Energy",
                    country="SE",
                    kind="company",
                    sector="energy",
                    actor="bench",
                )
                for username, org in (("producer", "Bench CERT"), ("consumer", "Bench Energy")):
                    orgs.add_user(
                        session=session,
                        username=username,
                        org=org,
                        role="analyst",
                        password=None,
                        actor="bench",
                    )
                    self.tokens[username] = orgs.create_token(
                        session=session, username=username, name="bench", actor="bench"
                    )[1]
                orgs.add_community(
                    session=session,
                    name="Bench sharing group",
                    members=["Bench CERT", "Bench Energy"],
                    actor="bench",
                )
                for title in (MAIN, COMPARISON, SCALE, SCALE_SMALL):
                    row = sharing.add_collection(
                        session=session,
                        title=title,
                        community="Bench sharing group",
                        default_tlp="green",
                        actor="bench",
                    )
                    self.collections[title] = row.id
                session.commit()
        finally:
            engine.dispose()

    def serve(self) -> None:
        """Start ``varsel serve`` on a free loopback port and wait until it answers."""
        port = common.free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.server = common.Server(
            name=f"varsel ({self.backend})",
            command=[
                sys.executable,
                "-m",
                "varsel",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=self.env,
            log_path=self.workdir / "server.log",
            ready_url=f"{self.base_url}/taxii2/",
        )
        self.server.start()

    def endpoint(self, title: str, label: str) -> Endpoint:
        """Return taxii2-client views of collection ``title``: producer writes, consumer reads."""
        root = f"{self.base_url}/taxii2/hub/"
        # Found through TAXII itself (Get Collections), as any client would.
        api_root = ApiRoot(root, auth=BearerAuth(self.tokens["consumer"]))
        url = {c.title: c.url for c in api_root.collections}[title]
        assert self.server is not None
        return _warmed(
            Endpoint(
                name=label,
                writer=Collection(url, auth=BearerAuth(self.tokens["producer"])),
                reader=Collection(url, auth=BearerAuth(self.tokens["consumer"])),
                root=api_root,
                pid=self.server.pid,
            )
        )

    def bulk_load(self, seed: int, start: int, stop: int, size: int) -> dict[str, Any]:
        """Add indicators ``start``..``stop - 1`` through the service layer (no HTTP)."""
        from sqlalchemy import select

        from varsel.db import make_engine, make_sessionmaker
        from varsel.orgs import service as orgs
        from varsel.policy.principal import principal_of
        from varsel.sharing import ingest as ingesting
        from varsel.sharing.models import Collection as CollectionRow

        engine = make_engine(self.database_url)
        factory = make_sessionmaker(engine)
        began = time.perf_counter()
        try:
            for body in envelopes(seed, start, stop, size):
                with factory() as session:
                    principal = principal_of(orgs.get_user(session=session, username="producer"))
                    row = session.execute(
                        select(CollectionRow).where(CollectionRow.id == self.collections[SCALE])
                    ).scalar_one()
                    result = ingesting.ingest(
                        session=session, collection=row, principal=principal, body=body
                    )
                    if result.failures:
                        raise RuntimeError(
                            f"service-layer load rejected objects: {result.failures[:3]}"
                        )
                    session.commit()
        finally:
            engine.dispose()
        seconds = time.perf_counter() - began
        return {
            "objects": stop - start,
            "envelope_size": size,
            "seconds": round(seconds, 3),
            "objects_per_s": _rate(stop - start, seconds),
            "path": "service layer",
        }

    def close(self, keep: bool) -> None:
        """Stop the server and remove the database unless ``keep``."""
        if self.server is not None:
            self.server.stop()
        if not keep:
            with contextlib.suppress(Exception):
                self.drop_database()
            shutil.rmtree(self.workdir, ignore_errors=True)


# medallion -----------------------------------------------------------------------------------


@dataclass
class Medallion:
    """The OASIS reference TAXII server with its memory backend, in a child process."""

    workdir: Path
    server: common.Server | None = None
    base_url: str = ""
    collection_id: str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def serve(self, page: int) -> None:
        """Write an empty-collection data file and a config, then start medallion."""
        port = common.free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        data = {
            "/discovery": {
                "title": "medallion benchmark",
                "default": f"{self.base_url}/bench/",
                "api_roots": [f"{self.base_url}/bench/"],
            },
            "bench": {
                "information": {
                    "title": "bench",
                    "versions": ["application/taxii+json;version=2.1"],
                    "max_content_length": 64 * 2**20,
                },
                "status": [],
                "collections": [
                    {
                        "id": self.collection_id,
                        "title": MAIN,
                        "can_read": True,
                        "can_write": True,
                        "media_types": ["application/stix+json;version=2.1"],
                        "objects": [],
                        "manifest": [],
                    }
                ],
            },
        }
        data_path = self.workdir / "medallion-data.json"
        data_path.write_text(json.dumps(data), encoding="utf-8")
        config = {
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": str(data_path),
            },
            "users": {"bench": self.password},
            "taxii": {"max_page_size": page},
        }
        config_path = self.workdir / "medallion.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        self.server = common.Server(
            name="medallion",
            command=[
                sys.executable,
                "-m",
                "medallion.scripts.run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "WARN",
                str(config_path),
            ],
            env=dict(os.environ),
            log_path=self.workdir / "medallion.log",
            ready_url=f"{self.base_url}/taxii2/",
        )
        self.server.start()

    def endpoint(self) -> Endpoint:
        """Return taxii2-client views of medallion's collection (HTTP Basic)."""
        url = f"{self.base_url}/bench/collections/{self.collection_id}/"
        writer = Collection(url, user="bench", password=self.password)
        reader = Collection(url, user="bench", password=self.password)
        assert self.server is not None
        root = ApiRoot(f"{self.base_url}/bench/", user="bench", password=self.password)
        return _warmed(
            Endpoint(name="medallion", writer=writer, reader=reader, root=root, pid=self.server.pid)
        )

    def close(self, keep: bool) -> None:
        """Stop medallion and remove its files unless ``keep``."""
        if self.server is not None:
            self.server.stop()
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


# The run -------------------------------------------------------------------------------------


def _targets_met(entry: dict[str, Any]) -> dict[str, bool]:
    met = {
        "ingest_objects_per_s": entry["ingest"]["objects_per_s"] >= TARGETS["ingest_objects_per_s"],
        "read_objects_per_s": entry["read"]["objects_per_s"] >= TARGETS["read_objects_per_s"],
        "by_id_p50_ms": entry["by_id"]["p50_ms"] <= TARGETS["by_id_p50_ms"],
    }
    if entry.get("scale", {}).get("ratio") is not None:
        met["scale_read_ratio"] = entry["scale"]["ratio"] >= TARGETS["scale_read_ratio"]
    return met


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_hub(backend: str, args: argparse.Namespace, opts: Options) -> dict[str, Any]:
    """Set up one Varsel hub, run every workload on it, tear it down."""
    workdir = Path(tempfile.mkdtemp(prefix=f"varsel-bench-{backend}-"))
    hub = Hub(backend=backend, workdir=workdir, pg_admin_url=args.pg_admin_url)
    entry: dict[str, Any] = {}
    try:
        hub.create_database()
        envelope_bytes = len(next(envelopes(opts.seed, 0, opts.envelope, opts.envelope)))
        hub.init(envelope_bytes, helper=args.helper == "on")
        hub.serve()
        _say(f"varsel ({backend}) serving at {hub.base_url}")
        if args.medallion_objects and not args.no_medallion:
            _say(f"varsel ({backend}): comparison workload, {args.medallion_objects:,} objects")
            quiet = Options(**{**opts.__dict__, "profile": False})
            entry["comparison"] = workload(
                hub.endpoint(COMPARISON, f"varsel-{backend}-cmp"), quiet, args.medallion_objects
            )
        _say(f"varsel ({backend}): main workload, {args.objects:,} objects")
        entry.update(workload(hub.endpoint(MAIN, f"varsel-{backend}"), opts, args.objects))
        if args.scale:
            plan = ScalePlan(
                small=args.scale_small,
                large=args.scale_large,
                pages=args.scale_pages,
                repeats=args.scale_passes,
                loader=args.scale_loader,
                id_samples=args.scale_id_samples,
            )
            _say(
                f"varsel ({backend}): scale test {plan.small:,} -> {plan.large:,} "
                f"(growth through {plan.loader})"
            )
            entry["scale"] = scale(
                hub.endpoint(SCALE, f"varsel-{backend}-scale"),
                hub.endpoint(SCALE_SMALL, f"varsel-{backend}-scale-small"),
                Options(**{**opts.__dict__, "profile": False}),
                plan,
                lambda a, b: hub.bulk_load(opts.seed, a, b, args.scale_envelope),
            )
        entry["targets_met"] = _targets_met(entry)
    except Exception as exc:  # record it, run the rest
        entry["error"] = f"{type(exc).__name__}: {exc}"
        if hub.server is not None:
            entry["server_log_tail"] = hub.server.tail()
        _say(f"varsel ({backend}) FAILED: {entry['error']}")
    finally:
        hub.close(args.keep)
        if args.keep:
            entry["workdir"] = str(workdir)
    return entry


def run_medallion(args: argparse.Namespace, opts: Options) -> dict[str, Any]:
    """Run the comparison workload against medallion (memory backend)."""
    med = Medallion(workdir=Path(tempfile.mkdtemp(prefix="medallion-bench-")))
    entry: dict[str, Any] = {"backend": "memory"}
    try:
        med.serve(opts.page)
        _say(f"medallion serving at {med.base_url}; {args.medallion_objects:,} objects")
        entry["comparison"] = workload(
            med.endpoint(), Options(**{**opts.__dict__, "profile": False}), args.medallion_objects
        )
    except Exception as exc:  # record it, run the rest
        entry["error"] = f"{type(exc).__name__}: {exc}"
        _say(f"medallion FAILED: {entry['error']}")
    finally:
        med.close(args.keep)
    return entry


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the whole benchmark and return every figure."""
    opts = Options(
        seed=args.seed,
        envelope=args.envelope,
        page=args.page,
        id_samples=args.id_samples,
        profile=args.profile,
        # A temporary directory is made only when profiling: nothing is left behind otherwise.
        profile_dir=Path(
            args.profile_dir
            or (tempfile.mkdtemp(prefix="varsel-prof-") if args.profile else tempfile.gettempdir())
        ),
    )
    if opts.profile:
        if common.py_spy_path() is None:
            raise SystemExit("--profile needs py-spy: pip install py-spy")
        opts.profile_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "benchmark": "TAXII hub (issue 2)",
        "date": common.utc_now(),
        "command": " ".join(["python", "benchmarks/taxii_bench.py", *sys.argv[1:]]),
        "machine": common.machine_info(
            args.pg_admin_url if "postgresql" in args.backends else None
        ),
        "load_before": common.load_snapshot(),
        "parameters": {
            "objects": args.objects,
            "envelope_size": args.envelope,
            "page_size": args.page,
            "id_samples": args.id_samples,
            "seed": args.seed,
            "backends": args.backends,
            "medallion_objects": 0 if args.no_medallion else args.medallion_objects,
            "scale": args.scale,
            "scale_small": args.scale_small,
            "scale_large": args.scale_large,
            "scale_pages": args.scale_pages,
            "scale_passes": args.scale_passes,
            "scale_loader": args.scale_loader,
            "scale_id_samples": args.scale_id_samples,
            "warninglist_helper": args.helper,
            "profiled": args.profile,
            "profile_dir": str(opts.profile_dir) if args.profile else None,
            "client": "taxii2-client (taxii2client.v21.Collection)",
            "full_size": args.objects >= 100_000,
        },
        "targets": TARGETS,
        "servers": {},
    }
    if args.medallion_objects and not args.no_medallion:
        report["servers"]["medallion"] = run_medallion(args, opts)
    for backend in args.backends:
        report["servers"][f"varsel-{backend}"] = run_hub(backend, args, opts)
    report["load_after"] = common.load_snapshot()
    return report


# Output --------------------------------------------------------------------------------------


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and unit == "ms":
        return f"{value:.2f} ms"
    if isinstance(value, int | float):
        return f"{value:,.0f}{unit}"
    return str(value)


def _get(entry: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(entry, dict) or key not in entry:
            return None
        entry = entry[key]
    return entry


def print_report(report: dict[str, Any]) -> None:
    """Print the figures as tables (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    servers = report["servers"]
    hubs = [name for name in servers if name.startswith("varsel-")]
    params = report["parameters"]
    rows = [
        ("ingest, objects/s", ("ingest", "objects_per_s"), "", "≥ 10,000"),
        ("read-back, objects/s", ("read", "objects_per_s"), "", "≥ 20,000"),
        ("object by id, p50", ("by_id", "p50_ms"), "ms", "≤ 5 ms"),
        ("object by id, p95", ("by_id", "p95_ms"), "ms", ""),
        ("request floor (API root), p50", ("request_floor", "p50_ms"), "ms", ""),
        ("scale: rate at small", ("scale", "read_rate_small"), "", ""),
        ("scale: rate at large, start", ("scale", "read_rate_large_from_start"), "", ""),
        ("scale: rate at large, deep", ("scale", "read_rate_large_deep"), "", ""),
        ("scale: ratio (worst)", ("scale", "ratio"), "x", "≥ 0.70"),
    ]
    table = Table(title=f"Varsel through taxii2-client, {params['objects']:,} indicators")
    table.add_column("measure")
    for name in hubs:
        table.add_column(name, justify="right")
    table.add_column("target", justify="right")
    for label, path, unit, target in rows:
        values = [_get(servers[name], *path) for name in hubs]
        if all(v is None for v in values):
            continue
        cells = [f"{v:.3f}" if unit == "x" and v is not None else _fmt(v, unit) for v in values]
        table.add_row(label, *cells, target)
    console.print(table)
    for name in hubs:
        if "error" in servers[name]:
            console.print(f"[red]{name} failed:[/] {servers[name]['error']}")
    compared = [name for name in servers if _get(servers[name], "comparison") is not None]
    if compared:
        side = Table(title=f"Side by side, same run, {params['medallion_objects']:,} objects")
        side.add_column("measure")
        for name in compared:
            side.add_column(name, justify="right")
        for label, path, unit, _ in rows[:5]:
            side.add_row(
                label, *[_fmt(_get(servers[n], "comparison", *path), unit) for n in compared]
            )
        console.print(side)
    for name in hubs:
        for phase, summary in (_get(servers[name], "profile") or {}).items():
            prof = Table(
                title=f"{name} {phase}: self time by package ({summary.get('samples', 0)} samples)"
            )
            prof.add_column("package / module")
            prof.add_column("%", justify="right")
            for item in summary.get("self_by_package", [])[:10]:
                prof.add_row(item["name"], f"{item['percent']:.1f}")
            console.print(prof)
    console.print(f"load before: {report['load_before']['uptime']}")
    console.print(f"load after:  {report['load_after']['uptime']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="taxii_bench.py",
        description="Benchmark the Varsel TAXII hub (issue 2) through taxii2-client, on SQLite "
        "and PostgreSQL, side by side with the OASIS medallion server.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="comma-separated databases to run the hub on",
    )
    parser.add_argument(
        "--objects", type=int, default=100_000, help="indicators in the main collection"
    )
    parser.add_argument("--envelope", type=int, default=500, help="objects per POSTed envelope")
    parser.add_argument("--page", type=int, default=1000, help="objects per page read")
    parser.add_argument(
        "--id-samples", type=int, default=500, help="random objects fetched one by one"
    )
    parser.add_argument(
        "--medallion-objects",
        type=int,
        default=2000,
        help="objects in the side-by-side workload (medallion and Varsel)",
    )
    parser.add_argument(
        "--no-medallion", action="store_true", help="skip medallion and the side-by-side workload"
    )
    parser.add_argument(
        "--helper",
        choices=("on", "off"),
        default="on",
        help="run the hub with its warning-list helper process (VARSEL_WARNINGLIST_HELPER)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also measure the read rate at --scale-small vs --scale-large",
    )
    parser.add_argument("--scale-small", type=int, default=10_000)
    parser.add_argument("--scale-large", type=int, default=1_000_000)
    parser.add_argument(
        "--scale-pages", type=int, default=10, help="pages read per pass in the scale test"
    )
    parser.add_argument(
        "--scale-passes", type=int, default=3, help="passes per scale measurement (the best counts)"
    )
    parser.add_argument(
        "--scale-id-samples", type=int, default=50, help="objects fetched by id at the large size"
    )
    parser.add_argument(
        "--scale-loader",
        choices=("taxii", "service"),
        default="taxii",
        help="how the scale test grows the collection beyond --scale-small",
    )
    parser.add_argument(
        "--scale-envelope",
        type=int,
        default=5000,
        help="objects per transaction when --scale-loader=service",
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample the hub with py-spy during each main phase"
    )
    parser.add_argument(
        "--profile-dir",
        default=None,
        help="where py-spy's collapsed stacks go (default: a new temp dir)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small run: 5,000 objects, 500 side by side, scale 2,000 -> 20,000",
    )
    parser.add_argument("--seed", type=int, default=2, help="seed of the generated indicators")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="JSON results file")
    parser.add_argument(
        "--pg-admin-url",
        default=DEFAULT_PG_ADMIN,
        help="admin connection used to create and drop the benchmark database",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases and server logs (paths in the JSON)"
    )
    parser.add_argument("--no-table", action="store_true", help="print no tables")
    args = parser.parse_args(argv)
    if args.quick:
        args.objects = min(args.objects, 5000)
        args.medallion_objects = min(args.medallion_objects, 500)
        args.id_samples = min(args.id_samples, 100)
        args.scale_small = min(args.scale_small, 2000)
        args.scale_large = min(args.scale_large, 20_000)
        args.scale_pages = min(args.scale_pages, 2)
        args.scale_id_samples = min(args.scale_id_samples, 20)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    for name in ("objects", "envelope", "page", "id_samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.scale and not 0 < args.scale_small < args.scale_large:
        parser.error("--scale-small must be positive and below --scale-large")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables, write the JSON; non-zero if a server failed."""
    args = parse_args(argv)
    report = run(args)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.no_table:
        print_report(report)
    _say(f"results written to {output}")
    return 1 if any("error" in entry for entry in report["servers"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
