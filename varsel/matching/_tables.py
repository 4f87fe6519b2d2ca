"""The matcher's building blocks: sorted key tables, address-block segments, seen values."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from varsel.observables.patterns import ANY

Members = list[tuple[int, int]]  # (indicator index, direction)


@dataclass
class Table:
    """Sorted distinct keys, each owning members[offsets[k]:offsets[k+1]]."""

    keys: pa.Array
    offsets: np.ndarray
    members: np.ndarray
    directions: np.ndarray

    @classmethod
    def build(cls, values: pa.Array, members: np.ndarray, directions: np.ndarray) -> Table:
        if not len(values):
            return cls(
                pa.array([], pa.string()),
                np.zeros(1, np.int64),
                np.zeros(0, np.int32),
                np.zeros(0, np.int8),
            )
        order = pc.sort_indices(values)
        ordered = values.take(order)
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
class Segments:
    """Disjoint address intervals [bounds[i], bounds[i+1]) each owning the blocks covering it."""

    bounds: list[int]
    owners: list[Members]

    @classmethod
    def build(cls, blocks: list[tuple[int, int, int, int]]) -> Segments:
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


class Seen:
    """The values of one log column already matched without a hit, while that pays off.

    Remembering costs a hash-table probe per distinct value of a batch; it is given up when
    fewer than a quarter of a batch's distinct values were seen before (a column of mostly
    new values, e.g. random names) or when it grows past ``limit`` values.
    """

    def __init__(self, limit: int = 2_000_000) -> None:
        self.values: pa.Array | None = None
        self.active = True
        self.limit = limit

    def fresh(self, distinct: pa.Array) -> pa.Array:
        """Return the values of ``distinct`` not seen before."""
        if not self.active or self.values is None or not len(distinct):
            return distinct
        known = pc.is_in(distinct, value_set=self.values)
        if pc.sum(known).as_py() * 4 < len(distinct):
            self.active, self.values = False, None
        return distinct.filter(pc.invert(known))

    def add(self, checked: pa.Array, hit: set[int]) -> None:
        """Remember the values of ``checked`` whose positions are not in ``hit``."""
        if not self.active:
            return
        quiet = checked
        if hit:
            keep = np.ones(len(checked), dtype=bool)
            keep[list(hit)] = False
            quiet = checked.filter(pa.array(keep))
        self.values = quiet if self.values is None else pa.concat_arrays([self.values, quiet])
        if len(self.values) > self.limit:
            self.active, self.values = False, None
