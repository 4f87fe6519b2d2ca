"""Readers for EVE JSON, JSON lines, plain text and CSV/TSV with a column mapping."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.csv as pcsv

from varsel.matching._fields import EVE_FIELDS, TIME_FIELDS, FieldSpec, guess_fields, to_rfc3339
from varsel.matching._readers import Batch, LogFormatError, Progress, ReadStats, open_log
from varsel.observables.normalize import Role

_BATCH: Final = 20_000
_ANGLE: Final = re.compile(r"<([^<>\s]+@[^<>\s]+)>")


def _walk(obj: Any, path: str) -> list[str]:
    """Return the string values at a dotted path; ``name[]`` steps into each list element."""
    current: list[Any] = [obj]
    for step in path.split("."):
        many = step.endswith("[]")
        key = step[:-2] if many else step
        nxt: list[Any] = []
        for item in current:
            value = item.get(key) if isinstance(item, dict) else None
            if value is None:
                continue
            if many and isinstance(value, list):
                nxt.extend(value)
            elif not many:
                nxt.append(value)
        current = nxt
    return [
        v if isinstance(v, str) else str(v)
        for v in current
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    ]


def _flatten(
    obj: Any, prefix: str = "", out: dict[str, list[str]] | None = None
) -> dict[str, list[str]]:
    """Return every string leaf of a JSON value by dotted path (lists merge their values)."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        for key, value in obj.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(obj, list):
        for value in obj:
            _flatten(value, prefix, out)
    elif isinstance(obj, str):
        out.setdefault(prefix, []).append(obj)
    return out


def _columns(rows: list[dict[str, list[str]]], names: list[str]) -> dict[str, pa.Array]:
    return {
        name: pa.array([row.get(name) for row in rows], pa.list_(pa.string())) for name in names
    }


def _json_batches(
    path: Path, progress: Progress | None, stats: ReadStats, extract: Any
) -> Iterator[tuple[list[dict[str, Any]], list[int], list[dict[str, list[str]]]]]:
    objects: list[dict[str, Any]] = []
    numbers: list[int] = []
    values: list[dict[str, list[str]]] = []
    with open_log(path, progress) as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except ValueError:
                stats.skip(text)
                continue
            if not isinstance(obj, dict):
                stats.skip(text)
                continue
            stats.lines += 1
            objects.append(obj)
            numbers.append(number)
            values.append(extract(obj))
            if len(objects) >= _BATCH:
                yield objects, numbers, values
                objects, numbers, values = [], [], []
    if objects:
        yield objects, numbers, values


def _time_of(obj: dict[str, Any]) -> str | None:
    for name in TIME_FIELDS:
        if name in obj:
            return to_rfc3339(obj[name])
    return None


def _json_batch(
    objects: list[dict[str, Any]],
    numbers: list[int],
    values: list[dict[str, list[str]]],
    specs: list[FieldSpec],
) -> Batch:
    return Batch(
        columns=_columns(values, [s.name for s in specs]),
        specs=specs,
        record=lambda i: objects[i],
        time=lambda i: _time_of(objects[i]),
        line=lambda i: numbers[i],
        size=len(objects),
    )


