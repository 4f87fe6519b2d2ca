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
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

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


def main() -> None:
    """Run the benchmark, print a table and write benchmarks/results/matching.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--indicators", type=int, default=100_000)
    parser.add_argument("--compile-indicators", type=int, default=1_000_000)
    parser.add_argument("--compile-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warn", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "matching.json"
    )
    args = parser.parse_args()
    if args.compile_child:
        compile_child(args.compile_child, args.warn)
        return
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
