"""Compile a chunk of stored indicators with column operations instead of Python per indicator.

The stored JSON of a chunk is parsed by pyarrow's JSON reader (only the fields compiling needs),
validity is decided once per distinct ``valid_from``/``valid_until`` text, and patterns of the
common one-value form (``[type:path = 'value']``, ``[domain-name:value LIKE '%.x']``) are taken
apart with one regular expression over the whole column. Values whose canonical form is plainly
the same text (dotted-quad IPv4, ASCII domains, hex digests) are canonicalised by column kernels
that reproduce ``varsel.observables.normalize`` exactly; every other pattern or value goes
through the Python parser, so its reason is reported word for word. Anything the JSON reader
refuses sends the whole chunk back to the per-indicator path
(:func:`varsel.matching._compile.compile_python`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pjson

from varsel.matching._index import Part
from varsel.observables.normalize import HASH_ALGORITHMS, Kind
from varsel.observables.patterns import ANY, DST, SRC, Atom, Unsupported, parse

KeyOf = Callable[[object], str | None]  # a STIX timestamp's sortable key, or None
_SCHEMA: Final = pa.schema(
    [
        ("pattern", pa.string()),
        ("pattern_type", pa.string()),
        ("valid_from", pa.string()),
        ("valid_until", pa.string()),
        ("revoked", pa.bool_()),
        ("name", pa.string()),
    ]
)
_ONE_VALUE: Final = (
    r"^[ \t\r\n]*\[[ \t\r\n]*(?P<t>[a-z0-9-]+):(?P<p>[A-Za-z0-9_.'-]+)[ \t\r\n]*"
    r"(?P<op>=|LIKE)[ \t\r\n]*'(?P<v>[^'\\]*)'[ \t\r\n]*\][ \t\r\n]*$"
)
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4: Final = rf"^{_OCTET}(?:\.{_OCTET}){{3}}$"
_IPV4_BLOCK: Final = rf"^{_OCTET}(?:\.{_OCTET}){{3}}/(?:3[0-2]|[12][0-9]|[0-9])$"
_ASCII_NAME: Final = r"^[A-Za-z0-9_.-]+$"
_LABEL: Final = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_DOMAIN: Final = rf"^(?:{_LABEL}\.)*{_LABEL}$"
_IP_PATHS: Final = {
    ("ipv4-addr", "value"): ANY,
    ("ipv6-addr", "value"): ANY,
    ("network-traffic", "src_ref.value"): SRC,
    ("network-traffic", "dst_ref.value"): DST,
}


@dataclass
class Chunk:
    """What a chunk compiled to: per-row outcome, the vectorised atoms and the Python ones."""

    # per row: "" compiled, else the report counter (revoked, not_stix, …) or "unsupported"
    outcome: list[str]
    reasons: dict[int, str] = field(default_factory=dict)
    boundaries: list[str] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    parts: dict[str, list[tuple[np.ndarray, Part]]] = field(default_factory=dict)
    atoms: dict[int, list[Atom]] = field(default_factory=dict)


def read_json(raws: list[str]) -> pa.Table:
    """Return the fields compiling needs of each stored JSON object; raise pa.ArrowInvalid."""
    text = "\n".join(raws)
    if text.count("\n") != len(raws) - 1:
        # A newline inside stored JSON can only be whitespace between tokens.
        text = "\n".join(r.replace("\n", " ").replace("\r", " ") for r in raws)
    data = text.encode("utf-8")
    table = pjson.read_json(
        pa.BufferReader(data),
        read_options=pjson.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 20)),
        parse_options=pjson.ParseOptions(
            explicit_schema=_SCHEMA, unexpected_field_behavior="ignore"
        ),
    )
    if table.num_rows != len(raws):
        raise pa.ArrowInvalid("stored JSON is not one object per row")
    return table


def _keys(column: pa.ChunkedArray, key_of: KeyOf) -> tuple[list[str | None], np.ndarray]:
    """Return the time key of each distinct text and, per row, its distinct index (-1: none)."""
    distinct = pc.unique(column)
    keys = [key_of(v) for v in distinct.to_pylist()]
    at = pc.index_in(column, value_set=distinct)
    return keys, pc.fill_null(at, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _mask(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def compile_chunk(
    table: pa.Table,
    revoked_rows: np.ndarray,
    now: str,
    key_of: KeyOf,
    include_subdomains: bool,
) -> Chunk:
    """Classify every row of ``table`` and build the atoms of those that compile."""
    n = table.num_rows
    outcome = np.full(n, "", dtype=object)
    revoked = revoked_rows | _mask(pc.equal(table["revoked"], True))
    outcome[revoked] = "revoked"
    not_stix = ~revoked & ~_mask(pc.equal(table["pattern_type"], "stix"))
    outcome[not_stix] = "not_stix"
    chunk = Chunk(outcome=[])
    live = ~revoked & ~not_stix
    start_keys, start_at = _keys(table["valid_from"], key_of)
    end_keys, end_at = _keys(table["valid_until"], key_of)
    start_late = np.array([k is not None and k > now for k in start_keys] + [False])
    end_past = np.array([k is not None and k <= now for k in end_keys] + [False])
    end_set = np.array([k is not None for k in end_keys] + [False])
    late = live & start_late[start_at]
    outcome[late] = "not_yet_valid"
    chunk.boundaries += [start_keys[i] or "" for i in np.unique(start_at[late]).tolist()]
    live &= ~late
    expired = live & end_past[end_at]
    outcome[expired] = "expired"
    live &= ~expired
    chunk.boundaries += [
        end_keys[i] or "" for i in np.unique(end_at[live & end_set[end_at]]).tolist()
    ]
    patterns = table["pattern"].combine_chunks()
    parts = pc.extract_regex(patterns, _ONE_VALUE)
    fast = live & _mask(pc.is_valid(parts))
    obj_type, path, op, value = (parts.field(k) for k in ("t", "p", "op", "v"))
    combos = pc.binary_join_element_wise(obj_type, path, op, "\x00")
    distinct = pc.unique(combos)
    handlers = [_handler(c) for c in distinct.to_pylist()]
    which = pc.fill_null(pc.index_in(combos, value_set=distinct), -1).to_numpy(False)
    done = np.zeros(n, dtype=bool)
    pending: list[tuple[str, np.ndarray, pa.Array, int]] = []
    for h, handler in enumerate(handlers):
        if handler is None:
            continue
        rows = fast & (which == h)
        if not rows.any():
            continue
        picked = np.flatnonzero(rows)
        values = value.take(pa.array(picked))
        direction = handler[1] if handler[0] == "ip4" else ANY
        for table_name, ok, canonical in _canonical(handler, values):
            good = picked[ok]
            done[good] = True
            kept = canonical.filter(pa.array(ok))
            pending.append((table_name, good, kept, direction))
            if table_name == "domain" and include_subdomains:
                pending.append(("sub", good, kept, direction))
    slow = np.flatnonzero(live & ~done)
    slow_patterns = patterns.take(pa.array(slow)).to_pylist() if len(slow) else []
    for row, pattern in zip(slow.tolist(), slow_patterns, strict=True):
        try:
            atoms = parse(pattern) if isinstance(pattern, str) else []
        except Unsupported as exc:
            outcome[row], chunk.reasons[row] = "unsupported", str(exc)
            continue
        if not atoms:
            outcome[row], chunk.reasons[row] = "unsupported", "the indicator has no pattern"
            continue
        if include_subdomains:
            atoms = atoms + [
                Atom(a.kind, a.value, a.direction, True)
                for a in atoms
                if a.kind is Kind.DOMAIN and not a.subdomains
            ]
        chunk.atoms[row] = atoms
    compiled = outcome == ""
    member_of = np.cumsum(compiled) - 1  # member index within the chunk
    for table_name, rows, canonical, direction in pending:
        members = member_of[rows].astype(np.int32)
        directions = np.full(len(rows), direction, np.int8)
        chunk.parts.setdefault(table_name, []).append((rows, (canonical, members, directions)))
    # Names repeat (feeds name their indicators alike): share one str per distinct name.
    names = table["name"].filter(pa.array(compiled))
    distinct_names = pc.unique(names)
    name_at = pc.index_in(names, value_set=distinct_names).to_numpy(zero_copy_only=False)
    shared = distinct_names.to_pylist()
    chunk.names = [shared[int(i)] if i == i else None for i in name_at]
    chunk.outcome = outcome.tolist()
    return chunk


def _handler(combo: str | None) -> tuple[str, int] | None:
    """Return how a (type, path, operator) combination is canonicalised in bulk, if it is."""
    if combo is None:
        return None
    obj_type, path, op = combo.split("\x00")
    if op == "=" and (obj_type, path) in _IP_PATHS:
        return "ip4", _IP_PATHS[(obj_type, path)]
    if (obj_type, path) == ("domain-name", "value"):
        return ("domain", ANY) if op == "=" else ("like", ANY)
    if op == "=" and obj_type in ("file", "artifact") and path.startswith("hashes."):
        algorithm = path[len("hashes.") :]
        if algorithm.startswith("'") and algorithm.endswith("'") and len(algorithm) > 2:
            algorithm = algorithm[1:-1]
            if "'" in algorithm:
                return None
        elif not algorithm.replace("-", "").isalnum() or not algorithm.isascii():
            return None
        length = HASH_ALGORITHMS.get(algorithm.upper())
        return ("hash", length) if length else None
    return None


def _canonical(
    handler: tuple[str, int], values: pa.Array
) -> list[tuple[str, np.ndarray, pa.Array]]:
    """Return (table, which values are plainly canonical, their canonical forms) per table."""
    kind, extra = handler
    if kind == "ip4":
        plain = _mask(pc.match_substring_regex(values, _IPV4))
        return [("ip4", plain, values), *_ipv4_blocks(values)]
    if kind == "hash":
        ok = _mask(pc.match_substring_regex(values, f"^[0-9A-Fa-f]{{{extra}}}$"))
        return [("hash", ok, pc.ascii_lower(values))]
    table_name = "domain"
    if kind == "like":
        # '%.name' means strict subdomains; any other LIKE goes through the parser.
        ok = _mask(pc.starts_with(values, "%."))
        values = pc.utf8_slice_codeunits(values, 2)
        ok &= ~_mask(pc.match_substring(values, "_"))
        table_name = "sub"
    else:
        ok = np.ones(len(values), dtype=bool)
    ok &= _mask(pc.match_substring_regex(values, _ASCII_NAME))
    canonical = pc.utf8_rtrim(pc.ascii_lower(values), characters=".")
    ok &= _mask(pc.match_substring_regex(canonical, _DOMAIN))
    ok &= _mask(pc.less_equal(pc.utf8_length(canonical), 253))
    return [(table_name, ok, canonical)]


def _ipv4_blocks(values: pa.Array) -> list[tuple[str, np.ndarray, pa.Array]]:
    """Return IPv4 CIDR blocks as ipaddress writes them (host bits cleared; a /32 is an address)."""
    shaped = _mask(pc.match_substring_regex(values, _IPV4_BLOCK))
    if not shaped.any():
        return []
    picked = pa.array(np.flatnonzero(shaped))
    numbers = pc.list_flatten(pc.split_pattern_regex(values.take(picked), r"[./]"))
    parts = numbers.cast(pa.int64()).to_numpy().reshape(-1, 5)
    prefix = parts[:, 4]  # RE2 checked the shape: octets < 256, prefixes <= 32
    address = (parts[:, 0] << 24) | (parts[:, 1] << 16) | (parts[:, 2] << 8) | parts[:, 3]
    network = address & ~((np.int64(1) << (32 - prefix)) - 1)
    octets = [pa.array((network >> shift) & 255).cast(pa.string()) for shift in (24, 16, 8, 0)]
    dotted = pc.binary_join_element_wise(*octets, ".")
    with_prefix = pc.binary_join_element_wise(dotted, pa.array(prefix).cast(pa.string()), "/")
    canonical = pc.if_else(pa.array(prefix == 32), dotted, with_prefix)
    full = np.flatnonzero(shaped)
    out = []
    for table_name, keep in (("ip4", prefix == 32), ("cidr4", prefix < 32)):
        ok = np.zeros(len(values), dtype=bool)
        ok[full[keep]] = True
        aligned = (
            _scatter(len(values), full[keep], canonical.filter(pa.array(keep)))
            if keep.any()
            else values
        )
        out.append((table_name, ok, aligned))
    return out


def _scatter(size: int, positions: np.ndarray, values: pa.Array) -> pa.Array:
    """Return a string array of ``size`` with ``values`` at ``positions`` and nulls elsewhere."""
    index = np.full(size, -1, np.int64)
    index[positions] = np.arange(len(positions))
    return values.take(pa.array(index, mask=index < 0))
