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

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from varsel.matching._candidates import AVAILABLE as PREFILTER_AVAILABLE
from varsel.matching._candidates import Prefilter
from varsel.matching._tables import Members, Seen, Segments, Table
from varsel.observables.normalize import IPV4_SHAPE, Kind, Role, log_ip, log_url
from varsel.observables.patterns import ANY, Atom

Hit = tuple[int, int, str]  # (position in the value array, indicator index, canonical value)
Part = tuple[pa.Array, np.ndarray, np.ndarray]  # (canonical values, indicators, directions)
TABLES: Final = ("ip4", "domain", "sub", "email", "hash")
_LAST_ONE: Final = r"\.(?P<s>[^.]*)$"


class Matcher:
    """A compiled set of atoms, searchable a batch of values at a time."""

    def __init__(
        self, entries: Iterable[tuple[int, Atom]], parts: dict[str, list[Part]] | None = None
    ) -> None:
        """Index ``entries`` and, already as columns per table, ``parts``."""
        columns: dict[str, tuple[list[str], list[int], list[int]]] = {
            name: ([], [], []) for name in TABLES
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
        for block_values, block_members, block_directions in (parts or {}).get("cidr4", []):
            firsts, lasts = _ipv4_bounds(block_values)
            blocks4.extend(
                zip(
                    firsts.tolist(),
                    lasts.tolist(),
                    block_members.tolist(),
                    block_directions.tolist(),
                    strict=True,
                )
            )
        self.tables: dict[str, Table] = {}
        for name, (values, members, directions) in columns.items():
            chunks = [
                *(parts or {}).get(name, []),
                (
                    pa.array(values, pa.string()),
                    np.asarray(members, np.int32),
                    np.asarray(directions, np.int8),
                ),
            ]
            self.tables[name] = Table.build(
                pa.concat_arrays([c[0] for c in chunks]),
                np.concatenate([c[1] for c in chunks]),
                np.concatenate([c[2] for c in chunks]),
            )
        del columns
        seg4 = Segments.build(blocks4)
        self.cidr4_bounds = np.asarray(seg4.bounds, np.int64)
        self.cidr4_owners = seg4.owners
        self.cidr4_nonempty = np.array([bool(o) for o in seg4.owners], dtype=bool)
        self.cidr6 = Segments.build(blocks6)
        self.has_cidr4 = bool(blocks4)
        self._sub_tails: tuple[pa.Array, pa.Array] | None = None
        self._prefilter: Prefilter | None = None

    def prefilter(self) -> Prefilter | None:
        """Return the line prefilter of these keys (built on first use), None without C."""
        if self._prefilter is None and PREFILTER_AVAILABLE:
            self._prefilter = Prefilter(self)
        return self._prefilter

    # Lookups per role -------------------------------------------------------------------

    def match(
        self, values: pa.Array, role: Role, direction: int = ANY, seen: Seen | None = None
    ) -> set[Hit]:
        """Return the hits among ``values`` (a string array) for a field of ``role``.

        ``seen`` remembers, across the batches of one column, the values that matched nothing,
        so that they are not matched again.
        """
        values = values.cast(pa.string()) if values.type != pa.string() else values
        # Log columns repeat themselves (hosts, resolvers, popular names): match each distinct
        # value once and map the few hits back to their rows.
        distinct = pc.unique(values)
        if len(distinct) * 2 > len(values) and seen is None:
            return self._match_values(values, role, direction)
        if seen is not None:
            distinct = seen.fresh(distinct)
        found = self._match_values(distinct, role, direction)
        if seen is not None:
            seen.add(distinct, {position for position, _, _ in found})
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
        if role in (Role.EMAIL, Role.ANY) and len(self.tables["email"]):
            self._exact("email", pc.ascii_lower(values), direction, hits)
        if role in (Role.HASH, Role.ANY) and len(self.tables["hash"]):
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

    def _subdomain_candidates(self, names: pa.Array) -> pa.Array:
        """Return the names that may be strict subdomains of a key of the "sub" table.

        ``x.K`` ends with the last two labels of ``K`` (or, for a one-label ``K``, with its
        label), so only names whose last two labels (or last label) are among the keys' go
        through the label-by-label search.
        """
        if self._sub_tails is None:
            keys = self.tables["sub"].keys
            dotted = pc.fill_null(pc.match_substring(keys, "."), False)
            two = _reversed_tails(keys.filter(dotted))
            self._sub_tails = (pc.unique(two), pc.unique(keys.filter(pc.invert(dotted))))
        two_labels, one_label = self._sub_tails
        keep = pc.fill_null(pc.is_in(_reversed_tails(names), value_set=two_labels), False)
        if len(one_label):
            last = pc.extract_regex(names, _LAST_ONE).field("s")
            keep = pc.or_(keep, pc.fill_null(pc.is_in(last, value_set=one_label), False))
        return names.filter(keep)

    def _match_domain(self, values: pa.Array, direction: int, hits: set[Hit]) -> None:
        canonical = pc.utf8_rtrim(pc.ascii_lower(values), characters=".")
        self._exact("domain", canonical, direction, hits)
        table = self.tables["sub"]
        if not len(table):
            return
        distinct = self._subdomain_candidates(pc.unique(pc.drop_null(canonical)))
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
            if canonical is None:
                continue
            for member, d in self.url.get(canonical, []):
                if d in (ANY, direction):
                    hits.update((r, member, canonical) for r in rows)


def _reversed_tails(names: pa.Array) -> pa.Array:
    """Return the last two labels of each name, byte-reversed (cheaper than a regex)."""
    reversed_bytes = pc.binary_reverse(names.cast(pa.binary()))
    reversed_labels = pc.split_pattern(reversed_bytes, ".", max_splits=2)
    return pc.binary_join(pc.list_slice(reversed_labels, 0, 2), pa.scalar(b".", pa.binary()))


def _ipv4_bounds(blocks: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Return the first and last address of canonical IPv4 blocks ``a.b.c.d/p``."""
    if not len(blocks):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    numbers = pc.list_flatten(pc.split_pattern_regex(blocks, r"[./]")).cast(pa.int64())
    parts = numbers.to_numpy().reshape(-1, 5)
    first = (parts[:, 0] << 24) | (parts[:, 1] << 16) | (parts[:, 2] << 8) | parts[:, 3]
    return first, first | ((np.int64(1) << (32 - parts[:, 4])) - 1)


def _distinct(values: pa.Array, positions: np.ndarray) -> list[tuple[list[int], str]]:
    """Group ``positions`` by their value: [(positions, value)], one Python call per value."""
    groups: dict[str, list[int]] = defaultdict(list)
    texts = values.take(pa.array(positions)).to_pylist() if len(positions) else []
    for pos, text in zip(positions.tolist(), texts, strict=True):
        if text is not None:
            groups[text].append(pos)
    return [(rows, text) for text, rows in groups.items()]
