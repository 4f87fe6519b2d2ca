"""Compile the indicators a principal may read into a :class:`Matcher`, reporting what was left out.

Indicators come from the latest version of each ``indicator`` object the access policy lets the
principal read (one row per collection; the highest version wins when an indicator sits in
several). Revoked indicators, and those not valid at the compile time (``valid_from`` /
``valid_until``), are counted and left out; patterns that are not STIX, or that the matcher
cannot evaluate, are listed with the reason — nothing is dropped silently.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple, TypeVar, overload

import numpy as np
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from varsel.matching._bulk import compile_chunk, read_json
from varsel.matching._index import Matcher, Part
from varsel.observables.normalize import Kind
from varsel.observables.patterns import Atom, Unsupported, parse
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP

_FRACTION: Final = re.compile(r"\.(\d+)")


@dataclass
class CompileReport:
    """What compiling found: counts of what was left out, and why for each unusable pattern."""

    readable: int = 0
    compiled: int = 0
    atoms: int = 0
    revoked: int = 0
    expired: int = 0
    not_yet_valid: int = 0
    not_stix: int = 0
    unsupported: list[tuple[str, str]] = field(default_factory=list)
    flagged: list[tuple[str, str]] = field(default_factory=list)
    # The next moment (time key) at which an indicator becomes valid or expires.
    next_change: str | None = None

    def note_boundary(self, key: str) -> None:
        """Remember ``key`` if it is the earliest future validity boundary seen so far."""
        if self.next_change is None or key < self.next_change:
            self.next_change = key

    def as_dict(self) -> dict[str, object]:
        """Return the report as JSON-ready data."""
        return {
            "readable": self.readable,
            "compiled": self.compiled,
            "atoms": self.atoms,
            "revoked": self.revoked,
            "expired": self.expired,
            "not_yet_valid": self.not_yet_valid,
            "not_stix_patterns": self.not_stix,
            "unsupported": [{"id": i, "reason": r} for i, r in self.unsupported],
            "warning_lists": [{"id": i, "warning": w} for i, w in self.flagged],
        }


class Ids(Sequence[str]):
    """Indicator ids by member index, kept as one Arrow string column.

    A million ids as Python strings cost about 75 MB; as a column, 26 MB.
    """

    def __init__(self, parts: list[pa.Array]) -> None:
        self._ids = pa.concat_arrays(parts) if parts else pa.array([], pa.string())

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return list(self._ids[index].to_pylist())
        return str(self._ids[index].as_py())

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids.to_pylist())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compares by contents, like a list


@dataclass
class Compiled:
    """A matcher, the indicator id and name of each member index, and the report."""

    matcher: Matcher
    ids: Sequence[str]
    names: list[str | None]
    report: CompileReport
    entries: list[tuple[int, Atom]] | None = None


def _time_key(value: object) -> str | None:
    """Return a sortable key for a STIX UTC timestamp (any fraction length), or None."""
    if not isinstance(value, str) or len(value) < 20 or not value.endswith("Z"):
        return None
    fraction = _FRACTION.match(value, 19)
    return value[:19] + "." + ((fraction.group(1) if fraction else "") + "0" * 9)[:9]


def time_key(moment: datetime) -> str:
    """Return the sortable key of an aware datetime, comparable with :func:`_time_key`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond:06d}000"


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """The parts of a stored indicator version that compiling needs."""

    stix_id: str
    raw: str
    revoked: bool = False
    red: bool = False  # marked TLP:RED: handing it out (exports) is audited


class StoredRow(NamedTuple):
    """A stored indicator row as the scan cache reads it, in the column order of its query."""

    pk: int
    added_us: int
    stix_id: str
    version_key: str
    revoked: bool
    raw: str


AnyRow = IndicatorRow | StoredRow
_R = TypeVar("_R", IndicatorRow, StoredRow)


