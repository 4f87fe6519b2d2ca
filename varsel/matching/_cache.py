"""A compiled matcher kept on disk per reader, brought up to date by what changed since.

Compiling a reader's indicators (reading their JSON from the database, parsing the patterns)
costs several times the scan of a large log, so ``varsel scan`` keeps what compiling made of
each readable row in ``<data dir>/scan-cache/`` and next time compiles only what is new.

**What decides reuse.** Every scan first lists the rows the reader may read *now* — through
:func:`varsel.policy.restrict`, like every read — as (row id, ``date_added_us``) pairs. A row's
compiled form depends only on that row (its JSON, its revocation flag), which is never changed
in place (a new version is a new row; only ``is_latest``, a filter of the listing, flips), and a
row id reused after a deletion comes back with a later ``date_added``. So the cached rows still
in the listing are reused, the cached rows not in it are dropped — a revocation, a withdrawal, a
removed membership, a lowered clearance: whatever the policy no longer lets the reader see is
gone from the listing, hence from the matcher — and only the new rows are read and compiled.
Nothing the reader may not read can survive, whoever wrote the file: a row is used only when
the reader's own listing holds it. Validity (``valid_from``/``valid_until``) depends on time:
past the earliest validity boundary the cache knows of, everything is compiled afresh.

**Files.** One file per reader, database and option set (subdomain rules), created 0600 in a
0700 directory and replaced atomically. It carries an HMAC-SHA256 under a key derived from the
hub's secret key and names the user, organisation, role and database it was made for; a file
that fails any check is ignored (and overwritten), so it cannot be forged into another reader's
matcher, or moved between readers, without the hub's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from varsel.matching._compile import (
    ATOM_PREFIX,
    ATOM_SCHEMA,
    ROW_SCHEMA,
    Compiled,
    CompileReport,
    Ids,
    RowCompile,
    StoredRow,
    atom_of,
    compile_each,
    time_key,
)
from varsel.matching._index import Matcher, Part
from varsel.observables.patterns import Atom
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import StixObject

FORMAT: Final = 1
_MAGIC: Final = b"VARSEL-SCAN-CACHE\n"
_MAC_BYTES: Final = 32
# Beyond this many new rows one pass over everything is cheaper than look-ups by id.
_INCREMENTAL_LIMIT: Final = 20_000
_BY_ID: Final = 500
_BATCH: Final = 5000
_COUNTERS: Final = ("revoked", "expired", "not_yet_valid", "not_stix")


@dataclass(frozen=True)
class CacheResult:
    """The compiled matcher and how it was come by: ``compiled``, ``updated`` or ``reused``."""

    compiled: Compiled
    how: str
    new_rows: int = 0
    dropped_rows: int = 0


def cache_path(
    *, directory: Path, principal: Principal, database_url: str, subdomains: bool
) -> Path:
    """Return the cache file of one reader on one database with one option set."""
    scope = json.dumps([database_url, principal.user_id, subdomains]).encode()
    return directory / f"scan-{principal.user_id}-{hashlib.sha256(scope).hexdigest()[:24]}.cache"


def compile_cached(
    *,
    session: Session,
    principal: Principal,
    directory: Path,
    secret: str,
    database_url: str,
    include_subdomains: bool = False,
) -> CacheResult:
    """Return the indicators ``principal`` may read now, compiled, reusing the cache file."""
    now = datetime.now(UTC)
    path = cache_path(
        directory=directory,
        principal=principal,
        database_url=database_url,
        subdomains=include_subdomains,
    )
    header = _header(principal, database_url, include_subdomains)
    key = _mac_key(secret)
    loaded = _load(path, key, header)
    state, ready = loaded if loaded is not None else (None, None)
    if state is not None and state.next_change is not None and time_key(now) >= state.next_change:
        state = None  # an indicator became valid or expired since: compile afresh
    how, new_count, dropped = "compiled", 0, 0
    if state is not None:
        listed = _listing(session, principal)
        keep, new_pks = _diff(state.rows, listed)
        dropped = int(len(keep) - keep.sum())
        if len(new_pks) <= _INCREMENTAL_LIMIT:
            how, new_count = (
                ("reused" if not dropped and not len(new_pks) else "updated"),
                len(new_pks),
            )
            if how == "updated":
                fresh = compile_each(
                    _rows_by_id(session, principal, new_pks),
                    at=now,
                    include_subdomains=include_subdomains,
                )
                state = _merge(state, keep, fresh)
        else:
            state = None
    if state is None:
        state = compile_each(
            _all_rows(session, principal), at=now, include_subdomains=include_subdomains
        )
        how, dropped = "compiled", 0
        new_count = state.rows.num_rows
    if how == "reused" and ready is not None:
        return CacheResult(ready, how)
    compiled = _assemble(state)
    try:
        _save(path, key, header, state, compiled)
    except OSError:
        how += " (cache not writable)"  # the scan goes on; the next one compiles again
    return CacheResult(compiled, how, new_count, dropped)


def _header(principal: Principal, database_url: str, subdomains: bool) -> dict[str, object]:
    return {
        "format": FORMAT,
        "user_id": principal.user_id,
        "username": principal.username,
        "org_id": principal.org_id,
        "role": principal.role.value,
        "database": hashlib.sha256(database_url.encode()).hexdigest(),
        "subdomains": subdomains,
    }


def _mac_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"varsel scan cache v1", hashlib.sha256).digest()


# Reading the database ---------------------------------------------------------------------


def _readable(principal: Principal, *columns: Any) -> Select[Any]:
    """Return the latest indicator rows ``principal`` may read, as ``columns``."""
    return restrict(
        select(*columns).where(StixObject.type == "indicator", StixObject.is_latest.is_(True)),
        principal,
        Action.READ,
    )


def _listing(session: Session, principal: Principal) -> np.ndarray:
    """Return the (row id, date added) pairs the principal may read now, sorted by row id."""
    result = session.connection().execute(
        _readable(principal, StixObject.id, StixObject.date_added_us)
    )
    # Two integer columns need no result processing: the driver's tuples go straight to NumPy,
    # a third of the cost of building a row object per indicator.
    with result:
        pairs = np.array(result.cursor.fetchall(), np.int64).reshape(-1, 2)
    return pairs[np.argsort(pairs[:, 0], kind="stable")]


_COLUMNS: Final = (
    StixObject.id,
    StixObject.date_added_us,
    StixObject.stix_id,
    StixObject.version_key,
    StixObject.revoked,
    StixObject.raw,
)


def _stored(session: Session, query: Select[Any]) -> Iterator[StoredRow]:
    """Yield the rows of ``query`` (of :data:`_COLUMNS`) a batch at a time.

    As plain tuples of the columns: a dataclass instance per indicator would cost more than
    compiling it. (Not from the driver's cursor: a streaming result has already buffered the
    first row.)
    """
    result = session.connection().execute(query.execution_options(yield_per=_BATCH))
    with result:
        for batch in result.partitions():
            yield from map(StoredRow._make, batch)


def _all_rows(session: Session, principal: Principal) -> Iterator[StoredRow]:
    return _stored(session, _readable(principal, *_COLUMNS))


def _rows_by_id(session: Session, principal: Principal, pks: np.ndarray) -> Iterator[StoredRow]:
    ids = pks.tolist()
    for start in range(0, len(ids), _BY_ID):
        # Still through the policy: a row listed a moment ago may have become unreadable since.
        query = _readable(principal, *_COLUMNS).where(
            StixObject.id.in_(ids[start : start + _BY_ID])
        )
        yield from _stored(session, query)


def _diff(cached: pa.Table, listed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return which cached rows are still listed, and the listed row ids not cached."""
    ids = cached["pk"].to_numpy()
    added = cached["added_us"].to_numpy()
    at = np.searchsorted(listed[:, 0], ids)
    inside = at < len(listed)
    keep = np.zeros(len(ids), bool)
    keep[inside] = (listed[at[inside], 0] == ids[inside]) & (listed[at[inside], 1] == added[inside])
    known = np.zeros(len(listed), bool)
    known[at[keep]] = True
    return keep, listed[~known, 0]


