#!/usr/bin/env python3
"""MISP interoperability benchmark (issue 16): import, one huge event, feeds, events/add.

Everything is measured as users run it: whole commands and real clients. The script generates
seeded, realistic MISP events (eight attribute types, ``to_ids`` true and false, ``tlp:*`` and
other tags, ``file`` and ``domain-ip`` objects with references) as event JSON files and as a
directory in MISP feed layout, then for each database (a fresh SQLite file, a fresh PostgreSQL
database it creates and drops) starts a hub (``varsel init``, ``varsel serve``) and times:

* ``varsel misp import FEED --collection C --as USER`` as a child process — attributes/s and
  peak resident set, cold (first import of the hub) and warm (a second, different corpus);
* one event of ``--big`` attributes imported the same way (seconds and peak resident set);
* the collection's MISP feed fetched over HTTP as MISP's feed fetcher does (``manifest.json``,
  then each ``<uuid>.json``) by a reader of another organisation, cold then warm;
* ``events/add`` through PyMISP (the real client), first event and the rest;

and, once per run beside them, the same conversion with ``misp-stix`` alone as a user would
script it today (``MISPtoSTIX21Parser().parse_misp_event(event)``, then write the bundle).
Figures are printed and written to ``benchmarks/results/misp.json``.

Examples::

    python benchmarks/misp_bench.py                      # 100,000 attributes, both databases
    python benchmarks/misp_bench.py --backend sqlite     # one database
    python benchmarks/misp_bench.py --quick              # toy sizes, seconds (the smoke test)
    python benchmarks/misp_bench.py --no-hub             # the generator and misp-stix alone
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

if __package__ in {None, ""}:
    # Run as a script: make the repository root importable for ``benchmarks._common``.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as common  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "misp.json"
DEFAULT_PG_ADMIN = os.environ.get(
    "VARSEL_BENCH_PG_URL",
    os.environ.get("VARSEL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
TARGETS = {
    "import_attributes_per_s": 10_000,
    "big_event_s": 10.0,
    # "≤ 1 GB": 10⁹ bytes, the stricter reading (1 GiB would be 1,024 MiB).
    "big_event_peak_rss_mib": round(10**9 / 2**20, 1),
    "feed_s": 5.0,
}
PRODUCER_ORG, CONSUMER_ORG = "Bench CERT", "Bench Energy"
COLLECTIONS = {
    "import": "MISP import",
    "warm": "MISP import, warm",
    "big": "MISP big event",
    "add": "MISP events/add",
}
PHASES = (
    "import_cold",
    "feed_consumer",
    "feed_producer",
    "import_warm",
    "import_unchanged",
    "big_cold",
    "big_warm",
    "events_add",
)
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: every generated timestamp counts from here


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# MISP events --------------------------------------------------------------------------------

ORGC = {"name": "Bench CERT", "uuid": "5f1b1a5e-1c2d-4e3f-8a9b-0c1d2e3f4a5b"}
# Attribute types and the category MISP files them under; to_ids as a CSIRT would set it.
KINDS = (
    ("ip-dst", "Network activity", True),
    ("domain", "Network activity", True),
    ("url", "Network activity", True),
    ("sha256", "Payload delivery", True),
    ("md5", "Payload delivery", True),
    ("email-src", "Payload delivery", False),
    ("filename", "Payload delivery", False),
    ("hostname", "Network activity", True),
)
# Event TLP tags, in tenths: 1 CLEAR, 5 GREEN, 3 AMBER and 1 RED or AMBER+STRICT in turn.
EVENT_TLP = (
    "tlp:clear",
    "tlp:green",
    "tlp:green",
    None,  # RED or AMBER+STRICT, alternating (see make_event)
    "tlp:green",
    "tlp:amber",
    "tlp:green",
    "tlp:amber",
    "tlp:green",
    "tlp:amber",
)
OTHER_TAGS = (
    'admiralty-scale:source-reliability="b"',
    'admiralty-scale:information-credibility="2"',
    "type:OSINT",
    'kill-chain:"Delivery"',
)
# Object templates as MISP's object definitions name them (uuid and version of the template).
FILE_TEMPLATE = ("688c46fb-5edb-40a3-8273-1af7923e2215", "24")
DOMAIN_IP_TEMPLATE = ("43b3b146-77eb-4931-b4cc-b66c60f28734", "10")


def _uuid(*parts: object) -> str:
    """Return a deterministic, well-formed UUIDv4 made from ``parts``."""
    digest = hashlib.md5(":".join(map(str, parts)).encode()).digest()  # an id, not a secret
    return str(uuid.UUID(bytes=digest, version=4))


def _tag(name: str) -> dict[str, Any]:
    return {"name": name, "colour": "#33FF00" if name.startswith("tlp:") else "#0088cc"}


# First octets of public IPv4 ranges, so that no generated address is private or reserved.
PUBLIC_OCTETS = (31, 37, 45, 62, 77, 85, 91, 103, 141, 176, 185, 193, 194, 195, 212, 213)


def _value(kind: str, digest: bytes) -> str:
    # Names under example-<n>.net, never the reserved example.* themselves: those are on the
    # warning lists every share is checked against, and a benchmark corpus should pass them.
    hexed = digest.hex()
    if kind == "ip-dst":
        first = PUBLIC_OCTETS[digest[0] % len(PUBLIC_OCTETS)]
        return f"{first}.{digest[1]}.{digest[2]}.{1 + digest[3] % 254}"
    if kind == "domain":
        return f"h{hexed[:10]}.example-{digest[4] % 97}.net"
    if kind == "hostname":
        return f"mail-{hexed[:8]}.relay{digest[5] % 31}.example-{digest[4] % 89}.org"
    if kind == "url":
        return f"https://cdn{digest[6] % 53}.example-{digest[4] % 83}.com/{hexed[:16]}/payload.bin"
    if kind == "sha256":
        return hexed
    if kind == "md5":
        return hexed[:32]
    if kind == "email-src":
        return f"invoice-{hexed[:6]}@mailer{digest[7] % 19}.example-{digest[4] % 79}.net"
    return f"invoice_{hexed[:8]}.pdf.exe"  # filename


def _attribute(
    seed: int, event: int, index: int, kind: str, stamp: int, *, relation: str | None = None
) -> dict[str, Any]:
    digest = hashlib.sha256(f"{seed}:{event}:{index}:{kind}".encode()).digest()
    category, to_ids = next((c, t) for k, c, t in KINDS if k == kind)
    if kind == "email-src" and digest[8] % 4 == 0:
        to_ids = True  # a known phishing sender, worth alerting on
    if to_ids and digest[9] % 10 == 0:
        to_ids = False  # context only: shared but not for detection
    attribute: dict[str, Any] = {
        "uuid": _uuid("attribute", seed, event, index),
        "type": kind,
        "category": category,
        "value": _value(kind, digest),
        "to_ids": to_ids,
        "comment": "" if index % 3 else "Seen in the phishing wave against energy operators",
        "timestamp": str(stamp),
        "distribution": "5",  # inherit the event's
        "disable_correlation": False,
        "deleted": False,
    }
    if relation is not None:
        attribute["object_relation"] = relation
    if index % 50 == 7:
        attribute["Tag"] = [_tag("tlp:amber")]  # narrower than its event
    elif index % 50 == 21:
        attribute["Tag"] = [_tag('kill-chain:"Command and Control"')]
    return attribute


def _objects(seed: int, event: int, first: int, count: int, stamp: int) -> list[dict[str, Any]]:
    """Return ``file`` and ``domain-ip`` objects holding ``count`` attributes, numbered on."""
    objects: list[dict[str, Any]] = []
    index = first
    while index < first + count:
        left = first + count - index
        if len(objects) % 2 == 0 and left >= 3:
            name, (template, version), meta = "file", FILE_TEMPLATE, "file"
            parts = [("filename", "filename"), ("md5", "md5"), ("sha256", "sha256")][:left]
        else:
            name, (template, version), meta = "domain-ip", DOMAIN_IP_TEMPLATE, "network"
            parts = [("domain", "domain"), ("ip-dst", "ip")][: min(left, 2)]
        attributes = [
            _attribute(seed, event, index + n, kind, stamp, relation=relation)
            for n, (kind, relation) in enumerate(parts)
        ]
        index += len(parts)
        objects.append(
            {
                "uuid": _uuid("object", seed, event, index),
                "name": name,
                "meta-category": meta,
                "description": f"Bench {name} object",
                "template_uuid": template,
                "template_version": version,
                "timestamp": str(stamp),
                "distribution": "5",
                "comment": "",
                "deleted": False,
                "Attribute": attributes,
            }
        )
    # Each file object was downloaded from the domain-ip object after it.
    for this, that in zip(objects, objects[1:], strict=False):
        if this["name"] == "file" and that["name"] == "domain-ip":
            this["ObjectReference"] = [
                {
                    "uuid": _uuid("reference", this["uuid"], that["uuid"]),
                    "object_uuid": this["uuid"],
                    "referenced_uuid": that["uuid"],
                    "relationship_type": "downloaded-from",
                    "timestamp": str(stamp),
                    "comment": "",
                }
            ]
    return objects


def make_event(
    seed: int, number: int, attributes: int, *, published: bool = True
) -> dict[str, Any]:
    """Return MISP event ``number`` of the seed's corpus, with ``attributes`` attributes in all.

    About a tenth of the attributes are in objects (``file``: filename, md5, sha256;
    ``domain-ip``: domain, ip); the rest cycle through the eight types of :data:`KINDS`. The
    same seed, number and size always give the same event, byte for byte once serialised.
    Events in feeds are published (misp-stix makes a STIX ``report`` of those); an event a
    PyMISP script creates is not until it is published (misp-stix makes a ``grouping``).
    """
    stamp = EPOCH + seed * 100_003 + number * 3_600
    in_objects = attributes // 10 if attributes >= 20 else 0
    plain = attributes - in_objects
    tlp = EVENT_TLP[number % 10] or ("tlp:red" if number % 20 < 10 else "tlp:amber+strict")
    tags = [_tag(tlp), _tag(OTHER_TAGS[number % len(OTHER_TAGS)])]
    day = time.strftime("%Y-%m-%d", time.gmtime(stamp))
    return {
        "Event": {
            "uuid": _uuid("event", seed, number),
            "info": f"Bench campaign {seed}-{number}: phishing and payload infrastructure",
            "date": day,
            "timestamp": str(stamp),
            "publish_timestamp": str(stamp),
            "published": published,
            "analysis": "2",
            "threat_level_id": str(1 + number % 4),
            "distribution": "1" if number % 3 else "3",
            "disable_correlation": False,
            "Orgc": dict(ORGC),
            "Org": dict(ORGC),
            "Tag": tags,
            "Attribute": [
                _attribute(seed, number, i, KINDS[i % len(KINDS)][0], stamp) for i in range(plain)
            ],
            "Object": _objects(seed, number, plain, in_objects, stamp),
            "Galaxy": [],
        }
    }


def corpus(
    seed: int, attributes: int, per_event: int, *, published: bool = True
) -> Iterator[dict[str, Any]]:
    """Yield events of ``per_event`` attributes (the last one smaller) totalling ``attributes``."""
    for number, first in enumerate(range(0, attributes, per_event)):
        size = min(per_event, attributes - first)
        yield make_event(seed, number, size, published=published)


def count_attributes(event: dict[str, Any]) -> int:
    """Return how many attributes an event holds, those of its objects included."""
    body = event.get("Event", event)
    inner = sum(len(o.get("Attribute", [])) for o in body.get("Object", []))
    return len(body.get("Attribute", [])) + inner


def _hashes(event: dict[str, Any]) -> Iterator[str]:
    """Yield the feed's ``hashes.csv`` lines of an event: md5 of each value, the event uuid."""
    body = event["Event"]
    attributes = [*body["Attribute"], *(a for o in body["Object"] for a in o["Attribute"])]
    for attribute in attributes:
        digest = hashlib.md5(attribute["value"].encode()).hexdigest()  # MISP's feed format
        yield f"{digest},{body['uuid']}\n"


