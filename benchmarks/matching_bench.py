"""Matching benchmark (issue 6): Zeek DNS log vs mixed indicators, beside ``grep -F -f``.

Generates its own data under a temporary directory: a Zeek-style dns.log of ``--lines`` lines
(queries drawn from a heavy-tailed pool of names, each name answering with fixed addresses) and
``--indicators`` mixed indicators (exact domains, subdomain rules, IPv4 addresses, CIDR blocks,
MD5/SHA-256 digests), a few hundred of which occur in the log. It then times, in one run:

* ``LC_ALL=C grep -F -c -f values.txt dns.log`` (fixed strings only: no CIDR, no subdomains);
* the varsel scan of the same file, on one core and with pyarrow's threads;
* compiling ``--compile-indicators`` indicators in a fresh process (time and peak RSS),
  without and with the warning-list check.

Usage: .venv/bin/python benchmarks/matching_bench.py [--lines 2000000] [--indicators 100000]

``--whole`` instead times ``varsel scan`` as a user runs it, one process per scan, against a hub
holding the indicators (SQLite and PostgreSQL): the first scan after the hub changed (no cache
file), a repeat with nothing changed, and a scan after ``--new`` more indicators were shared,
each beside ``grep -F -f`` over the same log; results in ``benchmarks/results/scan-command.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n"
    "#open\t2026-03-01-00-00-00\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p"
    "\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name"
    "\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected\n#types\ttime\tstring\taddr\tport\taddr\tport"
    "\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool"
    "\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool\n"
)
TLDS = ["com", "net", "org", "no", "se", "dk", "fi", "io", "eu"]


def _name(rng: random.Random) -> str:
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=rng.randint(5, 14)))


def _ip(rng: random.Random) -> str:
    return (
        f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    )


def generate_log(path: Path, lines: int, rng: random.Random) -> list[tuple[str, str]]:
    """Write the dns.log; return the (name, answer) pool it drew from."""
    pool = [(f"{_name(rng)}.{rng.choice(TLDS)}", _ip(rng)) for _ in range(200_000)]
    subs = ["", "www.", "mail.", "cdn.", "api."]
    with open(path, "w", encoding="ascii") as out:
        out.write(HEADER)
        buf = []
        for i in range(lines):
            rank = (
                min(int(rng.paretovariate(1.1)) - 1, len(pool) - 1)
                if rng.random() < 0.8
                else rng.randrange(len(pool))
            )
            name, answer = pool[rank]
            query = rng.choice(subs) + name
            buf.append(
                f"{1772323200 + i / 100:.6f}\tC{rng.getrandbits(64):x}\t10.{rng.randint(0, 3)}."
                f"{rng.randint(0, 40)}.{rng.randint(1, 254)}\t{rng.randint(1024, 65535)}\t"
                f"10.0.0.53\t53\tudp\t{rng.randint(0, 65535)}\t0.0{rng.randint(1000, 9999)}\t"
                f"{query}\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t{answer}\t"
                f"300.000000\tF\n"
            )
            if len(buf) == 50_000:
                out.write("".join(buf))
                buf = []
        out.write("".join(buf))
        out.write("#close\t2026-03-02-00-00-00\n")
    return pool


def make_indicators(
    count: int, pool: list[tuple[str, str]], rng: random.Random
) -> tuple[list[tuple[str, str]], list[str]]:
    """Return (id, pattern) pairs and the fixed strings grep gets for them."""
    patterns: list[tuple[str, str]] = []
    values: list[str] = []
    planted = rng.sample(pool[1000:], 300)  # present in the log, but not the hottest names
    for i in range(count):
        roll = i % 20
        if i < 300:
            name, answer = planted[i]
            kind, value = ("domain", name) if i % 2 else ("ip", answer)
        elif roll < 8:
            kind, value = "domain", f"{_name(rng)}.{rng.choice(TLDS)}"
        elif roll < 9:
            kind, value = "sub", f"{_name(rng)}.{rng.choice(TLDS)}"
        elif roll < 14:
            kind, value = "ip", _ip(rng)
        elif roll < 15:
            kind, value = (
                "cidr",
                f"{rng.randint(1, 223)}.{rng.randint(0, 255)}."
                f"{rng.randint(0, 255)}.0/{rng.choice([20, 24, 28])}",
            )
        else:
            kind, value = (
                "hash",
                f"{rng.getrandbits(128):032x}" if roll < 18 else f"{rng.getrandbits(256):064x}",
            )
        pattern = {
            "domain": f"[domain-name:value = '{value}']",
            "sub": f"[domain-name:value LIKE '%.{value}']",
            "ip": f"[ipv4-addr:value = '{value}']",
            "cidr": f"[ipv4-addr:value = '{value}']",
            "hash": f"[file:hashes.{'MD5' if len(value) == 32 else chr(39) + 'SHA-256' + chr(39)}"
            f" = '{value}']",
        }[kind]
        patterns.append((f"indicator--{i:012d}", pattern))
        values.append(value.split("/")[0].rsplit(".", 1)[0] if kind == "cidr" else value)
    return patterns, values


def indicator_json(ident: str, pattern: str) -> str:
    """Return the stored JSON of one benchmark indicator."""
    return json.dumps(
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": ident,
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "name": "benchmark indicator",
        }
    )


def rows_for(patterns: list[tuple[str, str]]) -> list[object]:
    """Return stored-indicator rows for the compiler."""
    from varsel.matching._compile import IndicatorRow

    return [IndicatorRow(i, indicator_json(i, p)) for i, p in patterns]


def write_store(path: Path, count: int) -> None:
    """Store ``count`` indicators as (stix_id, raw, revoked) rows in an SQLite file."""
    rng = random.Random(7)
    pool = [(f"{_name(rng)}.{rng.choice(TLDS)}", _ip(rng)) for _ in range(2000)]
    patterns, _ = make_indicators(count, pool, rng)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE indicator (stix_id TEXT, raw TEXT, revoked INTEGER)")
        db.executemany(
            "INSERT INTO indicator VALUES (?, ?, 0)",
            ((i, indicator_json(i, p)) for i, p in patterns),
        )


def time_grep(values: Path, log: Path) -> tuple[float, float, int]:
    """Return (wall seconds, CPU seconds, matching lines) of grep -F -f."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        ["grep", "-F", "-c", "-f", str(values), str(log)],
        env={**os.environ, "LC_ALL": "C"},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, int(done.stdout.strip() or 0)


