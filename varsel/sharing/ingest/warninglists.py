"""Known-benign values (the MISP warning lists shipped inside ``pymispwarninglists``).

Flags indicators whose values are public resolvers, very popular domains, cloud ranges, benign
file hashes and the like — when they are shared (:func:`check_indicator`, called from ingest) and
when they are compiled (:func:`flag_atoms`). The hub decides with ``VARSEL_WARNINGLIST_MODE``
whether a flagged indicator is shared with a warning (``warn``, the default) or refused.

The lists hold about 2.5 million entries. Keeping them as Python sets would cost hundreds of
megabytes in every hub process, so each entry is kept only as its 64-bit ``hash()`` in a sorted
NumPy array (with the list it came from): the process-local hash is consistent within one
process, and a false flag needs a 64-bit collision (about 1 in 10^13 per lookup). The lists are
loaded once per process, on first use, from the package's data — never from the network.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import re
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from varsel import config
from varsel.observables.normalize import Kind
from varsel.observables.patterns import Atom, Unsupported, parse
from varsel.sharing.ingest._lookups import (
    Found,
    Hashed,
    Intervals,
    Substrings,
    check_networks,
    check_patterns,
)

__all__ = [
    "Mode",
    "check_indicator",
    "check_values",
    "flag_atoms",
    "flag_columns",
    "mode",
    "warninglist_mode",
]


class Mode(StrEnum):
    """What the hub does with an indicator on a warning list when it is shared."""

    WARN = "warn"
    REFUSE = "refuse"


def mode() -> Mode:
    """Return the configured mode (``VARSEL_WARNINGLIST_MODE``: warn or refuse)."""
    return warninglist_mode()


def warninglist_mode() -> Mode:
    """Return whether indicators on a warning list are shared with a warning or refused."""
    return Mode(config.current().warninglist_mode)


_ATTRIBUTES: Final = {
    Kind.IP: {"ip-src", "ip-dst", "domain|ip", "ip-src|port", "ip-dst|port", "ip"},
    Kind.DOMAIN: {"domain", "hostname", "domain|ip"},
    Kind.URL: {"url", "uri", "link"},
    Kind.EMAIL: {
        "email",
        "email-src",
        "email-dst",
        "target-email",
        "whois-registrant-email",
        "dns-soa-email",
    },
    Kind.HASH: {
        "md5",
        "sha1",
        "sha256",
        "sha512",
        "filename|md5",
        "filename|sha1",
        "filename|sha256",
        "filename|sha512",
    },
}


@dataclass
class _KindIndex:
    exact: Hashed
    hostnames: Hashed
    networks: list[tuple[int, Intervals]]
    patterns: list[tuple[int, re.Pattern[str]]]  # the regex lists
    substrings: list[Substrings]  # the substring lists


class _Lists:
    """Every warning list, indexed per kind of value on first use."""

    def __init__(self) -> None:
        spec = importlib.util.find_spec("pymispwarninglists")
        root = Path(spec.origin if spec and spec.origin else "").parent
        self.files = sorted((root / "data" / "misp-warninglists" / "lists").glob("*/list.json"))
        self.names: list[str] = []
        self._kinds: dict[Kind, _KindIndex] = {}
        self._lock = threading.Lock()
        if not self.files:
            raise RuntimeError("pymispwarninglists ships no lists; reinstall the package")

    def index(self, kind: Kind) -> _KindIndex:
        with self._lock:
            if not self._kinds:
                self._build()
            return self._kinds[kind]

    def _build(self) -> None:
        # One pass over the files for every kind: reading the JSON is most of the cost.
        exact: dict[Kind, list[np.ndarray]] = {k: [] for k in _ATTRIBUTES}
        hosts: dict[Kind, list[np.ndarray]] = {k: [] for k in _ATTRIBUTES}
        networks: dict[Kind, list[tuple[int, Intervals]]] = {k: [] for k in _ATTRIBUTES}
        patterns: dict[Kind, list[tuple[int, re.Pattern[str]]]] = {k: [] for k in _ATTRIBUTES}
        substrings: dict[Kind, list[Substrings]] = {k: [] for k in _ATTRIBUTES}
        for path in self.files:
            data = json.loads(path.read_text(encoding="utf-8"))
            attributes = set(data.get("matching_attributes") or ())
            kinds = [k for k, wanted in _ATTRIBUTES.items() if wanted & attributes]
            if not kinds:
                continue
            list_id = len(self.names)
            self.names.append(str(data["name"]))
            kind_of_list = data["type"]
            # Regular expressions keep their case (lower-casing would turn \D into \d).
            entries = [
                e.strip() if kind_of_list == "regex" else e.strip().lower()
                for e in map(str, data.pop("list"))
                if e.strip()
            ]
            if kind_of_list == "cidr":
                spans, plain = [], []
                for entry in entries:
                    span = _block(entry)
                    if span is None:
                        plain.append(entry)
                    else:
                        spans.append(span)
                intervals = Intervals.build(spans)
                for k in kinds:
                    networks[k].append((list_id, intervals))
                    exact[k].append(_pairs(plain, list_id))
            elif kind_of_list == "hostname":
                pairs = _pairs([e.strip(".") for e in entries], list_id)
                for k in kinds:
                    hosts[k].append(pairs)
            elif kind_of_list == "substring":
                if entries:
                    literals = Substrings.build(list_id, entries)
                    for k in kinds:
                        substrings[k].append(literals)
            elif kind_of_list == "regex":
                compiled = _compile(entries)
                for k in kinds:
                    patterns[k].extend((list_id, p) for p in compiled)
            else:
                pairs = _pairs(entries, list_id)
                for k in kinds:
                    exact[k].append(pairs)
            del data, entries
        for k in _ATTRIBUTES:
            self._kinds[k] = _KindIndex(
                Hashed.build(exact[k]),
                Hashed.build(hosts[k]),
                networks[k],
                patterns[k],
                substrings[k],
            )


def _block(entry: str) -> tuple[int, int, int] | None:
    """Return (version, first, last) of an address or CIDR block; fast for IPv4."""
    address, _, length = entry.partition("/")
    if ":" not in address:
        octets = address.split(".")
        if len(octets) != 4 or not all(o.isdigit() and int(o) < 256 for o in octets):
            return None
        prefix = int(length) if length.isdigit() and int(length) <= 32 else 32
        if length and not (length.isdigit() and int(length) <= 32):
            return None
        a, b, c, d = (int(o) for o in octets)
        host_bits = (1 << (32 - prefix)) - 1
        first = ((a << 24) | (b << 16) | (c << 8) | d) & ~host_bits
        return 4, first, first | host_bits
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None
    return network.version, int(network.network_address), int(network.broadcast_address)


def _pairs(entries: list[str], list_id: int) -> np.ndarray:
    array = np.empty((len(entries), 2), np.int64)
    array[:, 0] = np.fromiter((hash(e) for e in entries), np.int64, len(entries))
    array[:, 1] = list_id
    return array


def _compile(entries: list[str]) -> list[re.Pattern[str]]:
    compiled = []
    for entry in entries:
        try:
            compiled.append(re.compile(entry))
        except re.error:
            continue
    return compiled


_FLAG_SLICE: Final = 131_072
_LISTS: _Lists | None = None
_LISTS_LOCK: Final = threading.Lock()


def _lists() -> _Lists:
    global _LISTS
    with _LISTS_LOCK:
        if _LISTS is None:
            _LISTS = _Lists()
        return _LISTS


def check_values(kind: Kind, values: list[str]) -> list[list[str]]:
    """Return, for each canonical value of ``kind``, the names of the lists it is on."""
    found = _flags(kind, values)
    return [found.get(i, []) for i in range(len(values))]


def _flags(kind: Kind, values: list[str]) -> dict[int, list[str]]:
    """Return, by position, the names of the lists each flagged value is on (others absent)."""
    lists = _lists()
    lookup_kind = Kind.IP if kind is Kind.CIDR else kind
    index = lists.index(lookup_kind)
    # Sparse: a million values hold a few thousand flags, not a million empty sets.
    found: Found = defaultdict(set)
    index.exact.lookup(values, found)
    if kind in (Kind.DOMAIN, Kind.URL, Kind.EMAIL):
        # The host, then each parent domain: one bulk lookup per level.
        level = [(i, h) for i, h in enumerate(_host_of(kind, v) for v in values) if h]
        while level:
            index.hostnames.lookup([h for _, h in level], found, [i for i, _ in level])
            level = [(i, h.partition(".")[2]) for i, h in level if "." in h]
    if kind in (Kind.IP, Kind.CIDR) and index.networks:
        check_networks(index.networks, values, found)
    if index.patterns:
        check_patterns(index.patterns, values, found)
    for literals in index.substrings:
        literals.check(values, found)
    return {i: sorted(lists.names[j] for j in ids) for i, ids in found.items() if ids}


def _host_of(kind: Kind, value: str) -> str | None:
    if kind is Kind.DOMAIN:
        return value
    if kind is Kind.EMAIL:
        return value.rpartition("@")[2]
    # ``value`` is already canonical (scheme://host[:port]/path, see indicator_url), so the
    # host is read off it rather than parsed a second time.
    _, separator, rest = value.partition("://")
    if not separator:
        return None
    host = rest.split("/", 1)[0].rsplit(":", 1)[0]
    return None if not host or host.startswith("[") else host


def flag_atoms(entries: list[tuple[int, Atom]]) -> dict[int, list[str]]:
    """Return, per indicator index, one message per value found on a warning list."""
    by_kind: dict[Kind, list[tuple[pa.Array, np.ndarray]]] = {}
    for member, atom in entries:
        by_kind.setdefault(atom.kind, []).append(
            (pa.array([atom.value], pa.string()), np.array([member], np.int64))
        )
    return flag_columns(by_kind)


def flag_columns(by_kind: dict[Kind, list[tuple[pa.Array, np.ndarray]]]) -> dict[int, list[str]]:
    """Return, per indicator index, a message per value on a warning list.

    ``by_kind`` holds, per kind of value, (values, indicator indices) columns; each distinct
    value is checked once.
    """
    flags: dict[int, list[str]] = {}
    for kind, columns in by_kind.items():
        values = pa.concat_arrays(
            [v if isinstance(v, pa.Array) else pa.array(v, pa.string()) for v, _ in columns]
        )
        members = np.concatenate([np.asarray(m, np.int64) for _, m in columns])
        distinct = pc.unique(values)
        # A slice at a time: a million distinct values as Python strings would cost ~70 MB.
        on: dict[int, list[str]] = {}
        for start in range(0, len(distinct), _FLAG_SLICE):
            part = _flags(kind, distinct.slice(start, _FLAG_SLICE).to_pylist())
            on.update((start + position, names) for position, names in part.items())
        if not on:
            continue
        flagged = sorted(on)
        which = pc.index_in(values, value_set=distinct.take(pa.array(flagged, pa.int64())))
        rows = np.flatnonzero(np.asarray(pc.is_valid(which).to_numpy(False), dtype=bool))
        picked = pc.drop_null(which).to_numpy(zero_copy_only=False)
        texts = values.take(pa.array(rows)).to_pylist()
        for row, at, value in zip(rows.tolist(), picked.tolist(), texts, strict=True):
            flags.setdefault(int(members[row]), []).append(_message(value, on[flagged[at]]))
    return flags


def _message(value: str, names: list[str]) -> str:
    return (
        f"{value} is on the warning list{'s' if len(names) > 1 else ''} "
        + "; ".join(repr(n) for n in names[:3])
        + (" …" if len(names) > 3 else "")
    )


def check_indicator(obj: dict[str, Any]) -> list[str]:
    """Return a warning per value of a STIX indicator that is on a known-benign list.

    Objects that are not STIX-pattern indicators, and patterns the matcher cannot evaluate,
    give no warnings (the matcher reports those when it compiles).
    """
    if obj.get("type") != "indicator" or obj.get("pattern_type") != "stix":
        return []
    pattern = obj.get("pattern")
    if not isinstance(pattern, str):
        return []
    try:
        atoms = parse(pattern)
    except Unsupported:
        return []
    return flag_atoms([(0, atom) for atom in atoms]).get(0, [])


_KIND_ORDER: Final = list(Kind)


def check_indicators(objs: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Return, per object, a warning per value on a known-benign list, in one bulk check.

    Ingest calls this once per envelope: a per-indicator call pays the bulk machinery's fixed
    cost for every object, which made sharing hundreds of times slower.
    """
    by_kind: dict[Kind, tuple[list[str], list[int]]] = {}
    for index, obj in enumerate(objs):
        if obj.get("type") != "indicator" or obj.get("pattern_type") != "stix":
            continue
        pattern = obj.get("pattern")
        if not isinstance(pattern, str):
            continue
        try:
            atoms = parse(pattern)
        except Unsupported:
            continue
        for atom in atoms:
            values, members = by_kind.setdefault(atom.kind, ([], []))
            values.append(atom.value)
            members.append(index)
    # An envelope's few hundred values: plain Python around the look-ups, which for so few
    # values costs less than building Arrow columns (flag_columns is for bulk compiling).
    flags: dict[int, list[str]] = {}
    # Kinds in a fixed order, so an object's messages do not depend on its neighbours.
    for kind in sorted(by_kind, key=_KIND_ORDER.index):
        values, members = by_kind[kind]
        distinct = list(dict.fromkeys(values))
        on = {distinct[at]: names for at, names in _flags(kind, distinct).items()}
        for value, member in zip(values, members, strict=True):
            if value in on:
                flags.setdefault(member, []).append(_message(value, on[value]))
    return [flags.get(index, []) for index in range(len(objs))]