def compile_rows(
    rows: Iterable[IndicatorRow],
    *,
    at: datetime | None = None,
    warn: bool = True,
    keep_entries: bool = False,
    include_subdomains: bool = False,
) -> Compiled:
    """Compile indicator rows into a matcher, as valid at ``at`` (default: now).

    ``include_subdomains`` lets every exact domain indicator match its subdomains as well.
    Rows are taken a chunk at a time, so ``rows`` may stream from the database.
    """
    now = time_key(at or datetime.now(UTC))
    report = CompileReport()
    id_parts: list[pa.Array] = []
    compiled_count = 0
    names: list[str | None] = []
    entries: list[tuple[int, Atom]] = []
    parts: dict[str, list[Part]] = {}
    for chunk in _chunks(rows, _CHUNK):
        base = compiled_count
        done = _compile_bulk(chunk, now, report, include_subdomains)
        if done is None:
            done = _compile_python(chunk, now, report, include_subdomains)
        outcome, reasons, chunk_names, atoms, chunk_parts = done
        report.readable += len(chunk)
        for result, count in Counter(outcome).items():
            if result not in ("", "unsupported"):
                setattr(report, result, getattr(report, result) + count)
        report.unsupported.extend((chunk[i].stix_id, reasons[i]) for i in sorted(reasons))
        compiled = [result == "" for result in outcome]
        member_of = dict(
            zip(itertools.compress(range(len(chunk)), compiled), itertools.count(base))
        )
        id_parts.append(
            pa.array([row.stix_id for row in itertools.compress(chunk, compiled)], pa.string())
        )
        compiled_count += len(id_parts[-1])
        for i in sorted(atoms):
            entries.extend((member_of[i], atom) for atom in atoms[i])
        names.extend(chunk_names)
        for name, (values, members, directions) in chunk_parts:
            parts.setdefault(name, []).append((values, members + base, directions))
        # Arrow's allocator keeps freed pages for reuse; each chunk's parsed JSON would
        # otherwise stay resident until the end (about 100 MB over a million indicators).
        pa.default_memory_pool().release_unused()
    ids = Ids(id_parts)
    del id_parts
    report.compiled = len(ids)
    report.atoms = len(entries) + sum(len(p[0]) for ps in parts.values() for p in ps)
    if warn and report.atoms:
        from varsel.sharing.ingest.warninglists import flag_columns

        by_kind: dict[Kind, list[tuple[pa.Array, np.ndarray]]] = {}
        for name, ps in parts.items():
            kind = _KINDS.get(name) or Kind(name)
            by_kind.setdefault(kind, []).extend((p[0], p[1]) for p in ps)
        for atom_kind in Kind:
            pairs = [(m, a.value) for m, a in entries if a.kind is atom_kind]
            if pairs:
                by_kind.setdefault(atom_kind, []).append(
                    (
                        pa.array([v for _, v in pairs], pa.string()),
                        np.array([m for m, _ in pairs], np.int64),
                    )
                )
        for member, messages in sorted(flag_columns(by_kind).items()):
            report.flagged.extend((ids[member], m) for m in messages)
    matcher = Matcher(entries, parts)
    if keep_entries:
        entries = sorted(entries + _part_entries(parts), key=lambda e: e[0])
    return Compiled(
        matcher=matcher,
        ids=ids,
        names=names,
        report=report,
        entries=entries if keep_entries else None,
    )


_CHUNK: Final = 16384
_KINDS: Final = {"ip4": Kind.IP, "cidr4": Kind.CIDR, "domain": Kind.DOMAIN, "sub": Kind.DOMAIN}
ChunkResult = tuple[
    list[str], dict[int, str], list[str | None], dict[int, list[Atom]], list[tuple[str, Part]]
]


def _chunks(rows: Iterable[_R], size: int) -> Iterator[list[_R]]:
    chunk: list[_R] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _part_entries(parts: dict[str, list[Part]]) -> list[tuple[int, Atom]]:
    out: list[tuple[int, Atom]] = []
    for name, ps in parts.items():
        kind = _KINDS.get(name) or Kind(name)
        for values, members, directions in ps:
            out.extend(
                (m, Atom(kind, v, d, name == "sub"))
                for v, m, d in zip(
                    values.to_pylist(), members.tolist(), directions.tolist(), strict=True
                )
            )
    return out


