"""The Zeek TSV reader: pyarrow's CSV parser over blocks of the file, no Python per line.

An uncompressed log is memory-mapped and cut into blocks of about ``block_size`` bytes at line
ends; a gzip log is decompressed into blocks of the same size. In each block the header lines
(``#fields``, ``#close``, … — a ``#`` at the start of a line, found with ``memchr``) split the
block into runs of data lines, and each run goes to ``pyarrow.csv.read_csv`` zero-copy, converting
only the columns that are matched. While every line of a run is a regular record the row number
*is* the line number, so nothing counts lines; a run pyarrow refuses (a damaged line, an empty
line, invalid UTF-8) is read again by the careful path, which skips and reports such lines and
finds the line number of each row. The text of a record is looked up only for rows that match.

Given a :class:`~varsel.matching._candidates.Prefilter`, a run first goes through the C line
prefilter, and only the lines that may match (usually well under 1 %) are gathered, over blocks
until a header line or the end, and parsed as above, each keeping its line number in the file.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from varsel.matching._candidates import Prefilter, gather
from varsel.matching._fields import FieldSpec, to_rfc3339, zeek_fields
from varsel.matching._lines import Rows, Scratch
from varsel.matching._readers import Batch, LogFormatError, Progress, ReadStats, open_log

BLOCK: Final = 32 * 1024 * 1024
FLUSH: Final = 65_536  # candidate lines per batch
_NEWLINE: Final = 10
_HASH: Final = ord("#")


@dataclass
class _Header:
    """The header of the Zeek log being read, and what follows from it for reading."""

    separator: str = "\t"
    set_separator: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    path: str = ""
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    _plan: tuple[list[FieldSpec], list[str], dict[str, bool]] | None = None

    def apply(self, line: str) -> None:
        """Take one ``#`` line into account."""
        self._plan = None
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

    def plan(self) -> tuple[list[FieldSpec], list[str], dict[str, bool]]:
        """Return the specs, the columns to convert and which of them are sets."""
        if self._plan is None:
            if not self.fields:
                raise LogFormatError("a Zeek log needs a #fields header before its data")
            specs = zeek_fields(self.path, self.fields, self.types)
            wanted = {s.name for s in specs} | ({"host", "uri"} if self.path == "http" else set())
            include = [f for f in self.fields if f in wanted]
            kinds = dict(zip(self.fields, self.types, strict=False))
            sets = {n: kinds.get(n, "").startswith(("set[", "vector[")) for n in include}
            self._plan = (specs, include, sets)
        return self._plan


def read_zeek(
    path: Path,
    *,
    progress: Progress | None = None,
    threads: bool = False,
    stats: ReadStats | None = None,
    block_size: int = BLOCK,
    prefilter: Prefilter | None = None,
) -> Iterator[Batch]:
    """Yield batches of a Zeek TSV log (several headers, e.g. concatenated logs, are fine).

    With ``prefilter``, batches hold only the lines that may match it.
    """
    reader = _Reader(stats if stats is not None else ReadStats(), threads, prefilter)
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        size = raw.seek(0, 2)
        mapped = (
            None if gzipped or size == 0 else mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ)
        )
    if mapped is not None:
        yield from _mapped_blocks(reader, mapped, size, block_size, progress)
    elif gzipped:
        yield from _stream_blocks(reader, path, block_size, progress)
    yield from reader.flush()


def _mapped_blocks(
    reader: _Reader, mapped: mmap.mmap, size: int, block_size: int, progress: Progress | None
) -> Iterator[Batch]:
    # The map is never closed explicitly: batches may still point into it, and it is unmapped
    # when the last of them is gone.
    buffer = pa.py_buffer(mapped)
    pos = 0
    while pos < size:
        hi = min(pos + block_size, size)
        if hi < size:
            cut = mapped.rfind(b"\n", pos, hi) + 1
            hi = cut if cut > pos else (mapped.find(b"\n", hi) + 1 or size)
        yield from reader.block(mapped, buffer, pos, hi)
        if progress is not None:
            progress(hi)
        pos = hi


