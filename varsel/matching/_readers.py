"""Log readers: turn a file into batches of string columns plus the way back to each record.

Zeek TSV and generic CSV/TSV are parsed in bulk by pyarrow's CSV reader (only the columns that
are matched are converted); EVE JSON, JSON lines and plain text go through Python, one line at a
time, and hand the matcher columns built from what they extracted. Gzip is recognised by its
magic bytes. Every reader reports progress as bytes of the file consumed.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from varsel.matching._fields import (
    FieldSpec,
    to_rfc3339,
    zeek_fields,
)

FORMATS: Final = ("zeek", "eve", "csv", "jsonl", "text")
Progress = Callable[[int], None]
_CHUNK: Final = 32 * 1024 * 1024
_PY_BATCH: Final = 20_000


class LogFormatError(ValueError):
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
        inner = self.fileobj
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
    return counted  # type: ignore[return-value]


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


# Zeek TSV -------------------------------------------------------------------------------


@dataclass
class _ZeekHeader:
    separator: str = "\t"
    set_separator: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    path: str = ""
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)

    def apply(self, line: str) -> None:
        if line.startswith("#separator"):
            value = line[len("#separator") :].strip()
            self.separator = value.encode().decode("unicode_escape") if value else "\t"
            return
        key, _, rest = line[1:].partition(self.separator)
        values = rest.split(self.separator)
        if key == "set_separator":
            self.set_separator = values[0]
        elif key == "empty_field":
            self.empty = values[0]
        elif key == "unset_field":
            self.unset = values[0]
        elif key == "path":
            self.path = values[0]
        elif key == "fields":
            self.fields, self.types = values, []
        elif key == "types":
            self.types = values


def read_zeek(
    path: Path,
    *,
    progress: Progress | None = None,
    threads: bool = False,
    stats: ReadStats | None = None,
) -> Iterator[Batch]:
    """Yield batches of a Zeek TSV log (several headers, e.g. concatenated logs, are fine)."""
    stats = stats if stats is not None else ReadStats()
    header = _ZeekHeader()
    line_no = 0
    with open_log(path, progress) as handle:
        rest = b""
        while True:
            chunk = handle.read(_CHUNK)
            data = rest + chunk
            if not chunk:
                rest = b""
            else:
                cut = data.rfind(b"\n") + 1
                data, rest = data[:cut], data[cut:]
            if data:
                for segment, first_line in _segments(data, header, line_no):
                    yield from _zeek_batch(segment, header, first_line, threads, stats)
                line_no += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            if not chunk:
                return


def _segments(data: bytes, header: _ZeekHeader, line_no: int) -> Iterator[tuple[bytes, int]]:
    """Split a chunk into runs of data lines, applying the header lines between them."""
    pos = 0
    while pos < len(data):
        if data.startswith(b"#", pos):
            end = data.find(b"\n", pos)
            end = len(data) if end == -1 else end
            header.apply(data[pos:end].decode("utf-8", "replace").rstrip("\r"))
            pos = end + 1
            continue
        at = data.find(b"\n#", pos)
        stop = len(data) if at == -1 else at + 1
        yield data[pos:stop], line_no + data.count(b"\n", 0, pos)
        pos = stop


def _zeek_batch(
    segment: bytes, header: _ZeekHeader, first_line: int, threads: bool, stats: ReadStats
) -> Iterator[Batch]:
    if not header.fields:
        raise LogFormatError("a Zeek log needs a #fields header before its data")
    specs = zeek_fields(header.path, header.fields, header.types)
    wanted = {s.name for s in specs} | ({"host", "uri"} if header.path == "http" else set())
    time_field = "ts" if "ts" in header.fields else None
    include = [f for f in header.fields if f in wanted or f == time_field]
    skipped: list[str] = []

    def on_invalid(row: Any) -> str:
        skipped.append(row.text)
        return "skip"

    read = pcsv.ReadOptions(column_names=header.fields, use_threads=threads, block_size=_CHUNK)
    parse = pcsv.ParseOptions(
        delimiter=header.separator,
        quote_char=False,
        escape_char=False,
        double_quote=False,
        invalid_row_handler=on_invalid,
    )
    convert = pcsv.ConvertOptions(
        column_types={f: pa.string() for f in include},
        include_columns=include,
        strings_can_be_null=False,
    )
    try:
        table = pcsv.read_csv(pa.BufferReader(segment), read, parse, convert)
    except pa.ArrowInvalid:
        # Zeek escapes bytes as \xNN, so invalid UTF-8 only comes from damaged files.
        segment = segment.decode("utf-8", "replace").encode("utf-8")
        skipped.clear()
        table = pcsv.read_csv(pa.BufferReader(segment), read, parse, convert)
    for text in skipped:
        stats.skip(text)
    stats.lines += table.num_rows
    types = dict(zip(header.fields, header.types, strict=False))
    columns: dict[str, pa.Array] = {}
    for name in include:
        column = table.column(name).combine_chunks()
        if types.get(name, "").startswith(("set[", "vector[")):
            column = pc.split_pattern(column, header.set_separator)
        columns[name] = column
    if header.path == "http" and "host" in columns and "uri" in columns:
        uri = columns["uri"]
        composed = pc.binary_join_element_wise("http://", columns["host"], uri, "")
        columns["url"] = pc.if_else(pc.starts_with(uri, "/"), composed, uri)
    lines = _LineIndex(segment, first_line, table.num_rows, bool(skipped), header)
    fields = list(header.fields)
    sep = header.separator
    ts = columns.get("ts")
    yield Batch(
        columns=columns,
        specs=specs,
        size=table.num_rows,
        record=lambda i: {
            "_path": header.path,
            **dict(zip(fields, lines.text(i).split(sep), strict=False)),
        },
        time=lambda i: to_rfc3339(ts[i].as_py()) if ts is not None else None,
        line=lines.number,
    )


class _LineIndex:
    """Find the text and line number of row i of a segment, built only when first needed."""

    def __init__(
        self, segment: bytes, first_line: int, rows: int, irregular: bool, header: _ZeekHeader
    ) -> None:
        self._segment, self._first, self._rows = segment, first_line, rows
        self._irregular, self._width = irregular, len(header.fields)
        self._sep = header.separator.encode()
        self._starts: np.ndarray | None = None

    def _index(self) -> np.ndarray:
        if self._starts is None:
            buf = np.frombuffer(self._segment, np.uint8)
            starts = np.concatenate(([0], np.flatnonzero(buf == 10) + 1))
            starts = starts[starts < len(self._segment)]
            ends = np.append(starts[1:] - 1, len(self._segment))
            keep = ends > starts
            if self._irregular or int(keep.sum()) != self._rows:
                keep &= np.array(
                    [
                        self._segment.count(self._sep, s, e) == self._width - 1
                        for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
                    ]
                )
            self._starts = np.flatnonzero(keep)
            self._bounds = (starts, ends)
        return self._starts

    def number(self, row: int) -> int:
        """Return the 1-based line number of ``row`` in the file."""
        return self._first + int(self._index()[row]) + 1

    def text(self, row: int) -> str:
        """Return the raw text of ``row``."""
        at = int(self._index()[row])
        starts, ends = self._bounds
        return self._segment[starts[at] : ends[at]].decode("utf-8", "replace").rstrip("\r")
