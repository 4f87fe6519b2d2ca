"""Helpers shared by the benchmarks: machine facts, server processes, statistics, profiling.

Nothing here imports ``varsel``: the helpers must keep working while the hub's code changes.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

PACKAGES = (
    "varsel",
    "taxii2-client",
    "medallion",
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "psycopg",
    "requests",
    "flask",
    "py-spy",
)


def utc_now() -> str:
    """Return the current UTC time in RFC 3339 form, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def postgres_version(admin_url: str) -> str | None:
    """Return the PostgreSQL server's version string, or None if it cannot be reached."""
    try:
        import psycopg

        with psycopg.connect(admin_url, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
    except Exception:  # any failure means "unknown"
        return None


def machine_info(pg_admin_url: str | None) -> dict[str, Any]:
    """Describe the machine and software the figures were taken on."""
    versions = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version(pg_admin_url) if pg_admin_url else None,
        "packages": versions,
    }


def load_snapshot() -> dict[str, Any]:
    """Return the machine's load right now (``uptime`` and the load averages)."""
    uptime = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        uptime = (
            subprocess.run(
                ["uptime"], capture_output=True, text=True, timeout=5, check=False
            ).stdout.strip()
            or None
        )
    try:
        loadavg = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        loadavg = None
    return {"at": utc_now(), "uptime": uptime, "loadavg_1_5_15": loadavg}


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the ``pct`` percentile of ``values`` by linear interpolation."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Server:
    """A server in a child process, its output going to a log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    ready_url: str
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        """Start the process and wait until its ``ready_url`` answers any HTTP status."""
        log = self.log_path.open("ab")
        # Run in the log's directory: never pick up modules from whatever the caller's cwd is.
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.log_path.parent,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode} while "
                    f"starting; see {self.log_path}:\n{self.tail()}"
                )
            with contextlib.suppress(requests.RequestException):
                requests.get(self.ready_url, timeout=2)
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer within {timeout:.0f} s; "
            f"see {self.log_path}:\n{self.tail()}"
        )

    @property
    def pid(self) -> int:
        """Return the process id of the running server."""
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 15 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def tail(self, lines: int = 20) -> str:
        """Return the last lines of the server's log."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""


# Profiling -------------------------------------------------------------------------------


def py_spy_path() -> str | None:
    """Return the py-spy executable next to this Python, or on PATH, or None."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    from shutil import which

    return which("py-spy")


@dataclass
class Sampler:
    """py-spy attached to a server for one phase, writing collapsed stacks."""

    pid: int
    output: Path
    rate: int = 200
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Attach py-spy to the server process."""
        exe = py_spy_path()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        # --nonblocking: never pause the server, so the profile costs it little.
        self.process = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(self.output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # let it attach before the phase starts

    def stop(self) -> dict[str, Any]:
        """Detach, and return the summary of where the server's time went."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if not self.output.exists():
            return {"samples": 0, "error": "py-spy wrote nothing (attach not permitted?)"}
        return summarise_stacks(self.output)


def _frame_file(frame: str) -> str:
    # A raw frame reads "function (path/to/file.py:123)".
    inner = frame[frame.rfind("(") + 1 :].rstrip(")")
    return inner.rsplit(":", 1)[0]


def _short(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if "/varsel/" in path:
        return "varsel/" + path.split("/varsel/", 1)[1]
    if "/lib/python3" in path:
        # "/usr/lib/python3.11/json/decoder.py" -> "json/decoder.py"
        return path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return path


def _area(path: str) -> str:
    """Name the package a frame's file belongs to (varsel modules are kept apart)."""
    short = _short(path)
    if short.startswith("varsel/"):
        return short.removesuffix(".py")
    if "/" in short:
        return short.split("/", 1)[0]
    # py-spy names stdlib modules by their file alone ("threading.py").
    return "stdlib:" + short.removesuffix(".py")


# Leaf frames of threads that wait for work (py-spy --nonblocking cannot always tell).
_IDLE = (
    "Condition.wait ",
    "Event.wait ",
    "Runner.run ",
    "BaseEventLoop.run_forever ",
    "EpollSelector.select ",
    "Queue.get ",
    "select ",
)


def _function(frame: str) -> str:
    name = frame[: frame.rfind("(")].strip()
    return f"{name} ({_short(_frame_file(frame))})"


@dataclass
class _Tally:
    total: int = 0
    idle: int = 0
    leaf_area: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    leaf: Counter[str] = field(default_factory=Counter)


def summarise_stacks(path: Path, top: int = 15) -> dict[str, Any]:
    """Summarise py-spy's collapsed stacks: self time by package, top functions by time."""
    tally = _Tally()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if "(" in f]
        if not frames:
            continue
        if frames[-1].startswith(_IDLE):
            tally.idle += count
            continue
        tally.total += count
        tally.leaf_area[_area(_frame_file(frames[-1]))] += count
        tally.leaf[_function(frames[-1])] += count
        for name in {_function(f) for f in frames}:
            tally.inclusive[name] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"name": name, "percent": round(100 * n / tally.total, 1)}
            for name, n in counter.most_common(top)
        ]

    if tally.total == 0:
        return {"samples": 0, "idle_samples": tally.idle}
    varsel_inclusive = Counter({k: v for k, v in tally.inclusive.items() if "(varsel/" in k})
    return {
        "samples": tally.total,
        "idle_samples": tally.idle,
        "self_by_package": share(tally.leaf_area),
        "self_by_function": share(tally.leaf),
        "inclusive_varsel_functions": share(varsel_inclusive),
    }