def time_scan(log: Path, compiled: object, threads: bool) -> dict[str, float]:
    """Return wall and CPU seconds, lines and matches of a scan."""
    from varsel.matching._readers import ReadStats
    from varsel.matching._scan import scan

    stats = ReadStats()
    cpu0 = time.process_time()
    start = time.perf_counter()
    matches = sum(1 for _ in scan(log, compiled, "zeek", threads=threads, stats=stats))  # type: ignore[arg-type]
    wall = time.perf_counter() - start
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(time.process_time() - cpu0, 3),
        "lines": stats.lines,
        "matches": matches,
        "lines_per_s": round(stats.lines / wall),
    }


def _peak_rss_kb() -> int:
    """Return this process's peak resident set in KiB.

    ``ru_maxrss`` is no use in a child: Linux carries the parent's figure at fork time over
    ``exec``. ``VmHWM`` belongs to the process image itself.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def compile_child(store: Path, warn: bool) -> None:
    """Run in a fresh process: compile the stored indicators, print time, CPU and peak RSS.

    Rows stream from the store in batches of 5,000 (as ``compile_for`` streams them from the
    hub's database with ``yield_per``), so the process never holds them all; the resident-set
    figures are the compile step's own (the baseline is taken just before it starts).
    """
    from varsel.matching._compile import IndicatorRow, compile_rows

    fetch = [0.0]

    def rows() -> Iterator[IndicatorRow]:
        with sqlite3.connect(store) as db:
            cursor = db.execute("SELECT stix_id, raw, revoked FROM indicator")
            while True:
                start = time.process_time()
                batch = cursor.fetchmany(5000)
                fetch[0] += time.process_time() - start
                if not batch:
                    return
                yield from (IndicatorRow(i, raw, bool(revoked)) for i, raw, revoked in batch)

    if warn:  # the lists load once per process (~2.5 s); a hub has them loaded already
        from varsel.observables.normalize import Kind
        from varsel.sharing.ingest.warninglists import check_values

        check_values(Kind.IP, ["192.0.2.1"])
    base = _peak_rss_kb()
    cpu = time.process_time()
    start = time.perf_counter()
    compiled = compile_rows(rows(), warn=warn)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak = _peak_rss_kb()
    print(
        json.dumps(
            {
                "indicators": compiled.report.readable,
                "compiled": compiled.report.compiled,
                "seconds": round(elapsed, 2),
                "cpu_s": round(cpu, 2),
                "cpu_s_fetching_rows": round(fetch[0], 2),
                "peak_rss_mb": round(peak / 1024),
                "rss_before_compile_mb": round(base / 1024),
                "compile_rss_growth_mb": round((peak - base) / 1024),
                "warninglists": warn,
                "flagged": len(compiled.report.flagged),
            }
        )
    )


PG_ADMIN_URL = os.environ.get("VARSEL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WHOLE_OUTPUT = ROOT / "benchmarks" / "results" / "scan-command.json"
TARGETS = {"first": 5.0, "repeat": 10.0, "after_new": 8.0}


class BenchHub:
    """A hub for the whole-command benchmark: its database, data directory and environment."""

    def __init__(self, backend: str, workdir: Path) -> None:
        """Create the database and the hub's schema, organisations, users and collection."""
        self.backend, self.workdir = backend, workdir
        self.pg_name: str | None = None
        if backend == "sqlite":
            self.url = f"sqlite:///{workdir / 'hub.sqlite3'}"
        else:
            import psycopg

            self.pg_name = f"varsel_scanbench_{os.getpid()}_{int(time.time())}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
            self.url = f"{base}/{self.pg_name}"
        self.env = {
            **os.environ,
            "VARSEL_DATABASE_URL": self.url,
            "VARSEL_SECRET_KEY": "scan-benchmark-secret",
            "VARSEL_DATA_DIR": str(workdir / "data"),
            "VARSEL_WARNINGLIST_HELPER": "0",
        }
        from varsel import migrate
        from varsel.db import make_engine, make_sessionmaker
        from varsel.orgs import service as orgs
        from varsel.sharing import service as sharing

        self.engine = make_engine(self.url)
        migrate.upgrade(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        with self.sessions() as session:
            for name, country in (("Bench CERT", "NO"), ("Bench Energy", "SE")):
                orgs.add_org(session=session, name=name, country=country, kind="csirt", actor="b")
            for username, org in (("producer", "Bench CERT"), ("analyst", "Bench Energy")):
                orgs.add_user(
                    session=session,
                    username=username,
                    org=org,
                    role="analyst",
                    password=None,
                    actor="b",
                )
            orgs.add_community(
                session=session, name="Bench", members=["Bench CERT", "Bench Energy"], actor="b"
            )
            self.collection = sharing.add_collection(
                session=session,
                title="Indicators",
                community="Bench",
                default_tlp="green",
                actor="b",
            ).id
            session.commit()

    def share(self, patterns: list[tuple[str, str]], batch: int = 5000) -> float:
        """Share indicators as the producer, in envelopes of ``batch``; return the seconds."""
        from varsel.orgs import service as orgs
        from varsel.policy.principal import principal_of
        from varsel.sharing import ingest
        from varsel.sharing import service as sharing

        start = time.perf_counter()
        for at in range(0, len(patterns), batch):
            # STIX wants UUIDs: indicator--000000000042 is shared as indicator--0000…002a.
            objects = ",".join(
                indicator_json(f"indicator--{uuid.UUID(int=int(i.split('--')[1]))}", p)
                for i, p in patterns[at : at + batch]
            )
            with self.sessions() as session:
                result = ingest.ingest(
                    session=session,
                    collection=sharing.get_collection(
                        session=session, collection_id=self.collection
                    ),
                    principal=principal_of(orgs.get_user(session=session, username="producer")),
                    body='{"objects": [' + objects + "]}",
                )
                session.commit()
            if result.failures:
                raise RuntimeError(f"share refused: {result.failures[:3]}")
        return time.perf_counter() - start

    def close(self) -> None:
        """Dispose of the engine and drop a PostgreSQL database."""
        self.engine.dispose()
        if self.pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


def time_process(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``command`` as one process; return its wall and CPU seconds and its stderr tail."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1) or (done.returncode == 1 and command[0] != "grep"):
        raise RuntimeError(f"{command[:3]} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "stderr": done.stderr[-600:]}


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return {**ordered[len(ordered) // 2], "walls_s": [r["wall_s"] for r in runs]}


def time_grep_runs(log: Path, values: Path, repeats: int) -> dict[str, Any]:
    """Time ``grep -F -f`` writing its matching lines to a file: cold, then warm."""
    out = log.with_name("grep.out")

    def once() -> dict[str, Any]:
        with open(out, "w") as sink:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(
                ["grep", "-F", "-f", str(values), str(log)],
                env={**os.environ, "LC_ALL": "C"},
                stdout=sink,
                check=False,
            )
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}

    cold = once()
    warm = [once() for _ in range(repeats)]
    return {
        "cold": cold,
        "warm": _median(warm) if warm else None,
        "matching_lines": sum(1 for _ in out.open()),
    }


def whole_backend(
    backend: str,
    log: Path,
    patterns: list[tuple[str, str]],
    grep: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Time the three kinds of scan as whole processes against one backend, beside grep."""
    rng = random.Random(99)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        hub = BenchHub(backend, workdir)
        try:
            result: dict[str, Any] = {"share_s": round(hub.share(patterns), 1)}
            out = workdir / "matches.jsonl"
            scan = [
                sys.executable, "-m", "varsel", "scan", str(log), "--as", "analyst",
                "--format", "zeek", "--output", str(out),
            ]  # fmt: skip
            cache_dir = workdir / "data" / "scan-cache"

            def first() -> dict[str, Any]:
                shutil.rmtree(cache_dir, ignore_errors=True)
                return time_process(scan, hub.env)

            def after_new() -> dict[str, Any]:
                # Indicators not in the log: new ids and new values, as a feed adds them.
                start = len(patterns) + rng.randrange(10**9)
                fresh = [
                    (f"indicator--{start + i:012d}", f"[domain-name:value = 'n{start + i}.test']")
                    for i in range(args.new)
                ]
                hub.share(fresh)
                return time_process(scan, hub.env)

            def repeat() -> dict[str, Any]:
                return time_process(scan, hub.env)

            kinds = {"first": first, "repeat": repeat, "after_new": after_new}
            for kind, run in kinds.items():
                cold = run()  # the first of its kind: bytecode and page cache as they come
                if kind == "first":
                    result["matches"] = sum(1 for _ in out.open())
                warm = [run() for _ in range(args.repeats)]
                result[kind] = {"cold": cold, "warm": _median(warm) if warm else None}
            for kind in TARGETS:
                for phase in ("cold", "warm"):
                    timed = result[kind][phase]
                    base = grep[phase] or grep["cold"]
                    if timed:
                        timed["speedup_vs_grep"] = round(base["wall_s"] / timed["wall_s"], 2)
                        timed["cpu_speedup_vs_grep"] = round(base["cpu_s"] / timed["cpu_s"], 2)
            result["targets_met"] = {
                kind: (result[kind]["warm"] or result[kind]["cold"])["speedup_vs_grep"] >= goal
                for kind, goal in TARGETS.items()
            }
        finally:
            hub.close()
    return result


def whole(args: argparse.Namespace) -> dict[str, Any]:
    """Run the whole-command benchmark on every backend asked for; return the report."""
    rng = random.Random(2026)
    report: dict[str, Any] = {
        "command": f"python benchmarks/matching_bench.py --whole --lines {args.lines} "
        f"--indicators {args.indicators} --new {args.new} --repeats {args.repeats} "
        f"--backends {','.join(args.backends)}",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
        },
        "targets_speedup_vs_grep": TARGETS,
        "backends": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        log, values = Path(tmp) / "dns.log", Path(tmp) / "values.txt"
        pool = generate_log(log, args.lines, rng)
        patterns, fixed = make_indicators(args.indicators, pool, rng)
        values.write_text("\n".join(fixed) + "\n", encoding="ascii")
        report["data"] = {"lines": args.lines, "log_bytes": log.stat().st_size,
                          "indicators": args.indicators, "new_indicators": args.new}  # fmt: skip
        report["grep"] = time_grep_runs(log, values, args.repeats)
        for backend in args.backends:
            report["backends"][backend] = whole_backend(
                backend, log, patterns, report["grep"], args
            )
    report["load_average_at_end"] = os.getloadavg()
    return report


def print_whole(report: dict[str, Any]) -> None:
    """Print the whole-command figures as a table."""
    print(f"{'backend / run':28} {'cold s':>8} {'warm s':>8} {'x grep wall/CPU':>16}")
    runs = [("grep -F -f", report["grep"])] + [
        (f"{backend} {kind}", result[kind])
        for backend, result in report["backends"].items()
        for kind in TARGETS
    ]
    for name, timed in runs:
        cold, warm = timed["cold"], timed["warm"]
        best = warm or cold
        ratio = (
            f"{best['speedup_vs_grep']} / {best['cpu_speedup_vs_grep']}"
            if "speedup_vs_grep" in best
            else ""
        )
        print(f"{name:28} {cold['wall_s']:>8} {warm['wall_s'] if warm else '':>8} {ratio:>16}")


def main() -> None:
    """Run the benchmark, print a table and write benchmarks/results/matching.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--indicators", type=int, default=100_000)
    parser.add_argument("--compile-indicators", type=int, default=1_000_000)
    parser.add_argument("--compile-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warn", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--whole", action="store_true", help="Time varsel scan as processes.")
    parser.add_argument("--new", type=int, default=1000, help="--whole: indicators added.")
    parser.add_argument("--repeats", type=int, default=3, help="--whole: warm runs per kind.")
    parser.add_argument(
        "--backends",
        type=lambda v: v.split(","),
        default=["sqlite", "postgresql"],
        help="--whole: sqlite,postgresql",
    )
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if args.compile_child:
        compile_child(args.compile_child, args.warn)
        return
    if args.whole:
        report = whole(args)
        output = args.output or WHOLE_OUTPUT
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print_whole(report)
        print(f"written to {output}")
        return
    args.output = args.output or ROOT / "benchmarks" / "results" / "matching.json"
    from varsel.matching._compile import compile_rows

    rng = random.Random(2026)
    results: dict[str, object] = {
        "command": "  ".join(
            [
                "python benchmarks/matching_bench.py",
                f"--lines {args.lines}",
                f"--indicators {args.indicators}",
                f"--compile-indicators {args.compile_indicators}",
            ]
        ),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        log, values_file = Path(tmp) / "dns.log", Path(tmp) / "values.txt"
        start = time.perf_counter()
        pool = generate_log(log, args.lines, rng)
        patterns, values = make_indicators(args.indicators, pool, rng)
        values_file.write_text("\n".join(values) + "\n", encoding="ascii")
        results["data"] = {
            "lines": args.lines,
            "log_bytes": log.stat().st_size,
            "indicators": args.indicators,
            "generate_s": round(time.perf_counter() - start, 1),
        }
        start = time.perf_counter()
        compiled = compile_rows(rows_for(patterns), warn=False)  # type: ignore[arg-type]
        results["compile_benchmark_set_s"] = round(time.perf_counter() - start, 2)
        grep_wall, grep_cpu, grep_lines = time_grep(values_file, log)
        results["grep"] = {
            "wall_s": round(grep_wall, 3),
            "cpu_s": round(grep_cpu, 3),
            "matching_lines": grep_lines,
        }
        results["varsel_one_core"] = time_scan(log, compiled, threads=False)
        results["varsel_threads"] = time_scan(log, compiled, threads=True)
    one = results["varsel_one_core"]
    results["speedup_vs_grep_wall"] = round(grep_wall / one["wall_s"], 1)  # type: ignore[index]
    results["speedup_vs_grep_cpu"] = round(grep_cpu / one["cpu_s"], 1)  # type: ignore[index]
    compiles = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "indicators.sqlite"
        write_store(store, args.compile_indicators)
        for warn in (False, True):
            child = subprocess.run(
                [sys.executable, __file__, "--compile-child", str(store)]
                + (["--warn"] if warn else []),
                capture_output=True,
                text=True,
                check=True,
            )
            compiles.append(json.loads(child.stdout.strip().splitlines()[-1]))
    results["compile"] = compiles
    results["load_average_at_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"{'measure':44} {'value':>16}")
    rows = [
        ("log lines / bytes", f"{args.lines} / {results['data']['log_bytes']}"),  # type: ignore[index]
        ("grep -F -f wall / CPU s", f"{grep_wall:.2f} / {grep_cpu:.2f}"),
        ("varsel one core wall / CPU s", f"{one['wall_s']} / {one['cpu_s']}"),  # type: ignore[index]
        ("varsel one core lines/s", f"{one['lines_per_s']:,}"),  # type: ignore[index]
        (
            "varsel threads wall s / lines/s",
            f"{results['varsel_threads']['wall_s']} / "  # type: ignore[index]
            f"{results['varsel_threads']['lines_per_s']:,}",
        ),  # type: ignore[index]
        (
            "speed-up vs grep (wall / CPU)",
            f"{results['speedup_vs_grep_wall']}x / {results['speedup_vs_grep_cpu']}x",
        ),
        ("matches varsel / grep matching lines", f"{one['matches']} / {grep_lines}"),  # type: ignore[index]
    ] + [
        (
            f"compile {c['indicators']:,} (warning lists {'on' if c['warninglists'] else 'off'})",
            f"{c['seconds']} s, +{c['compile_rss_growth_mb']} MB",
        )
        for c in compiles
    ]
    for name, value in rows:
        print(f"{name:44} {value:>16}")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