def _merge(state: RowCompile, keep: np.ndarray, fresh: RowCompile) -> RowCompile:
    """Return ``state`` without the rows not kept, with the rows of ``fresh`` after them."""
    renumber = np.cumsum(keep) - 1
    atoms = state.atoms
    atom_rows = atoms["row"].to_numpy()
    live = keep[atom_rows] if len(atom_rows) else np.zeros(0, bool)
    atoms = atoms.filter(pa.array(live))
    atoms = atoms.set_column(0, "row", pa.array(renumber[atom_rows[live]], pa.int64()))
    base = int(keep.sum())
    fresh_atoms = fresh.atoms.set_column(
        0, "row", pc.add(fresh.atoms["row"], pa.scalar(base, pa.int64()))
    )
    boundaries = [b for b in (state.next_change, fresh.next_change) if b is not None]
    return RowCompile(
        rows=pa.concat_tables([state.rows.filter(pa.array(keep)), fresh.rows]),
        atoms=pa.concat_tables([atoms, fresh_atoms]),
        next_change=min(boundaries) if boundaries else None,
    )


# Building the matcher ---------------------------------------------------------------------


def _assemble(state: RowCompile) -> Compiled:
    """Return the matcher of the newest version of each indicator among the state's rows."""
    rows = state.rows
    report = CompileReport(next_change=state.next_change)
    n = rows.num_rows
    chosen = np.zeros(n, bool)
    if n:
        # An indicator readable in several collections counts once, in its newest version.
        order = pc.sort_indices(
            rows,
            sort_keys=[
                ("stix_id", "ascending"),
                ("version_key", "descending"),
                ("pk", "ascending"),
            ],
        ).to_numpy()
        ids = rows["stix_id"].take(pa.array(order))
        first = np.ones(n, bool)
        if n > 1:
            first[1:] = pc.not_equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(
                zero_copy_only=False
            )
        chosen[order[first]] = True
    outcome = rows["outcome"].to_numpy(zero_copy_only=False)
    report.readable = int(chosen.sum())
    for counter in _COUNTERS:
        setattr(report, counter, int((chosen & (outcome == counter)).sum()))
    unsupported = np.flatnonzero(chosen & (outcome == "unsupported"))
    if len(unsupported):
        picked = pa.array(unsupported)
        report.unsupported = list(
            zip(
                rows["stix_id"].take(picked).to_pylist(),
                rows["reason"].take(picked).to_pylist(),
                strict=True,
            )
        )
    members = chosen & (outcome == "")
    member_of = np.where(members, np.cumsum(members) - 1, -1)
    picked = pa.array(np.flatnonzero(members))
    stix_ids = rows["stix_id"].take(picked).combine_chunks()
    names = rows["name"].take(picked).to_pylist()
    atoms = state.atoms
    atom_members = member_of[atoms["row"].to_numpy()] if atoms.num_rows else np.zeros(0, np.int64)
    atoms = atoms.filter(pa.array(atom_members >= 0))
    atom_members = atom_members[atom_members >= 0]
    tables = atoms["table"].combine_chunks() if atoms.num_rows else pa.array([], pa.string())
    parts: dict[str, list[Part]] = {}
    entries: list[tuple[int, Atom]] = []
    directions_all = atoms["direction"].to_numpy() if atoms.num_rows else np.zeros(0, np.int8)
    for name in pc.unique(tables).to_pylist():
        mask = pc.equal(tables, name).to_numpy(zero_copy_only=False)
        values = atoms["value"].filter(pa.array(mask)).combine_chunks()
        owners = atom_members[mask]
        directions = directions_all[mask]
        if name.startswith(ATOM_PREFIX):
            entries.extend(
                (int(m), atom_of(name, v, int(d)))
                for m, v, d in zip(owners, values.to_pylist(), directions, strict=True)
            )
        else:
            parts[name] = [(values, owners.astype(np.int32), directions.astype(np.int8))]
    report.compiled = len(stix_ids)
    report.atoms = int(len(atom_members))
    return Compiled(
        matcher=Matcher(entries, parts),
        ids=Ids([stix_ids]),
        names=names,
        report=report,
    )


