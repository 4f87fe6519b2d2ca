"""Log readers: turn a file into batches of string columns plus the way back to each record.

Zeek TSV (``_zeek.py``) and generic CSV/TSV are parsed in bulk by pyarrow's CSV reader (only the
columns that are matched are converted); EVE JSON, JSON lines and plain text go through Python,
one line at a time, and hand the matcher columns built from what they extracted. Gzip is
recognised by its magic bytes. Every reader reports progress as bytes of the file consumed.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import pyarrow as pa

from varsel.errors import InvalidInput
from varsel.matching._fields import (
    FieldSpec,
)

FORMATS: Final = ("zeek", "eve", "csv", "jsonl", "text")
Progress = Callable[[int], None]
_CHUNK: Final = 32 * 1024 * 1024
_PY_BATCH: Final = 20_000


class LogFormatError(InvalidInput, ValueError):
    """A log that cannot be read as the format asked for."""


@dataclass
class Batch:
    """Rows of one log as string (or list-of-string) columns, and how to show each row."""

    columns: dict[str, pa.Array]
    specs: list[FieldSpec]
    record: Callable[[int], dict[str, Any]]
    time: Callable[[int], str | None]
    line: Callable[[int], int]
    size: int


@dataclass
class ReadStats:
    """What a reader skipped, so nothing is lost silently."""

    lines: int = 0
    skipped: int = 0
    examples: list[str] = field(default_factory=list)

    def skip(self, text: str) -> None:
        """Count a line that could not be read, keeping a few for the report."""
        self.skipped += 1
        if len(self.examples) < 3:
            self.examples.append(text[:200])


class _Counting(io.RawIOBase):
    """A file wrapper that reports how many bytes of the file were read."""

    def __init__(self, raw: IO[bytes], progress: Progress | None) -> None:
        self._raw = raw
        self._progress = progress
        self.done = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()
        super().close()

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.done += len(data)
        if self._progress is not None:
            self._progress(self.done)
        return len(data)


class _OwningGzip(gzip.GzipFile):
    """A GzipFile that also closes the stream it reads from."""

    def close(self) -> None:
        inner: Any = self.fileobj
        try:
            super().close()
        finally:
            if inner is not None:
                inner.close()


def open_log(path: Path, progress: Progress | None = None) -> IO[bytes]:
    """Open a log for reading bytes, decompressing gzip transparently."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the returned stream
    counted = io.BufferedReader(_Counting(raw, progress), buffer_size=1 << 20)
    if counted.peek(2)[:2] == b"\x1f\x8b":
        return _OwningGzip(fileobj=counted)  # type: ignore[return-value]
    return counted


def detect_format(path: Path) -> str:
    """Guess a log's format from its first line (and extension for CSV/TSV)."""
    with open_log(path) as handle:
        head = handle.read(65536).decode("utf-8", "replace")
    first = next((line for line in head.splitlines() if line.strip()), "")
    if first.startswith("#separator") or first.startswith("#fields"):
        return "zeek"
    if first.lstrip().startswith("{"):
        try:
            obj = json.loads(first)
        except ValueError:
            return "text"
        return "eve" if isinstance(obj, dict) and "event_type" in obj else "jsonl"
    suffixes = [s.lower() for s in path.suffixes]
    if ".csv" in suffixes or ".tsv" in suffixes:
        return "csv"
    return "text"
