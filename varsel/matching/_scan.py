"""Scan logs with a compiled matcher: read batches, match each field, report each match."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from varsel.matching._candidates import Prefilter
from varsel.matching._compile import Compiled
from varsel.matching._fields import FieldSpec
from varsel.matching._index import Matcher
from varsel.matching._readers import (
    FORMATS,
    Batch,
    LogFormatError,
    Progress,
    ReadStats,
    detect_format,
)
from varsel.matching._readers_py import read_csv, read_eve, read_jsonl, read_text
from varsel.matching._tables import Seen
from varsel.matching._zeek import read_zeek

BatchHit = tuple[int, str, str, int]  # (row, field, canonical value, indicator index)


@dataclass(frozen=True, slots=True)
class Match:
    """One indicator matched in one field of one log record."""

    indicator_id: str
    indicator_name: str | None
    value: str
    field: str
    file: str
    line: int
    time: str | None
    record: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON-line form of the match."""
        return {
            "indicator_id": self.indicator_id,
            "indicator_name": self.indicator_name,
            "value": self.value,
            "field": self.field,
            "file": self.file,
            "line": self.line,
            "time": self.time,
            "record": self.record,
        }


def match_batch(
    batch: Batch, matcher: Matcher, seen: dict[FieldSpec, Seen] | None = None
) -> set[BatchHit]:
    """Return every (row, field, value, indicator) hit of one batch.

    ``seen`` carries, from one batch of a file to the next, the values known to match nothing.
    """
    found: set[BatchHit] = set()
    for spec in batch.specs:
        column = batch.columns.get(spec.name)
        if column is None or not len(column):
            continue
        memo = seen.setdefault(spec, Seen()) if seen is not None else None
        found.update(_match_column(column, spec, matcher, memo))
    return found


def _match_column(
    column: pa.Array, spec: FieldSpec, matcher: Matcher, seen: Seen | None
) -> Iterator[BatchHit]:
    if pa.types.is_list(column.type):
        values = pc.list_flatten(column)
        parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
        for position, member, value in matcher.match(values, spec.role, spec.direction, seen):
            yield int(parents[position]), spec.name, value, member
        return
    for row, member, value in matcher.match(column, spec.role, spec.direction, seen):
        yield row, spec.name, value, member


def read_batches(
    path: Path,
    fmt: str | None = None,
    *,
    mapping: list[FieldSpec] | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
    threads: bool = False,
    stats: ReadStats | None = None,
    prefilter: Prefilter | None = None,
) -> Iterator[Batch]:
    """Yield the batches of a log in ``fmt`` (detected when None).

    ``prefilter`` (Zeek logs only) leaves out lines that certainly match nothing.
    """
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise LogFormatError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "zeek":
        return read_zeek(path, progress=progress, threads=threads, stats=stats, prefilter=prefilter)
    if fmt == "eve":
        return read_eve(path, progress=progress, stats=stats)
    if fmt == "jsonl":
        return read_jsonl(path, mapping=mapping, progress=progress, stats=stats)
    if fmt == "csv":
        return read_csv(path, mapping=mapping, delimiter=delimiter, progress=progress, stats=stats)
    return read_text(path, progress=progress, stats=stats)


def scan(
    path: Path,
    compiled: Compiled,
    fmt: str | None = None,
    *,
    mapping: list[FieldSpec] | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
    threads: bool = False,
    stats: ReadStats | None = None,
    prefilter: bool = True,
) -> Iterator[Match]:
    """Yield the matches of one log file, in file order.

    ``prefilter=False`` parses every line (the differential tests compare both ways).
    """
    seen: dict[FieldSpec, Seen] = {}
    for batch in read_batches(
        path,
        fmt,
        mapping=mapping,
        delimiter=delimiter,
        progress=progress,
        threads=threads,
        stats=stats,
        prefilter=compiled.matcher.prefilter() if prefilter else None,
    ):
        hits = match_batch(batch, compiled.matcher, seen)
        records: dict[int, tuple[dict[str, Any], str | None, int]] = {}
        for row, field, value, member in sorted(hits):
            if row not in records:
                records[row] = (batch.record(row), batch.time(row), batch.line(row))
            record, time, line = records[row]
            yield Match(
                compiled.ids[member],
                compiled.names[member],
                value,
                field,
                path.name,
                line,
                time,
                record,
            )