# The file ---------------------------------------------------------------------------------


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _save(
    path: Path, key: bytes, header: dict[str, object], state: RowCompile, compiled: Compiled
) -> None:
    """Write the state and its matcher atomically, readable by this user alone."""
    meta = json.dumps({**header, "next_change": state.next_change}).encode()
    # The assembled matcher too, so that a scan with nothing changed builds nothing. It is
    # unpickled only once the MAC (under the hub's secret) shows this process's kind wrote it.
    ready = pickle.dumps(compiled, protocol=pickle.HIGHEST_PROTOCOL)
    body = b"".join(
        struct.pack(">Q", len(part)) + part
        for part in (meta, _ipc(state.rows), _ipc(state.atoms), ready)
    )
    mac = hmac.new(key, body, hashlib.sha256).digest()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)  # an older or hand-made directory: others may not even list it
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".scan-", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(_MAGIC + mac + body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path, key: bytes, header: dict[str, object]) -> tuple[RowCompile, Compiled] | None:
    """Return the state and matcher kept in ``path``, or None unless every check passes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None  # someone else could have written or read it: do not trust it
        data = handle.read()
    start = len(_MAGIC) + _MAC_BYTES
    if not data.startswith(_MAGIC) or len(data) < start:
        return None
    body = data[start:]
    if not hmac.compare_digest(
        data[len(_MAGIC) : start], hmac.new(key, body, hashlib.sha256).digest()
    ):
        return None
    parts: list[bytes] = []
    offset = 0
    while offset + 8 <= len(body) and len(parts) < 4:
        (size,) = struct.unpack_from(">Q", body, offset)
        parts.append(body[offset + 8 : offset + 8 + size])
        offset += 8 + size
    if len(parts) != 4:
        return None
    meta = json.loads(parts[0])
    if {k: meta.get(k) for k in header} != header:
        return None
    rows = pa.ipc.open_stream(parts[1]).read_all()
    atoms = pa.ipc.open_stream(parts[2]).read_all()
    if rows.schema != ROW_SCHEMA or atoms.schema != ATOM_SCHEMA:
        return None
    ready = pickle.loads(parts[3])
    if not isinstance(ready, Compiled):
        return None
    return RowCompile(rows=rows, atoms=atoms, next_change=meta.get("next_change")), ready
