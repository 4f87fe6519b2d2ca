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

import bisect
import importlib.util
import ipaddress
import json
import re
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import numpy as np

from varsel.matching._normalize import Kind, indicator_url
from varsel.matching._patterns import Atom, Unsupported, parse

__all__ = ["Mode", "check_indicator", "check_values", "flag_atoms", "mode"]


class Mode(StrEnum):
    """What the hub does with an indicator on a warning list when it is shared."""

    WARN = "warn"
    REFUSE = "refuse"


def mode() -> Mode:
    """Return the configured mode (``VARSEL_WARNINGLIST_MODE``: warn or refuse)."""
    from varsel.matching.settings import warninglist_mode

    return warninglist_mode()


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
class _Hashed:
    """Sorted 64-bit hashes of entries and the list each came from."""

    hashes: np.ndarray
    lists: np.ndarray

    @classmethod
    def build(cls, parts: list[np.ndarray]) -> _Hashed:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int16))
        array = np.concatenate(parts)
        order = np.argsort(array[:, 0], kind="stable")
        return cls(array[order, 0], array[order, 1].astype(np.int16))

    def lookup(self, values: list[str]) -> list[set[int]]:
        """Return, for each value, the lists holding it."""
        out: list[set[int]] = [set() for _ in values]
        if not len(self.hashes) or not values:
            return out
        keys = np.fromiter((hash(v) for v in values), np.int64, len(values))
        left = np.searchsorted(self.hashes, keys, side="left")
        right = np.searchsorted(self.hashes, keys, side="right")
        for at in np.flatnonzero(right > left).tolist():
            out[at].update(self.lists[left[at] : right[at]].tolist())
        return out


@dataclass
class _Intervals:
    """Merged address intervals of one list, searchable by bisection."""

    starts: list[int]
    ends: list[int]

    @classmethod
    def build(cls, spans: list[tuple[int, int, int]]) -> _Intervals:
        spans.sort()
        starts: list[int] = []
        ends: list[int] = []
        last_version = 0
        for version, first, last in spans:
            # Offset IPv6 past the IPv4 space so one sorted list holds both.
            first, last = (first, last) if version == 4 else (first + 2**32, last + 2**32)
            if starts and version == last_version and first <= ends[-1] + 1:
                ends[-1] = max(ends[-1], last)
            else:
                starts.append(first)
                ends.append(last)
            last_version = version
        return cls(starts, ends)

    def covers(self, network: Any) -> bool:
        """Return whether every address of ``network`` is in the list."""
        shift = 0 if network.version == 4 else 2**32
        first = int(network.network_address) + shift
        last = int(network.broadcast_address) + shift
        at = bisect.bisect_right(self.starts, first) - 1
        return at >= 0 and self.ends[at] >= last


@dataclass
class _KindIndex:
    exact: _Hashed
    hostnames: _Hashed
    networks: list[tuple[int, _Intervals]]
    patterns: list[tuple[int, re.Pattern[str]]]


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
        networks: dict[Kind, list[tuple[int, _Intervals]]] = {k: [] for k in _ATTRIBUTES}
        patterns: dict[Kind, list[tuple[int, re.Pattern[str]]]] = {k: [] for k in _ATTRIBUTES}
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
                intervals = _Intervals.build(spans)
                for k in kinds:
                    networks[k].append((list_id, intervals))
                    exact[k].append(_pairs(plain, list_id))
            elif kind_of_list == "hostname":
                pairs = _pairs([e.strip(".") for e in entries], list_id)
                for k in kinds:
                    hosts[k].append(pairs)
            elif kind_of_list in ("substring", "regex"):
                compiled = _compile(entries, substring=kind_of_list == "substring")
                for k in kinds:
                    patterns[k].extend((list_id, p) for p in compiled)
            else:
                pairs = _pairs(entries, list_id)
                for k in kinds:
                    exact[k].append(pairs)
            del data, entries
        for k in _ATTRIBUTES:
            self._kinds[k] = _KindIndex(
                _Hashed.build(exact[k]), _Hashed.build(hosts[k]), networks[k], patterns[k]
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


def _compile(entries: list[str], *, substring: bool) -> list[re.Pattern[str]]:
    if substring:
        return [re.compile("|".join(re.escape(e) for e in entries))] if entries else []
    compiled = []
    for entry in entries:
        try:
            compiled.append(re.compile(entry))
        except re.error:
            continue
    return compiled


_LISTS: _Lists | None = None
_LISTS_LOCK: Final = threading.Lock()


def _lists() -> _Lists:
    global _LISTS
    with _LISTS_LOCK:
        if _LISTS is None:
            _LISTS = _Lists()
        return _LISTS


def _suffixes(host: str) -> list[str]:
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def check_values(kind: Kind, values: list[str]) -> list[list[str]]:
    """Return, for each canonical value of ``kind``, the names of the lists it is on."""
    lists = _lists()
    lookup_kind = Kind.IP if kind is Kind.CIDR else kind
    index = lists.index(lookup_kind)
    found = index.exact.lookup(values)
    if kind in (Kind.DOMAIN, Kind.URL, Kind.EMAIL):
        hosts = [_host_of(kind, v) for v in values]
        suffixes = [_suffixes(h) if h else [] for h in hosts]
        flat = [s for group in suffixes for s in group]
        hits = index.hostnames.lookup(flat)
        at = 0
        for i, group in enumerate(suffixes):
            for _ in group:
                found[i].update(hits[at])
                at += 1
    if kind in (Kind.IP, Kind.CIDR) and index.networks:
        for i, value in enumerate(values):
            network = ipaddress.ip_network(value, strict=False)
            for list_id, intervals in index.networks:
                if intervals.covers(network):
                    found[i].add(list_id)
    for list_id, pattern in index.patterns:
        for i, value in enumerate(values):
            if pattern.search(value):
                found[i].add(list_id)
    return [sorted(lists.names[j] for j in ids) for ids in found]


def _host_of(kind: Kind, value: str) -> str | None:
    if kind is Kind.DOMAIN:
        return value
    if kind is Kind.EMAIL:
        return value.rpartition("@")[2]
    canonical = indicator_url(value)
    if canonical is None:
        return None
    host = canonical.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    return None if host.startswith("[") else host


def flag_atoms(entries: list[tuple[int, Atom]]) -> dict[int, list[str]]:
    """Return, per indicator index, one message per value found on a warning list."""
    by_kind: dict[Kind, list[tuple[int, str]]] = {}
    for member, atom in entries:
        by_kind.setdefault(atom.kind, []).append((member, atom.value))
    flags: dict[int, list[str]] = {}
    for kind, pairs in by_kind.items():
        names = check_values(kind, [v for _, v in pairs])
        for (member, value), on in zip(pairs, names, strict=True):
            if on:
                flags.setdefault(member, []).append(
                    f"{value} is on the warning list{'s' if len(on) > 1 else ''} "
                    + "; ".join(repr(n) for n in on[:3])
                    + (" …" if len(on) > 3 else "")
                )
    return flags


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
