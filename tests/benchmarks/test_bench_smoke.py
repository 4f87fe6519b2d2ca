"""The TAXII benchmark runs end to end in a tiny mode and writes complete, positive figures.

No timing thresholds here: timed assertions flake on shared machines. The figures themselves
are taken with ``python benchmarks/taxii_bench.py`` (see docs/benchmarks.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks import _common

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "taxii_bench.py"


def _positive(section: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(section[key], int | float) and section[key] > 0, (key, section)


def test_tiny_run_writes_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "taxii.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--backends",
            "sqlite",
            "--objects",
            "1000",
            "--id-samples",
            "20",
            "--medallion-objects",
            "200",
            "--scale",
            "--scale-small",
            "500",
            "--scale-large",
            "1500",
            "--scale-pages",
            "1",
            "--scale-passes",
            "1",
            "--scale-envelope",
            "500",
            "--no-table",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text(encoding="utf-8"))

    assert report["machine"]["cpu_model"] and report["machine"]["sqlite"]
    assert report["load_before"]["at"] and report["load_after"]["at"]
    assert report["parameters"]["objects"] == 1000
    hub = report["servers"]["varsel-sqlite"]
    assert "error" not in hub, hub
    assert hub["ingest"]["objects"] == hub["read"]["objects"] == 1000
    _positive(hub["ingest"], "objects_per_s", "seconds")
    _positive(hub["read"], "objects_per_s", "seconds")
    _positive(hub["by_id"], "p50_ms", "p95_ms", "samples")
    assert set(hub["targets_met"]) == {
        "ingest_objects_per_s",
        "read_objects_per_s",
        "by_id_p50_ms",
        "scale_read_ratio",
    }
    scale = hub["scale"]
    assert scale["large_objects"] == 1500 and scale["load_growth"]["objects"] == 1000
    _positive(
        scale, "read_rate_small", "read_rate_large_from_start", "read_rate_large_deep", "ratio"
    )
    for server in ("varsel-sqlite", "medallion"):
        comparison = report["servers"][server]["comparison"]
        assert comparison["read"]["objects"] == 200
        _positive(comparison["ingest"], "objects_per_s")
        _positive(comparison["read"], "objects_per_s")
        _positive(comparison["by_id"], "p50_ms")


def test_help_names_the_options() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for option in ("--backends", "--objects", "--quick", "--scale", "--profile"):
        assert option in done.stdout


def test_profile_summary_counts_self_and_inclusive_time(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks.txt"
    stacks.write_text(
        "run (uvicorn/main.py:1);"
        "page (varsel/sharing/query.py:9);"
        "execute (sqlalchemy/engine/base.py:5) 30\n"
        "run (uvicorn/main.py:1);"
        "loads (json/__init__.py:3) 10\n"
        "run (uvicorn/main.py:1);Condition.wait (threading.py:327) 50\n",
        encoding="utf-8",
    )
    summary = _common.summarise_stacks(stacks)
    assert summary["samples"] == 40 and summary["idle_samples"] == 50
    by_package = {item["name"]: item["percent"] for item in summary["self_by_package"]}
    assert by_package == {"sqlalchemy": 75.0, "json": 25.0}
    inclusive = {item["name"]: item["percent"] for item in summary["inclusive_varsel_functions"]}
    assert inclusive == {"page (varsel/sharing/query.py)": 75.0}


def test_percentile_interpolates() -> None:
    assert _common.percentile([1, 2, 3, 4], 50) == 2.5
    assert _common.percentile([5], 95) == 5


def test_scan_command_benchmark_runs_whole_processes(tmp_path: Path) -> None:
    """``matching_bench.py --whole`` at toy size: each kind of scan runs and is reported."""
    output = tmp_path / "scan-command.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "matching_bench.py"),
            "--whole",
            "--lines",
            "300",
            "--indicators",
            "60",
            "--new",
            "5",
            "--repeats",
            "0",
            "--backends",
            "sqlite",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text(encoding="utf-8"))
    assert report["grep"]["cold"]["wall_s"] > 0
    hub = report["backends"]["sqlite"]
    how = {kind: hub[kind]["cold"]["stderr"] for kind in ("first", "repeat", "after_new")}
    assert "compiled indicators compiled (60 rows" in how["first"]
    assert "compiled indicators reused" in how["repeat"]
    assert "compiled indicators updated (5 rows compiled" in how["after_new"]
    assert set(hub["targets_met"]) == {"first", "repeat", "after_new"}