def _manifest_entry(event: dict[str, Any]) -> dict[str, Any]:
    body = event["Event"]
    keys = ("info", "date", "analysis", "threat_level_id", "timestamp", "published")
    return {**{k: body[k] for k in keys}, "Orgc": body["Orgc"], "Tag": body["Tag"]}


@dataclass
class Corpus:
    """Generated events on disk: as event JSON files and as a MISP feed directory."""

    files: Path
    feed: Path
    events: int
    attributes: int
    to_ids: int
    uuids: list[str] = field(default_factory=list)
    mib: float = 0.0


def write_corpus(
    directory: Path, seed: int, attributes: int, per_event: int, *, published: bool = True
) -> Corpus:
    """Write the corpus twice: ``files/<uuid>.json`` and ``feed/`` (manifest, hashes, events)."""
    files, feed = directory / "files", directory / "feed"
    files.mkdir(parents=True)
    feed.mkdir(parents=True)
    manifest: dict[str, Any] = {}
    result = Corpus(files=files, feed=feed, events=0, attributes=0, to_ids=0)
    size = 0
    with (feed / "hashes.csv").open("w", encoding="ascii") as hashes:
        for event in corpus(seed, attributes, per_event, published=published):
            body = event["Event"]
            text = json.dumps(event, separators=(",", ":"))
            size += len(text)
            (files / f"{body['uuid']}.json").write_text(text, encoding="utf-8")
            (feed / f"{body['uuid']}.json").write_text(text, encoding="utf-8")
            manifest[body["uuid"]] = _manifest_entry(event)
            hashes.writelines(_hashes(event))
            result.events += 1
            result.attributes += count_attributes(event)
            result.to_ids += sum(
                1
                for a in [*body["Attribute"], *(a for o in body["Object"] for a in o["Attribute"])]
                if a["to_ids"]
            )
            result.uuids.append(body["uuid"])
    (feed / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result.mib = round(size / 2**20, 1)
    return result


# Measuring whole processes ------------------------------------------------------------------


def _tree_rss_kib(pid: int) -> int:
    """Return the resident set of ``pid`` and all its descendants, in KiB (0 once gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
    return total


def run_measured(
    command: list[str], env: dict[str, str], cwd: Path, *, timeout: float = 3600
) -> dict[str, Any]:
    """Run ``command`` as one process; return wall and CPU seconds, peak RSS and its output.

    The peak resident set comes from GNU ``time`` (``/usr/bin/time``), which waits for the
    command itself: the figure is the command's own, not this script's (a child's
    ``ru_maxrss`` seen from here would carry this process's size at fork time over ``exec``).
    The resident set of the whole process tree (helpers included) is sampled every 50 ms.
    """
    timing = cwd / f".time-{secrets.token_hex(4)}"
    gnu_time = shutil.which("time", path="/usr/bin:/bin")
    wrapped = [gnu_time, "-f", "%M %U %S", "-o", str(timing), *command] if gnu_time else command
    peak_tree = [0]
    began = time.perf_counter()
    process = subprocess.Popen(
        wrapped, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak_tree[0] = max(peak_tree[0], _tree_rss_kib(process.pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        stop.set()
        sampler.join()
        if process.poll() is None:
            process.kill()
    wall = time.perf_counter() - began
    result: dict[str, Any] = {
        "command": " ".join(Path(c).name if c == sys.executable else c for c in command),
        "returncode": process.returncode,
        "wall_s": round(wall, 3),
        "peak_rss_tree_mib": round(peak_tree[0] / 1024, 1),
        "stdout_tail": stdout[-1500:],
        "stderr_tail": stderr[-1500:],
        "_stderr": stderr,
    }
    if gnu_time and timing.exists():
        fields = timing.read_text(encoding="utf-8").split()
        timing.unlink()
        with contextlib.suppress(ValueError, IndexError):
            # GNU time writes "Command exited with non-zero status N" first on failure.
            kib, user, system = fields[-3:]
            result["peak_rss_mib"] = round(int(kib) / 1024, 1)
            result["cpu_s"] = round(float(user) + float(system), 3)
    return result


# misp-stix alone ----------------------------------------------------------------------------


def baseline_child(source: Path, output: Path) -> None:
    """Convert every event file of ``source`` with misp-stix alone; print what it took as JSON.

    What a user scripts today: one parser per event, ``parse_misp_event``, then the bundle
    written out as a file. Runs in its own process (``--baseline-child``).
    """
    began = time.perf_counter()
    from misp_stix_converter import MISPtoSTIX21Parser

    imported = time.perf_counter()
    output.mkdir(parents=True, exist_ok=True)
    events = attributes = objects = 0
    for path in sorted(source.glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        parser = MISPtoSTIX21Parser()
        parser.parse_misp_event(event)
        bundle = parser.bundle
        (output / path.name).write_text(bundle.serialize(), encoding="utf-8")
        events += 1
        attributes += count_attributes(event)
        objects += len(bundle.objects)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "events": events,
                "attributes": attributes,
                "stix_objects": objects,
                "import_s": round(imported - began, 3),
                "convert_and_write_s": round(done - imported, 3),
            }
        )
    )


def measure_baseline(name: str, source: Path, workdir: Path) -> dict[str, Any]:
    """Run the misp-stix-alone conversion of ``source`` as a whole process and measure it."""
    out = workdir / f"misp-stix-{name}"
    run = run_measured(
        [sys.executable, str(Path(__file__).resolve()), "--baseline-child", str(source), str(out)],
        dict(os.environ),
        workdir,
    )
    shutil.rmtree(out, ignore_errors=True)
    del run["_stderr"]
    if run["returncode"] != 0:
        raise RuntimeError(f"misp-stix alone failed: {run['stderr_tail']}")
    inner = json.loads(run["stdout_tail"].strip().splitlines()[-1])
    run.update(inner)
    run["attributes_per_s"] = _rate(inner["attributes"], run["wall_s"])
    run["attributes_per_s_converting"] = _rate(inner["attributes"], inner["convert_and_write_s"])
    if run.get("cpu_s"):
        run["attributes_per_cpu_s"] = _rate(inner["attributes"], run["cpu_s"])
    del run["stdout_tail"], run["stderr_tail"]
    return run


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


# The Varsel hub ------------------------------------------------------------------------------


@dataclass
class Hub:
    """A Varsel hub under test: its database, its server process, its users and collections."""

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
        """Create an empty database for this hub (PostgreSQL: ``varsel_misp_bench_<hex>``)."""
        if self.backend == "sqlite":
            self.database_url = f"sqlite:///{self.workdir / 'hub.sqlite3'}"
            return
        import psycopg

        name = f"varsel_misp_bench_{uuid.uuid4().hex[:10]}"
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

    def varsel(self, *arguments: str, timeout: float = 300) -> str:
        """Run ``varsel ARGUMENTS…`` against this hub; return its stdout, raise on failure."""
        done = subprocess.run(
            [sys.executable, "-m", "varsel", *arguments],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"varsel {' '.join(arguments[:3])} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        return done.stdout

    def init(self, max_body: int) -> None:
        """Run ``varsel init``, create the organisations, users, collections and tokens."""
        self.env = {
            **os.environ,
            "VARSEL_DATABASE_URL": self.database_url,
            "VARSEL_SECRET_KEY": secrets.token_urlsafe(32),
            "VARSEL_DATA_DIR": str(self.workdir),
            "VARSEL_MAX_CONTENT_LENGTH": str(max(10 * 2**20, 2 * max_body)),
        }
        self.varsel("init")
        self._provision()

    def _provision(self) -> None:
        # Service layer, in-process: quicker than a dozen CLI start-ups, done before any timing.
        from varsel.db import make_engine, make_sessionmaker
        from varsel.orgs import service as orgs
        from varsel.sharing import service as sharing

        engine = make_engine(self.database_url)
        try:
            with make_sessionmaker(engine)() as session:
                orgs.add_org(
                    session=session, name=PRODUCER_ORG, country="NO", kind="csirt", actor="bench"
                )
                orgs.add_org(
                    session=session,
                    name=CONSUMER_ORG,
                    country="SE",
                    kind="company",
                    sector="energy",
                    actor="bench",
                )
                for username, org in (("producer", PRODUCER_ORG), ("consumer", CONSUMER_ORG)):
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
                    members=[PRODUCER_ORG, CONSUMER_ORG],
                    actor="bench",
                )
                for key, title in COLLECTIONS.items():
                    row = sharing.add_collection(
                        session=session,
                        title=title,
                        community="Bench sharing group",
                        default_tlp="green",
                        actor="bench",
                    )
                    self.collections[key] = row.id
                session.commit()
        finally:
            engine.dispose()

    def stored(self, key: str) -> dict[str, int]:
        """Return how many current STIX objects of each type collection ``key`` holds."""
        from sqlalchemy import func, select

        from varsel.db import make_engine, make_sessionmaker
        from varsel.sharing.models import StixObject

        engine = make_engine(self.database_url)
        try:
            with make_sessionmaker(engine)() as session:
                rows = session.execute(
                    select(StixObject.type, func.count())
                    .where(
                        StixObject.collection_id == self.collections[key],
                        StixObject.is_latest.is_(True),
                    )
                    .group_by(StixObject.type)
                ).all()
        finally:
            engine.dispose()
        return {kind: int(count) for kind, count in sorted(rows)}

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
            ],  # fmt: skip
            env=self.env,
            log_path=self.workdir / "server.log",
            ready_url=f"{self.base_url}/taxii2/",
        )
        self.server.start()

    def server_peak_rss_mib(self) -> float | None:
        """Return the server process's peak resident set so far (``VmHWM``), in MiB."""
        if self.server is None:
            return None
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.server.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        return None

    def close(self, keep: bool) -> None:
        """Stop the server and remove the database unless ``keep``."""
        if self.server is not None:
            self.server.stop()
        if not keep:
            with contextlib.suppress(Exception):
                self.drop_database()
            shutil.rmtree(self.workdir, ignore_errors=True)


# The hub's workloads -------------------------------------------------------------------------


def import_command(hub: Hub, path: Path, key: str, attributes: int) -> dict[str, Any]:
    """Time ``varsel misp import PATH --collection C --as producer`` as one whole process."""
    run = run_measured(
        [
            sys.executable,
            "-m",
            "varsel",
            "misp",
            "import",
            str(path),
            "--collection",
            hub.collections[key],
            "--as",
            "producer",
        ],  # fmt: skip
        # Wide, so that rich never wraps the command's summary or report lines.
        {**hub.env, "COLUMNS": "1000"},
        hub.workdir,
    )
    stderr = run.pop("_stderr")
    if run["returncode"] != 0:
        raise RuntimeError(f"{run['command']} failed: {run['stderr_tail'] or run['stdout_tail']}")
    # The command's own summary ("N events: … new, … unchanged, … refused; …") and how many
    # lines of each kind its report has (an event or attribute not stored as sent, and why).
    run["summary"] = next((line for line in stderr.splitlines() if " events: " in line), None)
    kinds = (line.split(": ", 1)[0] for line in stderr.splitlines() if ": event " in line)
    run["report_lines"] = dict(Counter(kinds))
    run["attributes"] = attributes
    run["attributes_per_s"] = _rate(attributes, run["wall_s"])
    if run.get("cpu_s"):
        run["attributes_per_cpu_s"] = _rate(attributes, run["cpu_s"])
    run["stored"] = hub.stored(key)
    del run["stdout_tail"]
    return run


def _feed_pass(
    session: requests.Session, base: str, etags: dict[str, str] | None = None
) -> dict[str, Any]:
    """Fetch a feed as MISP's fetcher does: manifest.json, then each ``<uuid>.json`` in turn.

    With ``etags`` (name → ETag of an earlier pass) every request carries ``If-None-Match``:
    what a fetcher that remembers ETags costs the hub when nothing changed.
    """
    seen: dict[str, str] = {}
    statuses: dict[str, int] = {}
    events = attributes = to_ids = size = 0

    def get(name: str) -> requests.Response:
        headers = {"If-None-Match": etags[name]} if etags and name in etags else {}
        response = session.get(f"{base}{name}", headers=headers, timeout=600)
        code = str(response.status_code)
        statuses[code] = statuses.get(code, 0) + 1
        if response.status_code not in (200, 304):
            raise RuntimeError(f"GET {name}: {response.status_code} {response.text[:300]}")
        if "ETag" in response.headers:
            seen[name] = response.headers["ETag"]
        return response

    began = time.perf_counter()
    manifest = get("manifest.json")
    if manifest.status_code == 200:
        names = [f"{event_uuid}.json" for event_uuid in manifest.json()]
    else:  # unchanged: the events the fetcher already knows
        names = [n for n in etags or {} if n not in ("manifest.json", "hashes.csv")]
    for name in names:
        response = get(name)
        size += len(response.content)
        if response.status_code != 200:
            continue
        body = response.json()
        body = body.get("Event", body)
        every = [
            *body.get("Attribute", []),
            *(a for o in body.get("Object", []) for a in o.get("Attribute", [])),
        ]
        events += 1
        attributes += len(every)
        to_ids += sum(1 for a in every if a.get("to_ids"))
    seconds = time.perf_counter() - began
    hashes_began = time.perf_counter()
    hashes = get("hashes.csv")
    return {
        "seconds": round(seconds, 3),
        "requests": len(names) + 1,
        "statuses": statuses,
        "events": events,
        "attributes": attributes,
        "to_ids_attributes": to_ids,
        "mib": round(size / 2**20, 1),
        "attributes_per_s": _rate(attributes, seconds),
        "hashes_csv_s": round(time.perf_counter() - hashes_began, 3),
        "hashes_csv_lines": hashes.text.count("\n") if hashes.status_code == 200 else None,
        "etags": seen,
    }


def feed(hub: Hub, key: str, user: str) -> dict[str, Any]:
    """Fetch collection ``key``'s MISP feed over HTTP as ``user``: cold, warm, revalidated."""
    base = f"{hub.base_url}/misp/feeds/{hub.collections[key]}/"
    with requests.Session() as session:
        # MISP's feed settings send the key as a bare Authorization header.
        session.headers["Authorization"] = hub.tokens[user]
        cold = _feed_pass(session, base)
        warm = _feed_pass(session, base)
        etags = warm.pop("etags")
        cold.pop("etags")
        revalidated = _feed_pass(session, base, etags) if etags else None
        if revalidated:
            revalidated.pop("etags")
    if warm["events"] != cold["events"] or warm["attributes"] != cold["attributes"]:
        raise RuntimeError(f"feed changed between passes: {cold} / {warm}")
    return {"reader": user, "cold": cold, "warm": warm, "revalidated": revalidated}


def events_add(hub: Hub, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Share ``events`` through PyMISP's ``add_event`` against ``<hub>/misp``; time each."""
    import warnings

    from pymisp import MISPEvent, PyMISP

    # The collection an organisation's events/add land in, set with the command.
    hub.varsel("misp", "set-collection", PRODUCER_ORG, hub.collections["add"])
    loaded = []
    for event in events:
        misp_event = MISPEvent()
        misp_event.load(json.dumps(event))  # from text: PyMISP pops the keys of a dict it loads
        loaded.append((misp_event, count_attributes(event)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyMISP warns about ssl=False and version checks
        began = time.perf_counter()
        misp = PyMISP(f"{hub.base_url}/misp", hub.tokens["producer"], ssl=False, timeout=600)
        connect = time.perf_counter() - began
        seconds: list[float] = []
        for misp_event, _ in loaded:
            began = time.perf_counter()
            answer = misp.add_event(misp_event, pythonify=False)
            seconds.append(time.perf_counter() - began)
            if not isinstance(answer, dict) or "errors" in answer:
                raise RuntimeError(f"events/add refused: {str(answer)[:500]}")
            got = answer.get("Event", {}).get("uuid")
            if got != misp_event.uuid:
                raise RuntimeError(f"events/add answered uuid {got}, sent {misp_event.uuid}")
    first_attributes = loaded[0][1]
    rest_attributes = sum(n for _, n in loaded[1:])
    rest_seconds = sum(seconds[1:])
    return {
        "client": "PyMISP add_event (MISPEvent)",
        "events": len(loaded),
        "attributes": first_attributes + rest_attributes,
        "connect_s": round(connect, 3),
        "cold": {
            "events": 1,
            "attributes": first_attributes,
            "seconds": round(seconds[0], 3),
            "attributes_per_s": _rate(first_attributes, seconds[0]),
        },
        "warm": {
            "events": len(loaded) - 1,
            "attributes": rest_attributes,
            "seconds": round(rest_seconds, 3),
            "attributes_per_s": _rate(rest_attributes, rest_seconds),
            "p50_event_s": round(common.percentile(seconds[1:], 50), 3) if seconds[1:] else None,
        }
        if len(loaded) > 1
        else None,
        "stored": hub.stored("add"),
    }


# The run -------------------------------------------------------------------------------------


@dataclass
class Data:
    """Everything generated for one run, before any clock starts."""

    main: Corpus
    warm: Corpus
    big_cold: Corpus
    big_warm: Corpus
    add_events: list[dict[str, Any]]
    seconds: float


def generate(args: argparse.Namespace, directory: Path) -> Data:
    """Write the run's corpora: main and warm imports, two big events, the events/add set."""
    began = time.perf_counter()
    published = not args.unpublished
    size, big = args.event_size, args.big
    main = write_corpus(directory / "main", args.seed, args.attributes, size, published=published)
    warm = write_corpus(
        directory / "warm", args.seed + 1, args.attributes, size, published=published
    )
    big_cold = write_corpus(directory / "big-cold", args.seed + 2, big, big, published=published)
    big_warm = write_corpus(directory / "big-warm", args.seed + 3, big, big, published=published)
    # What a PyMISP script adds is not published yet (MISPEvent's default).
    add = args.add_events * args.add_size
    add_events = list(corpus(args.seed + 4, add, args.add_size, published=False))
    return Data(main, warm, big_cold, big_warm, add_events, time.perf_counter() - began)


def _corpus_facts(data: Corpus) -> dict[str, Any]:
    return {
        "events": data.events,
        "attributes": data.attributes,
        "to_ids_attributes": data.to_ids,
        "mib": data.mib,
    }


def _targets_met(entry: dict[str, Any]) -> dict[str, bool]:
    met: dict[str, bool] = {}
    for phase in ("import_cold", "import_warm"):
        if "attributes_per_s" in entry.get(phase, {}):
            met[f"{phase}_attributes_per_s"] = (
                entry[phase]["attributes_per_s"] >= TARGETS["import_attributes_per_s"]
            )
    big = entry.get("big_cold", {})
    if "wall_s" in big:
        met["big_event_s"] = big["wall_s"] <= TARGETS["big_event_s"]
    if "peak_rss_tree_mib" in big:
        rss = max(big.get("peak_rss_mib", 0), big["peak_rss_tree_mib"])
        met["big_event_peak_rss_mib"] = rss <= TARGETS["big_event_peak_rss_mib"]
    for reader in ("producer", "consumer"):
        seconds = _get(entry, f"feed_{reader}", "cold", "seconds")
        if seconds is not None:
            met[f"feed_{reader}_cold_s"] = seconds <= TARGETS["feed_s"]
    return met


def run_hub(
    backend: str,
    args: argparse.Namespace,
    data: Data,
    entry: dict[str, Any],
    checkpoint: Callable[[], None],
) -> None:
    """Set up one hub, run every workload on it as a user would, tear it down.

    Figures go into ``entry`` as they are taken; ``checkpoint`` saves the report after each.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"varsel-misp-bench-{backend}-"))
    hub = Hub(backend=backend, workdir=workdir, pg_admin_url=args.pg_admin_url)
    largest = max(len(json.dumps(e)) for e in data.add_events)
    try:
        hub.create_database()
        hub.init(largest)
        hub.serve()
        _say(f"varsel ({backend}) serving at {hub.base_url}")
    except Exception as exc:
        entry["error"] = f"setting up: {type(exc).__name__}: {exc}"
        _say(f"varsel ({backend}) FAILED: {entry['error']}")
        hub.close(args.keep)
        return
    main, warm = data.main, data.warm
    big_cold = next(data.big_cold.files.glob("*.json"))
    big_warm = next(data.big_warm.files.glob("*.json"))
    phases: dict[str, Callable[[], dict[str, Any]]] = {
        "import_cold": lambda: import_command(hub, main.feed, "import", main.attributes),
        "feed_consumer": lambda: feed(hub, "import", "consumer"),
        "feed_producer": lambda: feed(hub, "import", "producer"),
        "import_warm": lambda: import_command(hub, warm.feed, "warm", warm.attributes),
        "import_unchanged": lambda: import_command(hub, main.feed, "import", main.attributes),
        "big_cold": lambda: import_command(hub, big_cold, "big", data.big_cold.attributes),
        "big_warm": lambda: import_command(hub, big_warm, "big", data.big_warm.attributes),
        "events_add": lambda: events_add(hub, data.add_events),
    }
    try:
        for name, phase in phases.items():
            if name in args.skip:
                continue
            _say(f"varsel ({backend}): {name}")
            load = [round(v, 2) for v in os.getloadavg()]
            try:
                entry[name] = phase()
            except Exception as exc:  # record it, run the rest
                entry[name] = {"error": f"{type(exc).__name__}: {exc}"}
                _say(f"varsel ({backend}) {name} FAILED: {entry[name]['error'][:600]}")
            entry[name]["loadavg_at_start"] = load
            checkpoint()
        entry["server_peak_rss_mib"] = hub.server_peak_rss_mib()
        entry["targets_met"] = _targets_met(entry)
        if any("error" in v for v in entry.values() if isinstance(v, dict)):
            assert hub.server is not None
            entry["server_log_tail"] = hub.server.tail()
    finally:
        hub.close(args.keep)
        if args.keep:
            entry["workdir"] = str(workdir)


def run(args: argparse.Namespace, save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Generate the data, run misp-stix alone, then every hub; return every figure.

    ``save`` is called with the report so far after every measurement, so that a run cut
    short keeps what it measured.
    """
    report: dict[str, Any] = {
        "benchmark": "MISP interoperability (issue 16)",
        "date": common.utc_now(),
        "command": " ".join(["python", "benchmarks/misp_bench.py", *sys.argv[1:]]),
        "machine": common.machine_info(
            args.pg_admin_url if "postgresql" in args.backends else None
        ),
        "load_before": common.load_snapshot(),
        "parameters": {
            "attributes": args.attributes,
            "event_size": args.event_size,
            "big": args.big,
            "add_events": args.add_events,
            "add_size": args.add_size,
            "seed": args.seed,
            "published": not args.unpublished,
            "backends": args.backends,
            "skipped": args.skip,
            "quick": args.quick,
            "full_size": args.attributes >= 100_000 and args.big >= 100_000,
        },
        "targets": TARGETS,
        "hubs": {},
    }
    for name in ("misp-stix", "pymisp", "stix2", "stix2-patterns", "pymispwarninglists"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            report["machine"]["packages"][name] = importlib.metadata.version(name)
    with tempfile.TemporaryDirectory(prefix="varsel-misp-data-") as tmp:
        directory = Path(tmp)
        _say(f"generating {args.attributes:,} + {args.attributes:,} attributes, 2 × {args.big:,}")
        data = generate(args, directory)
        report["data"] = {
            "generated_s": round(data.seconds, 2),
            "main": _corpus_facts(data.main),
            "warm": _corpus_facts(data.warm),
            "big": _corpus_facts(data.big_cold),
            "events_add": {
                "events": len(data.add_events),
                "attributes": sum(count_attributes(e) for e in data.add_events),
            },
        }
        report["misp_stix_alone"] = {}
        for name, source in (("main", data.main.files), ("big", data.big_cold.files)):
            if "misp_stix" in args.skip:
                break
            _say(f"misp-stix alone: {name}")
            try:
                report["misp_stix_alone"][name] = measure_baseline(name, source, directory)
            except Exception as exc:  # record it, run the rest
                report["misp_stix_alone"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            save(report)
        if not args.no_hub:
            for backend in args.backends:
                report["hubs"][backend] = {}
                run_hub(backend, args, data, report["hubs"][backend], lambda: save(report))
    report["load_after"] = common.load_snapshot()
    return report


def failures(report: dict[str, Any]) -> list[str]:
    """Return where the run failed (empty when every measurement was taken)."""
    found = [
        f"misp-stix alone {name}"
        for name, entry in report["misp_stix_alone"].items()
        if "error" in entry
    ]
    for backend, entry in report["hubs"].items():
        if "error" in entry:
            found.append(backend)
        found.extend(
            f"{backend} {name}"
            for name, value in entry.items()
            if isinstance(value, dict) and "error" in value
        )
    return found


# Output --------------------------------------------------------------------------------------


def _get(entry: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(entry, dict) or key not in entry:
            return None
        entry = entry[key]
    return entry


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:,.2f} s"
    if unit == "MiB":
        return f"{value:,.0f} MiB"
    if isinstance(value, int | float):
        return f"{value:,.0f}"
    return str(value)


def _rss(entry: Any) -> float | None:
    values = [v for v in (_get(entry, "peak_rss_mib"), _get(entry, "peak_rss_tree_mib")) if v]
    return max(values) if values else None


def print_report(report: dict[str, Any]) -> None:
    """Print the figures as a table (rich): one column per database, misp-stix alone beside."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    hubs, alone, data = report["hubs"], report["misp_stix_alone"], report["data"]
    main, big = data["main"], data["big"]
    rows: list[tuple[str, tuple[str, ...], str, Any, str]] = [
        ("import cold, attributes/s", ("import_cold", "attributes_per_s"), "",
         _get(alone, "main", "attributes_per_s"), "≥ 10,000"),
        ("import cold, attributes per CPU s", ("import_cold", "attributes_per_cpu_s"), "",
         _get(alone, "main", "attributes_per_cpu_s"), ""),
        ("import cold, wall", ("import_cold", "wall_s"), "s", _get(alone, "main", "wall_s"), ""),
        ("import cold, peak RSS", ("import_cold",), "MiB", _rss(alone.get("main")), ""),
        ("import warm, attributes/s", ("import_warm", "attributes_per_s"), "", None, "≥ 10,000"),
        ("import warm, peak RSS", ("import_warm",), "MiB", None, ""),
        ("re-import, nothing changed", ("import_unchanged", "wall_s"), "s", None, ""),
        (f"one event of {big['attributes']:,}, cold", ("big_cold", "wall_s"), "s",
         _get(alone, "big", "wall_s"), "≤ 10 s"),
        ("  peak RSS", ("big_cold",), "MiB", _rss(alone.get("big")), "≤ 954 MiB (1 GB)"),
        (f"one event of {big['attributes']:,}, warm", ("big_warm", "wall_s"), "s", None, "≤ 10 s"),
        ("  peak RSS", ("big_warm",), "MiB", None, "≤ 954 MiB (1 GB)"),
        ("feed (consumer), cold", ("feed_consumer", "cold", "seconds"), "s", None, "≤ 5 s"),
        ("feed (consumer), warm", ("feed_consumer", "warm", "seconds"), "s", None, "≤ 5 s"),
        ("feed (consumer), ETags sent", ("feed_consumer", "revalidated", "seconds"), "s", None,
         ""),
        ("  attributes served", ("feed_consumer", "cold", "attributes"), "", None, ""),
        ("feed (producer), cold", ("feed_producer", "cold", "seconds"), "s", None, "≤ 5 s"),
        ("feed (producer), warm", ("feed_producer", "warm", "seconds"), "s", None, "≤ 5 s"),
        ("  attributes served", ("feed_producer", "cold", "attributes"), "", None, ""),
        ("events/add (PyMISP), first, attributes/s", ("events_add", "cold", "attributes_per_s"),
         "", None, ""),
        ("events/add (PyMISP), rest, attributes/s", ("events_add", "warm", "attributes_per_s"),
         "", None, ""),
        ("hub server peak RSS", ("server_peak_rss_mib",), "MiB", None, ""),
    ]  # fmt: skip
    table = Table(
        title=f"MISP: {main['attributes']:,} attributes in {main['events']:,} events "
        f"({main['to_ids_attributes']:,} to_ids)"
    )
    table.add_column("measure")
    for backend in hubs:
        table.add_column(f"varsel {backend}", justify="right")
    table.add_column("misp-stix alone", justify="right")
    table.add_column("target", justify="right")
    for label, path, unit, beside, target in rows:
        cells = []
        for entry in hubs.values():
            value = _get(entry, *path)
            cells.append(_fmt(_rss(value) if unit == "MiB" and isinstance(value, dict) else value,
                              unit))  # fmt: skip
        table.add_row(label, *cells, _fmt(beside, unit), target)
    console.print(table)
    for where in failures(report):
        console.print(f"[red]failed:[/] {where}")
    console.print(f"load before: {report['load_before']['uptime']}")
    console.print(f"load after:  {report['load_after']['uptime']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="misp_bench.py",
        description="Benchmark Varsel's MISP interoperability (issue 16) as users run it: "
        "varsel misp import, the MISP feed over HTTP, PyMISP events/add, on SQLite and "
        "PostgreSQL, beside misp-stix alone.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="the database(s) to run the hub on",
    )
    parser.add_argument(
        "--attributes",
        type=int,
        default=100_000,
        help="attributes imported (cold; as many again warm) and served as a feed",
    )
    parser.add_argument("--event-size", type=int, default=1000, help="attributes per event")
    parser.add_argument("--big", type=int, default=100_000, help="attributes of the huge event")
    parser.add_argument(
        "--add-events", type=int, default=20, help="events shared through PyMISP events/add"
    )
    parser.add_argument("--add-size", type=int, default=500, help="attributes per added event")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="toy sizes for a smoke test: 300 attributes in events of 50, a big event of "
        "400, 3 events/add of 20; no warm imports",
    )
    parser.add_argument(
        "--unpublished",
        action="store_true",
        help="import unpublished events (misp-stix makes groupings of them, not reports)",
    )
    parser.add_argument(
        "--no-hub", action="store_true", help="only generate the data and run misp-stix alone"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=(*PHASES, "misp_stix"),
        help="leave out a measurement (repeatable; misp_stix: misp-stix alone)",
    )
    parser.add_argument("--seed", type=int, default=16, help="seed of the generated events")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="JSON results file")
    parser.add_argument(
        "--pg-admin-url",
        default=DEFAULT_PG_ADMIN,
        help="admin connection used to create and drop the benchmark database",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases and server logs (paths in the JSON)"
    )
    parser.add_argument("--no-table", action="store_true", help="print no table")
    parser.add_argument(
        "--baseline-child", nargs=2, metavar=("SOURCE", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.attributes = min(args.attributes, 300)
        args.event_size = min(args.event_size, 50)
        args.big = min(args.big, 400)
        args.add_events = min(args.add_events, 3)
        args.add_size = min(args.add_size, 20)
        # Each import is a whole process (a few CPU seconds of start-up); the warm runs
        # repeat the same code, so the smoke test leaves them out.
        args.skip = sorted({*args.skip, "import_warm", "import_unchanged", "big_warm"})
    args.backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for name in ("attributes", "event_size", "big", "add_events", "add_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON; non-zero if anything failed."""
    args = parse_args(argv)
    if args.baseline_child:
        baseline_child(Path(args.baseline_child[0]), Path(args.baseline_child[1]))
        return 0
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)

    def save(report: dict[str, Any]) -> None:
        output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    report = run(args, save)
    save(report)
    if not args.no_table:
        print_report(report)
    _say(f"results written to {output}")
    return 1 if failures(report) else 0


if __name__ == "__main__":
    sys.exit(main())
