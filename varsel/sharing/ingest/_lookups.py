"""Bulk look-ups behind the warning lists: hashed entries, merged address intervals, searches.

Each structure answers for many values at once (NumPy ``searchsorted``, pyarrow's RE2), adding
to a sparse ``Found`` map, so that checking a million indicators costs seconds, not minutes.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import ahocorasick
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Found = dict[int, set[int]]  # value position -> ids of the lists holding it


@dataclass
class Hashed:
    """Sorted 64-bit hashes of entries and the list each came from."""

    hashes: np.ndarray
    lists: np.ndarray

    @classmethod
    def build(cls, parts: list[np.ndarray]) -> Hashed:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int16))
        array = np.concatenate(parts)
        order = np.argsort(array[:, 0], kind="stable")
        return cls(array[order, 0], array[order, 1].astype(np.int16))

    def lookup(self, values: list[str], found: Found, positions: list[int] | None = None) -> None:
        """Add to ``found`` (by position, or ``positions[i]``) the lists holding each value."""
        if not len(self.hashes) or not values:
            return
        keys = np.fromiter((hash(v) for v in values), np.int64, len(values))
        # Searching sorted keys walks the table in order (several times faster than random
        # probes into millions of hashes); the few hits then find the end of their run.
        order = np.argsort(keys)
        ordered = keys[order]
        left = np.searchsorted(self.hashes, ordered, side="left")
        inside = left < len(self.hashes)
        hit = np.zeros(len(keys), dtype=bool)
        hit[inside] = self.hashes[left[inside]] == ordered[inside]
        for at in np.flatnonzero(hit).tolist():
            right = int(np.searchsorted(self.hashes, ordered[at], side="right"))
            position = int(order[at])
            where = position if positions is None else positions[position]
            found[where].update(self.lists[left[at] : right].tolist())


@dataclass
class Intervals:
    """Merged address intervals of one list, searchable by bisection."""

    starts: list[int]
    ends: list[int]
    _v4: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def build(cls, spans: list[tuple[int, int, int]]) -> Intervals:
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

    def covers4(self, firsts: np.ndarray, lasts: np.ndarray) -> np.ndarray:
        """Return, per IPv4 block [first, last], whether the list holds all of it."""
        if self._v4 is None:
            count = bisect.bisect_left(self.starts, 2**32)
            self._v4 = (
                np.asarray(self.starts[:count], np.int64),
                np.asarray(self.ends[:count], np.int64),
            )
        starts, ends = self._v4
        at = np.searchsorted(starts, firsts, side="right") - 1
        inside = at >= 0
        inside[inside] &= ends[at[inside]] >= lasts[inside]
        return inside

    def covers(self, network: Any) -> bool:
        """Return whether every address of ``network`` is in the list."""
        shift = 0 if network.version == 4 else 2**32
        first = int(network.network_address) + shift
        last = int(network.broadcast_address) + shift
        at = bisect.bisect_right(self.starts, first) - 1
        return at >= 0 and self.ends[at] >= last


@dataclass
class Substrings:
    """One substring warning list: an Aho-Corasick automaton, and RE2 chunks for bulk checks.

    A few hundred values (one envelope at ingest) go through the automaton: pyarrow compiles a
    regular expression on every call, which for a list of thousands of literals costs more than
    the search. Bulk checks (compiling indicators) go through RE2 alternations of at most
    ``CHUNK`` literals, faster per value than a Python loop; RE2 drops its DFA for larger ones
    (1.2 s against 0.18 s for 450,000 names and 4,941 entries). Both say whether a value
    contains an entry, so they agree (tests/matching/test_patterns_warninglists.py).
    """

    list_id: int
    automaton: Any
    chunks: list[str]

    CHUNK = 1000
    BULK = 20_000  # values from which RE2 chunks are used

    @classmethod
    def build(cls, list_id: int, entries: list[str]) -> Substrings:
        automaton = ahocorasick.Automaton()
        for entry in entries:
            automaton.add_word(entry, None)
        automaton.make_automaton()
        chunks = [
            "|".join(re.escape(e) for e in entries[i : i + cls.CHUNK])
            for i in range(0, len(entries), cls.CHUNK)
        ]
        return cls(list_id, automaton, chunks)

    def check(self, values: list[str], found: Found) -> None:
        """Add this list to ``found`` for every value that contains one of its entries."""
        if len(values) < self.BULK:
            self.check_small(values, found)
        else:
            check_patterns([(self.list_id, re.compile(c)) for c in self.chunks], values, found)

    def check_small(self, values: list[str], found: Found) -> None:
        """Check with the automaton (any batch size; used below ``BULK``)."""
        for at, value in enumerate(values):
            if next(self.automaton.iter(value), None) is not None:
                found[at].add(self.list_id)


def check_networks(networks: list[tuple[int, Intervals]], values: list[str], found: Found) -> None:
    """Add the CIDR lists that hold each address or block (IPv4 in bulk, IPv6 one by one)."""
    v4, firsts, lasts = ipv4_spans(values)
    for list_id, intervals in networks:
        for at in np.flatnonzero(intervals.covers4(firsts, lasts)).tolist():
            found[int(v4[at])].add(list_id)
    other = np.ones(len(values), dtype=bool)
    other[v4] = False
    for i in np.flatnonzero(other).tolist():
        value = values[i]
        if ":" in value:
            network = ipaddress.ip_network(value, strict=False)
            for list_id, intervals in networks:
                if intervals.covers(network):
                    found[i].add(list_id)


def ipv4_spans(values: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the positions, first and last addresses of the canonical IPv4 values/blocks."""
    array = pa.array(values, pa.string())
    shaped = pc.match_substring_regex(array, r"^[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?$")
    at = np.flatnonzero(np.asarray(pc.fill_null(shaped, False).to_numpy(False), dtype=bool))
    if not len(at):
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    picked = array.take(pa.array(at))
    blocks = pc.if_else(
        pc.match_substring(picked, "/"), picked, pc.binary_join_element_wise(picked, "32", "/")
    )
    numbers = pc.list_flatten(pc.split_pattern_regex(blocks, r"[./]")).cast(pa.int64())
    parts = numbers.to_numpy().reshape(-1, 5)
    valid = (parts[:, :4] <= 255).all(axis=1) & (parts[:, 4] <= 32)
    parts, at = parts[valid], at[valid]
    address = (parts[:, 0] << 24) | (parts[:, 1] << 16) | (parts[:, 2] << 8) | parts[:, 3]
    size = (np.int64(1) << (32 - parts[:, 4])) - 1
    first = address & ~size
    return at, first, first | size


def check_patterns(
    patterns: list[tuple[int, re.Pattern[str]]], values: list[str], found: Found
) -> None:
    """Add the substring/regex lists each value hits.

    RE2 (pyarrow) searches plain ASCII one-line values in bulk; it agrees with Python's ``re``
    there. Other values, and expressions RE2 does not accept, are searched with ``re``.
    """
    array = pa.array(values, pa.string())
    plain = np.asarray(
        pc.fill_null(
            pc.and_(pc.string_is_ascii(array), pc.invert(pc.match_substring(array, "\n"))),
            False,
        ).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    rest = np.flatnonzero(~plain).tolist()
    for list_id, pattern in patterns:
        try:
            hits = pc.match_substring_regex(array, pattern.pattern)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            candidates = range(len(values))
        else:
            mask = np.asarray(pc.fill_null(hits, False).to_numpy(zero_copy_only=False), bool)
            for at in np.flatnonzero(mask & plain).tolist():
                found[at].add(list_id)
            candidates = rest  # type: ignore[assignment]
        for at in candidates:
            if pattern.search(values[at]):
                found[at].add(list_id)