def _eve_values(obj: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for spec in EVE_FIELDS:
        values = _walk(obj, spec.name)
        if spec.role is Role.EMAIL:
            values = [m.group(1) if (m := _ANGLE.search(v)) else v.strip() for v in values]
        if values:
            found[spec.name] = values
    http = obj.get("http")
    if isinstance(http, dict) and "http.url" in found and isinstance(http.get("hostname"), str):
        found["http.url"] = [
            f"http://{http['hostname']}{u}" if u.startswith("/") else u for u in found["http.url"]
        ]
    return found


def read_eve(
    path: Path, *, progress: Progress | None = None, stats: ReadStats | None = None
) -> Iterator[Batch]:
    """Yield batches of a Suricata EVE JSON log."""
    stats = stats if stats is not None else ReadStats()
    specs = list(EVE_FIELDS)
    for objects, numbers, values in _json_batches(path, progress, stats, _eve_values):
        yield _json_batch(objects, numbers, values, specs)


def read_jsonl(
    path: Path,
    *,
    mapping: list[FieldSpec] | None = None,
    progress: Progress | None = None,
    stats: ReadStats | None = None,
) -> Iterator[Batch]:
    """Yield batches of JSON lines; every string leaf is matched unless a mapping is given."""
    stats = stats if stats is not None else ReadStats()
    if mapping:

        def extract(obj: dict[str, Any]) -> dict[str, list[str]]:
            return {s.name: v for s in mapping if (v := _walk(obj, s.name))}
    else:
        extract = _flatten
    for objects, numbers, values in _json_batches(path, progress, stats, extract):
        specs = mapping or [
            FieldSpec(name, Role.ANY) for name in sorted({k for row in values for k in row})
        ]
        yield _json_batch(objects, numbers, values, specs)


# Plain text: the extraction regexes are deliberately generous; the matcher decides. ------

_EXTRACT: Final = re.compile(
    r"(?P<url>[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+)"
    r"|(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})"
    r"|(?P<hash>(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{128}|[0-9A-Fa-f]{64}|[0-9A-Fa-f]{40}"
    r"|[0-9A-Fa-f]{32})(?![0-9A-Fa-f]))"
    r"|(?P<ip6>(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:]))"
    r"|(?P<ip4>(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]))"
    r"|(?P<domain>(?<![A-Za-z0-9_.-])(?:[A-Za-z0-9_-]+\.)+[A-Za-z][A-Za-z0-9-]*\.?)"
)
_HOST_IN_URL: Final = re.compile(r"://(?:[^/@\s]*@)?([^/:?#\s]+)")
_LEADING_TIME: Final = re.compile(
    r"^\s*(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)"
)


def extract_observables(line: str) -> list[str]:
    """Return the addresses, domains, URLs, e-mail addresses and digests in a line of text."""
    found: list[str] = []
    for match in _EXTRACT.finditer(line):
        value = match.group(match.lastgroup or 0)
        found.append(value)
        if match.lastgroup == "url" and (host := _HOST_IN_URL.search(value)):
            found.append(host.group(1))
        elif match.lastgroup == "email":
            found.append(value.rpartition("@")[2])
    return found


def read_text(
    path: Path, *, progress: Progress | None = None, stats: ReadStats | None = None
) -> Iterator[Batch]:
    """Yield batches of plain text lines with the observables extracted from each."""
    stats = stats if stats is not None else ReadStats()
    specs = [FieldSpec("text", Role.ANY)]
    lines: list[str] = []
    numbers: list[int] = []
    tokens: list[list[str]] = []

    def batch() -> Batch:
        texts, nums = lines, numbers
        return Batch(
            columns={"text": pa.array(tokens, pa.list_(pa.string()))},
            specs=specs,
            record=lambda i: {"line": texts[i]},
            time=lambda i: to_rfc3339(m.group(1)) if (m := _LEADING_TIME.match(texts[i])) else None,
            line=lambda i: nums[i],
            size=len(texts),
        )

    with open_log(path, progress) as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            stats.lines += 1
            found = extract_observables(text)
            if not found:
                continue
            lines.append(text)
            numbers.append(number)
            tokens.append(found)
            if len(lines) >= _BATCH:
                yield batch()
                lines, numbers, tokens = [], [], []
    if lines:
        yield batch()


def read_csv(
    path: Path,
    *,
    mapping: list[FieldSpec] | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
    stats: ReadStats | None = None,
) -> Iterator[Batch]:
    """Yield batches of a CSV/TSV file with a header row, matched by mapping or by names."""
    stats = stats if stats is not None else ReadStats()
    if delimiter is None:
        delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    skipped: list[str] = []

    def on_invalid(row: Any) -> str:
        skipped.append(row.text)
        return "skip"

    parse = pcsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid)
    with open_log(path, progress) as handle:
        try:
            reader = pcsv.open_csv(
                handle,
                # No reader threads: an abandoned reader's read-ahead thread, still running when
                # the interpreter exits, ended `varsel scan` with "terminate called without an
                # active exception" (exit -6) after its output was printed.
                read_options=pcsv.ReadOptions(block_size=1 << 22, use_threads=False),
                parse_options=parse,
                convert_options=pcsv.ConvertOptions(
                    strings_can_be_null=True, column_types=_all_strings(path, delimiter)
                ),
            )
        except pa.ArrowInvalid as exc:
            raise LogFormatError(f"{path.name}: not a CSV file with a header row: {exc}") from None
        try:
            names = reader.schema.names
            specs = mapping or guess_fields(names)
            missing = [s.name for s in specs if s.name not in names]
            if missing:
                raise LogFormatError(
                    f"{path.name}: no column {missing[0]!r}; columns are {', '.join(names)}"
                )
            row_base = 2
            for record_batch in reader:
                for text in skipped:
                    stats.skip(text)
                skipped.clear()
                table = pa.Table.from_batches([record_batch])
                stats.lines += table.num_rows
                columns = {s.name: table.column(s.name).combine_chunks() for s in specs}
                yield _csv_batch(table, columns, specs, row_base)
                row_base += table.num_rows
        finally:
            reader.close()


def _csv_batch(
    table: pa.Table, columns: dict[str, pa.Array], specs: list[FieldSpec], base: int
) -> Batch:
    def record(i: int) -> dict[str, Any]:
        row: dict[str, Any] = table.slice(i, 1).to_pylist()[0]
        return row

    return Batch(
        columns=columns,
        specs=specs,
        size=table.num_rows,
        record=record,
        time=lambda i: _time_of(record(i)),
        line=lambda i: base + i,
    )


def _all_strings(path: Path, delimiter: str) -> dict[str, pa.DataType]:
    with open_log(path) as handle:
        first = handle.readline().decode("utf-8", "replace").rstrip("\r\n")
    if not first:
        raise LogFormatError(f"{path.name}: the file is empty")
    return {name.strip('"'): pa.string() for name in first.split(delimiter)}