def _stream_blocks(
    reader: _Reader, path: Path, block_size: int, progress: Progress | None
) -> Iterator[Batch]:
    with open_log(path, progress) as handle:
        rest = b""
        while True:
            chunk = handle.read(block_size)
            data = rest + chunk if rest else chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                data, rest = data[:cut], data[cut:]
            else:
                rest = b""
            if data:
                yield from reader.block(data, pa.py_buffer(data), 0, len(data))
            if not chunk:
                return


class _Reader:
    """Reads blocks of whole lines, keeping the header and the line count between them."""

    def __init__(self, stats: ReadStats, threads: bool, prefilter: Prefilter | None) -> None:
        self.stats = stats
        self.threads = threads
        self.prefilter = prefilter
        self.pending: list[tuple[bytes, np.ndarray]] = []  # candidate lines, their line indices
        self.pending_lines = 0
        self.header = _Header()
        self.lines = 0  # lines of the file before the current position
        self.scratch = Scratch()

    def block(self, data: Any, buffer: pa.Buffer, lo: int, hi: int) -> Iterator[Batch]:
        """Yield the batches of ``data[lo:hi]`` (whole lines), applying its header lines."""
        pos = lo
        while pos < hi:
            at = _next_comment(data, pos, hi)
            if at > pos:
                yield from self._run(buffer.slice(pos, at - pos))
            if at == hi:
                return
            end = data.find(b"\n", at, hi)
            end = hi if end == -1 else end
            yield from self.flush()  # the candidates so far belong to the current header
            self.header.apply(bytes(data[at:end]).decode("utf-8", "replace").rstrip("\r"))
            self.lines += 1
            pos = end + 1

    def _run(self, run: pa.Buffer) -> Iterator[Batch]:
        """Yield the batch of a run of data lines (only its candidates, with a prefilter)."""
        specs, include, sets = self.header.plan()
        header = self.header
        found = None
        if self.prefilter is not None:
            found = self.prefilter.scan(
                run,
                log_path=header.path,
                fields=header.fields,
                separator=header.separator,
                set_separator=header.set_separator,
                include=include,
                sets=sets,
            )
        if found is None:
            yield from self._parse(run, specs, include, sets, self.lines, None)
            return
        lines, quiet, candidates = found
        first = self.lines
        self.lines += lines
        self.stats.lines += quiet
        if len(candidates):
            # Candidates are few: gather them over blocks, so that the matcher's per-batch
            # costs (hashing its key tables) are paid per ~FLUSH lines, not per block.
            self.pending.append((gather(run, candidates), first + candidates[:, 0]))
            self.pending_lines += len(candidates)
            if self.pending_lines >= FLUSH:
                yield from self.flush()

    def flush(self) -> Iterator[Batch]:
        """Yield the batch of the gathered candidate lines, if any."""
        if not self.pending:
            return
        text = b"".join(part for part, _ in self.pending)
        picked = np.concatenate([where for _, where in self.pending])
        self.pending, self.pending_lines = [], 0
        specs, include, sets = self.header.plan()
        yield from self._parse(pa.py_buffer(text), specs, include, sets, 0, picked)

    def _parse(
        self,
        run: pa.Buffer,
        specs: list[FieldSpec],
        include: list[str],
        sets: dict[str, bool],
        first: int,
        picked: np.ndarray | None,
    ) -> Iterator[Batch]:
        """Yield the batch of ``run``; ``picked`` maps its lines to lines after ``first``."""
        header = self.header
        # One block per run on one core; with threads, 4 MB blocks that are parsed in parallel.
        block = min(len(run), 1 << 22) if self.threads else len(run)
        read = pcsv.ReadOptions(
            column_names=header.fields, use_threads=self.threads, block_size=max(block, 1)
        )
        convert = pcsv.ConvertOptions(
            column_types=dict.fromkeys(include, pa.string()),
            include_columns=include,
            strings_can_be_null=False,
        )
        try:
            table = pcsv.read_csv(pa.BufferReader(run), read, _parse(header, None), convert)
            # pyarrow reads an empty line as a row of empty strings; Zeek never writes an
            # empty value (it writes "(empty)"), so an empty first column sends the run to
            # the careful path, which skips empty lines.
            if include and pc.any(pc.equal(pc.binary_length(table.column(0)), 0)).as_py():
                raise pa.ArrowInvalid("an empty line")
        except pa.ArrowInvalid:
            yield from self._careful_run(
                run.to_pybytes(), specs, include, sets, read, convert, first, picked
            )
            return
        if picked is None:
            self.lines += table.num_rows
        self.stats.lines += table.num_rows
        rows = Rows(run, first, None, len(header.fields), header.separator, self.scratch, picked)
        yield self._batch(table, specs, include, sets, rows)

    def _careful_run(
        self,
        text: bytes,
        specs: list[FieldSpec],
        include: list[str],
        sets: dict[str, bool],
        read: pcsv.ReadOptions,
        convert: pcsv.ConvertOptions,
        first: int,
        picked: np.ndarray | None,
    ) -> Iterator[Batch]:
        """Read a run with damaged lines: skip and report them, number the others."""
        skipped: list[str] = []

        def on_invalid(row: Any) -> str:
            skipped.append(row.text)
            return "skip"

        parse = _parse(self.header, on_invalid)
        try:
            table = pcsv.read_csv(pa.BufferReader(text), read, parse, convert)
        except pa.ArrowInvalid:
            # Zeek escapes bytes as \xNN, so invalid UTF-8 only comes from damaged files.
            text = text.decode("utf-8", "replace").encode("utf-8")
            skipped.clear()
            table = pcsv.read_csv(pa.BufferReader(text), read, parse, convert)
        for line in skipped:
            self.stats.skip(line)
        if picked is None:
            self.lines += text.count(b"\n") + (0 if text.endswith(b"\n") else 1)
        self.stats.lines += table.num_rows
        rows = Rows(
            pa.py_buffer(text),
            first,
            table.num_rows,
            len(self.header.fields),
            self.header.separator,
            self.scratch,
            picked,
        )
        yield self._batch(table, specs, include, sets, rows)

    def _batch(
        self,
        table: pa.Table,
        specs: list[FieldSpec],
        include: list[str],
        sets: dict[str, bool],
        rows: Rows,
    ) -> Batch:
        header = self.header
        columns: dict[str, pa.Array] = {}
        for name in include:
            column = table.column(name).combine_chunks()
            columns[name] = pc.split_pattern(column, header.set_separator) if sets[name] else column
        if header.path == "http" and "host" in columns and "uri" in columns:
            uri = columns["uri"]
            composed = pc.binary_join_element_wise("http://", columns["host"], uri, "")
            columns["url"] = pc.if_else(pc.starts_with(uri, "/"), composed, uri)
        fields, log_path = list(header.fields), header.path
        sep = header.separator

        last: dict[int, dict[str, Any]] = {}  # the scan asks for a row's record, then its time

        def record(i: int) -> dict[str, Any]:
            if i not in last:
                last.clear()
                cells = rows.text(i).split(sep)
                last[i] = {"_path": log_path, **dict(zip(fields, cells, strict=False))}
            return dict(last[i])

        return Batch(
            columns=columns,
            specs=specs,
            size=table.num_rows,
            record=record,
            time=lambda i: to_rfc3339(record(i).get("ts")),
            line=rows.number,
        )


def _parse(header: _Header, on_invalid: Any) -> pcsv.ParseOptions:
    # On the fast path an empty line must not vanish (it would break row = line): as a short
    # row it sends the run to the careful path, which skips it as the other readers do.
    return pcsv.ParseOptions(
        delimiter=header.separator,
        quote_char=False,
        escape_char=False,
        double_quote=False,
        ignore_empty_lines=on_invalid is not None,
        invalid_row_handler=on_invalid,
    )


def _next_comment(data: Any, pos: int, hi: int) -> int:
    """Return where the next line starting with ``#`` in ``data[pos:hi]`` begins, else hi."""
    at = data.find(b"#", pos, hi)
    while at != -1 and at != pos and data[at - 1] != _NEWLINE:
        at = data.find(b"#", at + 1, hi)
    return hi if at == -1 else at
