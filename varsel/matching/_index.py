"""The fast matcher: hash tables of canonical values, interval search for address blocks.

Exact values live in sorted, de-duplicated Arrow string arrays; a batch of log values is looked
up with one vectorised ``index_in`` per table. Every key owns a run of (indicator, direction)
members in CSR form (``offsets`` into ``members``/``directions``), so a key shared by many
indicators costs no Python objects. IPv4 blocks are cut into disjoint segments whose integer
starts are searched with ``numpy.searchsorted``; subdomain keys are found by stripping one label
at a time from the batch's distinct domains. IPv6 values and URLs are canonicalised in Python,
once per distinct value.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from varsel.matching._normalize import IPV4_SHAPE, Kind, Role, log_ip, log_url
from varsel.matching._patterns import ANY, Atom

Hit = tuple[int, int, str]  # (position in the value array, indicator index, canonical value)
Members = list[tuple[int, int]]  # (indicator index, direction)


@dataclass
class _Table:
    """Sorted distinct keys, each owning members[offsets[k]:offsets[k+1]]."""

    keys: pa.Array
    offsets: np.ndarray
    members: np.ndarray
    directions: np.ndarray

    @classmethod
    def build(cls, values: list[str], members: list[int], directions: list[int]) -> _Table:
        if not values:
            return cls(
                pa.array([], pa.string()),
                np.zeros(1, np.int64),
                np.zeros(0, np.int32),
                np.zeros(0, np.int8),
            )
        array = pa.array(values, pa.string())
        order = pc.sort_indices(array)
        ordered = array.take(order)
        order_np = order.to_numpy()
        if len(ordered) > 1:
            changed = pc.not_equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))
            starts = np.concatenate(([0], np.flatnonzero(changed.to_numpy(False)) + 1))
        else:
            starts = np.zeros(1, np.int64)
        return cls(
            keys=ordered.take(pa.array(starts)),
            offsets=np.append(starts, len(ordered)).astype(np.int64),
            members=np.asarray(members, np.int32)[order_np],
            directions=np.asarray(directions, np.int8)[order_np],
        )

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Return (positions, key indices) of the values that are keys."""
        if not len(self.keys) or not len(values):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        found = pc.index_in(values, value_set=self.keys)
        mask = pc.is_valid(found)
        positions = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        if not len(positions):
            return positions, positions
        keys = pc.filter(found, mask).to_numpy(zero_copy_only=False).astype(np.int64)
        return positions, keys

    def expand(
        self, positions: np.ndarray, keys: np.ndarray, direction: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (positions, indicator indices) for every member of the found keys."""
        return _expand(positions, keys, self.offsets, self.members, self.directions, direction)


def _expand(
    positions: np.ndarray,
    keys: np.ndarray,
    offsets: np.ndarray,
    members: np.ndarray,
    directions: np.ndarray,
    direction: int,
) -> tuple[np.ndarray, np.ndarray]:
    starts = offsets[keys]
    counts = offsets[keys + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.repeat(positions, counts)
    # Member index for each output: its key's start plus its rank inside the key's run.
    firsts = np.cumsum(counts) - counts
    picks = np.repeat(starts - firsts, counts) + np.arange(total)
    keep = (directions[picks] == ANY) | (directions[picks] == direction)
    return rows[keep], members[picks][keep].astype(np.int64)


@dataclass
class _Segments:
    """Disjoint address intervals [bounds[i], bounds[i+1]) each owning the blocks covering it."""

    bounds: list[int]
    owners: list[Members]

    @classmethod
    def build(cls, blocks: list[tuple[int, int, int, int]]) -> _Segments:
        """Build from (first, last, indicator, direction) blocks by a sweep over their ends."""
        events: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for first, last, member, direction in blocks:
            events[first].append((1, member, direction))
            events[last + 1].append((-1, member, direction))
        bounds: list[int] = []
        owners: list[Members] = []
        active: dict[tuple[int, int], int] = {}
        for point in sorted(events):
            for delta, member, direction in events[point]:
                key = (member, direction)
                active[key] = active.get(key, 0) + delta
                if active[key] == 0:
                    del active[key]
            bounds.append(point)
            owners.append(sorted(active))
        return cls(bounds, owners)

    def owners_of(self, value: int) -> Members:
        """Return the members whose blocks contain ``value``."""
        at = bisect.bisect_right(self.bounds, value) - 1
        return self.owners[at] if at >= 0 else []


class Matcher:
    """A compiled set of atoms, searchable a batch of values at a time."""

    def __init__(self, entries: Iterable[tuple[int, Atom]]) -> None:
        columns: dict[str, tuple[list[str], list[int], list[int]]] = {
            name: ([], [], []) for name in ("ip4", "domain", "sub", "email", "hash")
        }
        self.ip6: dict[str, Members] = defaultdict(list)
        self.url: dict[str, Members] = defaultdict(list)
        blocks4: list[tuple[int, int, int, int]] = []
        blocks6: list[tuple[int, int, int, int]] = []
        for member, atom in entries:
            kind = atom.kind
            if kind is Kind.IP:
                if ":" in atom.value:
                    self.ip6[atom.value].append((member, atom.direction))
                    continue
                name = "ip4"
            elif kind is Kind.CIDR:
                net = ipaddress.ip_network(atom.value)
                block = (
                    int(net.network_address),
                    int(net.broadcast_address),
                    member,
                    atom.direction,
                )
                (blocks4 if net.version == 4 else blocks6).append(block)
                continue
            elif kind is Kind.URL:
                self.url[atom.value].append((member, atom.direction))
                continue
            elif kind is Kind.DOMAIN:
                name = "sub" if atom.subdomains else "domain"
            else:
                name = kind.value
            values, members, directions = columns[name]
            values.append(atom.value)
            members.append(member)
            directions.append(atom.direction)
        self.tables = {name: _Table.build(*cols) for name, cols in columns.items()}
        del columns
        seg4 = _Segments.build(blocks4)
        self.cidr4_bounds = np.asarray(seg4.bounds, np.int64)
        self.cidr4_owners = seg4.owners
        self.cidr4_nonempty = np.array([bool(o) for o in seg4.owners], dtype=bool)
        self.cidr6 = _Segments.build(blocks6)
        self.has_cidr4 = bool(blocks4)

    # Lookups per role -------------------------------------------------------------------

    def match(self, values: pa.Array, role: Role, direction: int = ANY) -> set[Hit]:
        """Return the hits among ``values`` (a string array) for a field of ``role``."""
        values = values.cast(pa.string()) if values.type != pa.string() else values
        # Log columns repeat themselves (hosts, resolvers, popular names): match each distinct
        # value once and map the few hits back to their rows.
        distinct = pc.unique(values)
        if len(distinct) * 2 > len(values):
            return self._match_values(values, role, direction)
        found = self._match_values(distinct, role, direction)
        if not found:
            return set()
        by_position: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for position, member, value in found:
            by_position[position].append((member, value))
        keys = sorted(by_position)
        which = pc.index_in(values, value_set=distinct.take(pa.array(keys, pa.int64())))
        mask = pc.is_valid(which)
        rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        picked = pc.filter(which, mask).to_numpy(zero_copy_only=False)
        hits: set[Hit] = set()
        for row, at in zip(rows.tolist(), picked.tolist(), strict=True):
            hits.update((row, member, value) for member, value in by_position[keys[at]])
        return hits

    def _match_values(self, values: pa.Array, role: Role, direction: int) -> set[Hit]:
        hits: set[Hit] = set()
        if role in (Role.IP, Role.ANY):
            self._match_ip(values, direction, hits)
        if role in (Role.DOMAIN, Role.ANY):
            self._match_domain(values, direction, hits)
        if role in (Role.URL, Role.ANY):
            self._match_url(values, direction, hits)
        if role in (Role.EMAIL, Role.ANY):
            self._exact("email", pc.ascii_lower(values), direction, hits)
        if role in (Role.HASH, Role.ANY):
            self._exact("hash", pc.ascii_lower(values), direction, hits)
        return hits

    def _exact(self, name: str, values: pa.Array, direction: int, hits: set[Hit]) -> None:
        table = self.tables[name]
        positions, keys = table.find(values)
        if len(positions):
            rows, members = table.expand(positions, keys, direction)
            texts = values.take(pa.array(rows, pa.int64())).to_pylist() if len(rows) else []
            hits.update(zip(rows.tolist(), members.tolist(), texts, strict=True))

    def _match_ip(self, values: pa.Array, direction: int, hits: set[Hit]) -> None:
        self._exact("ip4", values, direction, hits)
        if self.has_cidr4:
            shaped = pc.match_substring_regex(values, IPV4_SHAPE)
            positions = np.flatnonzero(pc.fill_null(shaped, False).to_numpy(False))
            if len(positions):
                self._match_cidr4(values.take(pa.array(positions)), positions, direction, hits)
        if self.ip6 or self.cidr6.bounds:
            colon = pc.fill_null(pc.match_substring(values, ":"), False)
            positions = np.flatnonzero(colon.to_numpy(False))
            for row, text in _distinct(values, positions):
                parsed = log_ip(text)
                if parsed is None or parsed[1] != 6:
                    continue
                canonical, _, number = parsed
                owners = self.ip6.get(canonical, []) + self.cidr6.owners_of(number)
                for r in row:
                    hits.update((r, m, canonical) for m, d in owners if d in (ANY, direction))

    def _match_cidr4(
        self, shaped: pa.Array, positions: np.ndarray, direction: int, hits: set[Hit]
    ) -> None:
        octets = pc.list_flatten(pc.split_pattern(shaped, ".")).cast(pa.int64())
        quads = octets.to_numpy(zero_copy_only=False).reshape(-1, 4)
        valid = (quads <= 255).all(axis=1)
        numbers = (quads[:, 0] << 24) | (quads[:, 1] << 16) | (quads[:, 2] << 8) | quads[:, 3]
        segment = np.searchsorted(self.cidr4_bounds, numbers, side="right") - 1
        covered = valid & (segment >= 0)
        covered[covered] &= self.cidr4_nonempty[segment[covered]]
        for at in np.flatnonzero(covered).tolist():
            owners = self.cidr4_owners[int(segment[at])]
            if owners:
                row = int(positions[at])
                text = shaped[at].as_py()
                hits.update((row, m, text) for m, d in owners if d in (ANY, direction))

    def _match_domain(self, values: pa.Array, direction: int, hits: set[Hit]) -> None:
        canonical = pc.utf8_rtrim(pc.ascii_lower(values), characters=".")
        self._exact("domain", canonical, direction, hits)
        table = self.tables["sub"]
        if not len(table):
            return
        distinct = pc.unique(pc.drop_null(canonical))
        found: dict[int, set[int]] = defaultdict(set)  # distinct index -> key indices
        where = np.arange(len(distinct))
        current = distinct
        while len(current):
            dotted = pc.fill_null(pc.match_substring(current, "."), False)
            keep = np.flatnonzero(dotted.to_numpy(False))
            if not len(keep):
                break
            where = where[keep]
            current = pc.list_element(
                pc.split_pattern(current.take(pa.array(keep)), ".", max_splits=1), 1
            )
            positions, keys = table.find(current)
            for pos, key in zip(positions.tolist(), keys.tolist(), strict=True):
                found[int(where[pos])].add(key)
        if not found:
            return
        names = distinct.take(pa.array(list(found), pa.int64())).to_pylist()
        key_sets = [np.array(sorted(keys), np.int64) for keys in found.values()]
        which = pc.index_in(canonical, value_set=pa.array(names, pa.string()))
        mask = pc.is_valid(which)
        rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        picked = pc.filter(which, mask).to_numpy(zero_copy_only=False)
        for row, name_at in zip(rows.tolist(), picked.tolist(), strict=True):
            keys = key_sets[name_at]
            _, members = table.expand(np.full(len(keys), row, np.int64), keys, direction)
            hits.update((row, m, names[name_at]) for m in members.tolist())

    def _match_url(self, values: pa.Array, direction: int, hits: set[Hit]) -> None:
        if not self.url:
            return
        schemed = pc.fill_null(pc.match_substring(values, "://"), False)
        positions = np.flatnonzero(schemed.to_numpy(False))
        for rows, text in _distinct(values, positions):
            canonical = log_url(text)
            for member, d in self.url.get(canonical, []) if canonical else []:
                if d in (ANY, direction):
                    hits.update((r, member, canonical) for r in rows)


def _distinct(values: pa.Array, positions: np.ndarray) -> list[tuple[list[int], str]]:
    """Group ``positions`` by their value: [(positions, value)], one Python call per value."""
    groups: dict[str, list[int]] = defaultdict(list)
    texts = values.take(pa.array(positions)).to_pylist() if len(positions) else []
    for pos, text in zip(positions.tolist(), texts, strict=True):
        if text is not None:
            groups[text].append(pos)
    return [(rows, text) for text, rows in groups.items()]
