"""CLI start-up benchmark (issue 13): ``varsel --help`` and every sub-command's ``--help``.

Each command line is a whole process, ``python -m varsel PATH --help``, started ``--runs`` times;
the figure per command is the minimum (the least disturbed run), in wall time and in CPU time
(user + system, from ``wait4``; on a busy machine wall time grows with the queue for a core, CPU
time much less). The commands are enumerated from the Typer application itself, recursively, so
a new command is measured without being named here.

``--tree`` measures another checkout with this checkout's virtual environment (e.g. the main
branch before a change: ``--tree /work/main``); ``--real`` also times two commands that open an
SQLite hub (``varsel org list``, ``varsel collection list``) made in a temporary directory.

Usage: .venv/bin/python benchmarks/cli_startup.py [--runs 5] [--tree PATH] [--real]
       [--output benchmarks/results/cli-startup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 0.3

# Runs in a child process of the measured tree: the command tree as Typer builds it for click.
_ENUMERATE = """
import json
import typer.main
from varsel.cli.commands import app

def walk(command, path):
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, [*path, name])

print(json.dumps(list(walk(typer.main.get_command(app), []))))
"""


@dataclass(frozen=True)
class Run:
    """One process: its exit status, wall and CPU seconds, and the end of its stderr."""

    returncode: int
    wall_s: float
    cpu_s: float
    stderr: str


def environment(tree: Path, **extra: str) -> dict[str, str]:
    """Return the environment that makes ``python -m varsel`` import the code of ``tree``.

    Bytecode caching is on, as for an installed program (pip compiles what it installs): a
    sandbox's PYTHONDONTWRITEBYTECODE would have every process compile Varsel's modules from
    source again, which no user's ``varsel`` does. The first run writes ``__pycache__``.
    """
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        **inherited,
        "PYTHONPATH": str(tree),
        "VARSEL_SECRET_KEY": os.environ.get("VARSEL_SECRET_KEY", "cli-startup-benchmark"),
        "COLUMNS": "100",
        **extra,
    }


def command_paths(tree: Path = ROOT, python: str = sys.executable) -> list[list[str]]:
    """Return every command path of the tree's ``varsel`` application, ``[]`` for the root."""
    done = subprocess.run(
        [python, "-c", _ENUMERATE],
        cwd=tree,
        env=environment(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    paths: list[list[str]] = json.loads(done.stdout)
    return paths


def run_once(args: list[str], tree: Path = ROOT, python: str = sys.executable, **env: str) -> Run:
    """Run ``python -m varsel ARGS`` once; return its status, wall and CPU time."""
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        child = subprocess.Popen(
            [python, "-m", "varsel", *args],
            cwd=tree,
            env=environment(tree, **env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        tail = stderr.read()[-2000:].decode("utf-8", "replace")
    return Run(child.returncode, wall, usage.ru_utime + usage.ru_stime, tail)


@dataclass(frozen=True)
class Figure:
    """A command run ``len(runs)`` times: whether every run exited 0, and the minimum times."""

    args: list[str]
    ok: bool
    min_wall_s: float
    min_cpu_s: float
    runs: list[Run]


def best_of(args: list[str], runs: int, tree: Path = ROOT, **env: str) -> Figure:
    """Run a command ``runs`` times; return the minimum wall and CPU time and every run."""
    results = [run_once(args, tree, **env) for _ in range(runs)]
    return Figure(
        args=args,
        ok=all(r.returncode == 0 for r in results),
        min_wall_s=round(min(r.wall_s for r in results), 4),
        min_cpu_s=round(min(r.cpu_s for r in results), 4),
        runs=results,
    )


def _real_commands(tree: Path, runs: int) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/hub.sqlite3"
        env = {"VARSEL_DATABASE_URL": url, "VARSEL_DATA_DIR": tmp}
        setup = [
            ["init"],
            ["org", "add", "CERT-NO", "--country", "NO", "--kind", "csirt"],
            ["org", "add", "Kraftlag", "--country", "NO", "--kind", "company"],
            ["community", "add", "energy", "--member", "CERT-NO", "--member", "Kraftlag"],
            ["collection", "add", "Alerts", "--community", "energy", "--default-tlp", "green"],
        ]
        for args in setup:
            done = run_once(args, tree, **env)
            if done.returncode != 0:
                raise SystemExit(f"varsel {' '.join(args)} failed: {done.stderr}")
        return [
            best_of(args, runs, tree, **env) for args in (["org", "list"], ["collection", "list"])
        ]


def _show(row: Figure) -> Figure:
    mark = "" if row.ok else "  FAILED"
    print(
        f"{row.min_wall_s:7.3f} s wall {row.min_cpu_s:7.3f} s CPU  "
        f"varsel {' '.join(row.args)}{mark}",
        flush=True,
    )
    return row


def main() -> None:
    """Measure, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="Processes per command (min counts).")
    parser.add_argument("--tree", type=Path, default=ROOT, help="The checkout to measure.")
    parser.add_argument("--real", action="store_true", help="Also time commands on a hub.")
    parser.add_argument("--output", type=Path, help="Write the results as JSON here.")
    options = parser.parse_args()
    tree = options.tree.resolve()
    load_before = os.getloadavg()
    helps = [_show(best_of([*path, "--help"], options.runs, tree)) for path in command_paths(tree)]
    real = [_show(row) for row in _real_commands(tree, options.runs)] if options.real else []
    load_after = os.getloadavg()
    walls = [row.min_wall_s for row in helps]
    cpus = [row.min_cpu_s for row in helps]
    summary = {
        "tree": str(tree),
        "commands": len(helps),
        "runs_per_command": options.runs,
        "slowest_min_wall_s": max(walls),
        "mean_min_wall_s": round(sum(walls) / len(walls), 4),
        "slowest_min_cpu_s": max(cpus),
        "mean_min_cpu_s": round(sum(cpus) / len(cpus), 4),
        "over_budget": sum(w > BUDGET_S for w in walls),
        "all_ok": all(row.ok for row in helps + real),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    print(json.dumps(summary, indent=2))
    if options.output:
        options.output.write_text(
            json.dumps(
                {
                    "summary": summary,
                    "help": [asdict(row) for row in helps],
                    "real": [asdict(row) for row in real],
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