def _compile_bulk(
    chunk: Sequence[AnyRow], now: str, report: CompileReport, include_subdomains: bool
) -> ChunkResult | None:
    """Compile a chunk with column operations; None when its JSON needs the careful path."""
    try:
        table = read_json([row.raw for row in chunk])
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):
        return None
    revoked = np.fromiter((row.revoked for row in chunk), bool, len(chunk))
    done = compile_chunk(table, revoked, now, _time_key, include_subdomains)
    for key in done.boundaries:
        report.note_boundary(key)
    parts = [(name, part) for name, ps in done.parts.items() for _, part in ps]
    return done.outcome, done.reasons, done.names, done.atoms, parts


def _compile_python(
    chunk: Sequence[AnyRow], now: str, report: CompileReport, include_subdomains: bool
) -> ChunkResult:
    """Compile a chunk one indicator at a time (stored JSON the bulk reader refuses)."""
    outcome: list[str] = []
    reasons: dict[int, str] = {}
    names: list[str | None] = []
    atoms_of: dict[int, list[Atom]] = {}
    for i, row in enumerate(chunk):
        outcome.append("unsupported")
        try:
            obj = json.loads(row.raw)
        except ValueError:
            reasons[i] = "stored JSON does not parse"
            continue
        if not isinstance(obj, dict):
            reasons[i] = "stored JSON is not an object"
            continue
        if row.revoked or obj.get("revoked") is True:
            outcome[i] = "revoked"
            continue
        if obj.get("pattern_type") != "stix":
            outcome[i] = "not_stix"
            continue
        start, end = _time_key(obj.get("valid_from")), _time_key(obj.get("valid_until"))
        if start is not None and start > now:
            outcome[i] = "not_yet_valid"
            report.note_boundary(start)
            continue
        if end is not None and end <= now:
            outcome[i] = "expired"
            continue
        if end is not None:
            report.note_boundary(end)
        pattern = obj.get("pattern")
        try:
            atoms = parse(pattern) if isinstance(pattern, str) else None
        except Unsupported as exc:
            reasons[i] = str(exc)
            continue
        if not atoms:
            reasons[i] = "the indicator has no pattern"
            continue
        outcome[i] = ""
        name = obj.get("name")
        names.append(name if isinstance(name, str) else None)
        if include_subdomains:
            atoms = atoms + [
                Atom(a.kind, a.value, a.direction, True)
                for a in atoms
                if a.kind is Kind.DOMAIN and not a.subdomains
            ]
        atoms_of[i] = atoms
    return outcome, reasons, names, atoms_of, []


@dataclass
class RowCompile:
    """What compiling made of each row, kept row by row (the scan cache, ``_cache.py``)."""

    rows: pa.Table  # pk, added_us, stix_id, version_key, outcome, reason, name
    atoms: pa.Table  # row (index into rows), table, value, direction
    next_change: str | None


ROW_SCHEMA: Final = pa.schema(
    [
        ("pk", pa.int64()),
        ("added_us", pa.int64()),
        ("stix_id", pa.string()),
        ("version_key", pa.string()),
        ("outcome", pa.string()),
        ("reason", pa.string()),
        ("name", pa.string()),
    ]
)
ATOM_SCHEMA: Final = pa.schema(
    [
        ("row", pa.int64()),
        ("table", pa.string()),
        ("value", pa.string()),
        ("direction", pa.int8()),
    ]
)
# Atoms the Python parser made are kept as "atom:<kind>" (":sub" for subdomain rules) and
# become matcher entries again; the bulk compiler's columns keep their matcher table name.
ATOM_PREFIX: Final = "atom:"


def compile_each(
    rows: Iterable[StoredRow], *, at: datetime | None = None, include_subdomains: bool = False
) -> RowCompile:
    """Compile ``rows`` as valid at ``at`` (default: now), keeping the result of each row."""
    now = time_key(at or datetime.now(UTC))
    report = CompileReport()
    columns: dict[str, list[object]] = {name: [] for name in ROW_SCHEMA.names}
    atom_parts: list[pa.Table] = []
    base = 0
    for chunk in _chunks(rows, _CHUNK):
        done = _compile_bulk(chunk, now, report, include_subdomains)
        if done is None:
            done = _compile_python(chunk, now, report, include_subdomains)
        outcome, reasons, chunk_names, atoms, chunk_parts = done
        compiled = [i for i, result in enumerate(outcome) if result == ""]
        names: list[str | None] = [None] * len(chunk)
        for i, name in zip(compiled, chunk_names, strict=True):
            names[i] = name
        columns["pk"].extend(row.pk for row in chunk)
        columns["added_us"].extend(row.added_us for row in chunk)
        columns["stix_id"].extend(row.stix_id for row in chunk)
        columns["version_key"].extend(row.version_key for row in chunk)
        columns["outcome"].extend(outcome)
        columns["reason"].extend(reasons.get(i) for i in range(len(chunk)))
        columns["name"].extend(names)
        row_of_member = np.asarray(compiled, np.int64) + base
        for table_name, (values, members, directions) in chunk_parts:
            atom_parts.append(
                pa.table(
                    [
                        pa.array(row_of_member[members]),
                        pa.array(np.full(len(values), table_name, object), pa.string()),
                        values.cast(pa.string()),
                        pa.array(directions, pa.int8()),
                    ],
                    schema=ATOM_SCHEMA,
                )
            )
        listed = [(base + i, atom) for i in sorted(atoms) for atom in atoms[i]]
        if listed:
            atom_parts.append(
                pa.table(
                    [
                        pa.array([i for i, _ in listed], pa.int64()),
                        pa.array(
                            [
                                f"{ATOM_PREFIX}{a.kind.value}{':sub' if a.subdomains else ''}"
                                for _, a in listed
                            ],
                            pa.string(),
                        ),
                        pa.array([a.value for _, a in listed], pa.string()),
                        pa.array([a.direction for _, a in listed], pa.int8()),
                    ],
                    schema=ATOM_SCHEMA,
                )
            )
        base += len(chunk)
    return RowCompile(
        rows=pa.table(columns, schema=ROW_SCHEMA),
        atoms=pa.concat_tables(atom_parts) if atom_parts else ATOM_SCHEMA.empty_table(),
        next_change=report.next_change,
    )


def atom_of(table: str, value: str, direction: int) -> Atom:
    """Return the matcher entry of an ``atom:<kind>[:sub]`` row of :data:`ATOM_SCHEMA`."""
    kind, _, sub = table.removeprefix(ATOM_PREFIX).partition(":")
    return Atom(Kind(kind), value, direction, sub == "sub")


def readable_indicator_rows(
    *, session: Session, principal: Principal, conditions: Sequence[Any] = ()
) -> Iterator[IndicatorRow]:
    """Yield the latest version of each indicator ``principal`` may read, once per indicator.

    ``conditions`` narrow the rows further (an export's TLP, collection and age filters).
    """
    # An indicator in several collections appears once per collection: keep its newest version.
    duplicates = dict(
        session.execute(
            restrict(
                select(StixObject.stix_id, func.max(StixObject.version_key))
                .where(StixObject.type == "indicator", StixObject.is_latest.is_(True), *conditions)
                .group_by(StixObject.stix_id)
                .having(func.count() > 1),
                principal,
                Action.READ,
            )
        ).all()
    )
    seen: set[str] = set()
    query = restrict(
        select(
            StixObject.stix_id,
            StixObject.version_key,
            StixObject.revoked,
            StixObject.raw,
            StixObject.tlp,
        ).where(StixObject.type == "indicator", StixObject.is_latest.is_(True), *conditions),
        principal,
        Action.READ,
    ).execution_options(yield_per=5000)
    for stix_id, version_key, revoked, raw, tlp in session.execute(query):
        if stix_id in duplicates:
            if version_key != duplicates[stix_id] or stix_id in seen:
                continue
            seen.add(stix_id)
        yield IndicatorRow(stix_id, raw, bool(revoked), tlp == TLP.RED.value)


def compile_for(
    *,
    session: Session,
    principal: Principal,
    at: datetime | None = None,
    warn: bool = True,
    keep_entries: bool = False,
    include_subdomains: bool = False,
) -> Compiled:
    """Compile the indicators ``principal`` may read, as valid at ``at`` (default: now)."""
    return compile_rows(
        readable_indicator_rows(session=session, principal=principal),
        at=at,
        warn=warn,
        keep_entries=keep_entries,
        include_subdomains=include_subdomains,
    )
