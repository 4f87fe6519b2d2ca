"""Which lines of a Zeek run may match: the C line prefilter, fed from a compiled matcher.

Most lines of a log match nothing, and parsing them into columns costs more than everything else
the scanner does. ``_prefilter.scan`` (C, built with the package) walks a run of lines once and
keeps the lines where some matched column holds a value that *may* be a key: the keys of the
exact tables are in a Bloom filter, hashed so that a value and all its dot-suffixes (tested
against a second filter of the subdomain rules) come out of one walk; dotted quads are tested
against the IPv4 block segments, indexed per /16. A false positive only costs a re-check: the
lines it keeps go through the same pyarrow reader and the same matcher as before, so results
are unchanged (the differential tests run with and without the filter). Where the filter could
miss a match, it is not used: when the C module is missing, for HTTP logs when URL indicators
are compiled (the matched URL is composed from two columns), for separators longer than one
byte, and for columns past the 256th.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

try:
    from varsel.matching import _prefilter
except ImportError:  # built without a C compiler: the scanner reads every line
    _prefilter = None  # type: ignore[assignment]

AVAILABLE: Final = _prefilter is not None
EXACT_TABLES: Final = ("ip4", "domain", "sub", "email", "hash")
_BITS_PER_KEY: Final = 32  # four probes in one word: under 0.01 % false positives per value


class Prefilter:
    """The compiled matcher's keys as a Bloom filter, plus its IPv4 segments and flags."""

    def __init__(self, matcher: Any) -> None:
        """Build from a :class:`varsel.matching._index.Matcher`."""
        assert _prefilter is not None
        tables = [matcher.tables[name].keys for name in EXACT_TABLES]
        self.bloom = _bloom(tables)
        sub = matcher.tables["sub"].keys
        self.sub = _bloom([sub]) if len(sub) else None
        # A rule whose key is only digits and dots makes dotted quads worth a parent test.
        digits = pc.match_substring_regex(sub, r"^[0-9.]+$") if len(sub) else None
        self.sub_digits = bool(digits is not None and pc.any(digits).as_py())
        self.segments: tuple[np.ndarray, ...] | None = None
        if matcher.has_cidr4:
            self.segments = _segments(
                np.asarray(matcher.cidr4_bounds, np.int64),
                np.asarray(matcher.cidr4_nonempty, np.uint8),
            )
        self.colon = bool(matcher.ip6) or bool(matcher.cidr6.bounds)
        self.urls = bool(matcher.url)

    def scan(
        self,
        run: pa.Buffer,
        *,
        log_path: str,
        fields: list[str],
        separator: str,
        set_separator: str,
        include: list[str],
        sets: dict[str, bool],
    ) -> tuple[int, int, np.ndarray] | None:
        """Return (lines, quiet regular lines, candidates) of ``run``; None when not usable.

        ``candidates`` is an (n, 3) int64 array of (line index in the run, start, end) with
        ``end`` the offset of the line's newline (or of the run's end).
        """
        if self.urls and log_path == "http":
            return None
        sep, set_sep = separator.encode(), set_separator.encode()
        if len(sep) != 1 or len(set_sep) != 1:
            return None
        columns = tuple((fields.index(name), sets[name]) for name in include)
        if any(index >= 256 for index, _ in columns):
            return None
        assert _prefilter is not None
        lines, quiet, packed = _prefilter.scan(
            run,
            0,
            run.size,
            sep[0],
            set_sep[0],
            len(fields),
            columns,
            self.bloom,
            self.sub,
            self.sub_digits,
            self.segments,
            self.colon,
        )
        return lines, quiet, np.frombuffer(packed, np.int64).reshape(-1, 3)


def gather(run: pa.Buffer, candidates: np.ndarray) -> bytes:
    """Return the candidate lines of ``run``, each ending with a newline."""
    view = memoryview(run)
    parts = [view[start:end] for start, end in candidates[:, 1:].tolist()]
    return b"\n".join(parts) + b"\n"


def _bloom(tables: list[pa.Array]) -> Any:
    """Return a Bloom filter of the keys of ``tables``."""
    assert _prefilter is not None
    count = sum(len(keys) for keys in tables)
    bloom = _prefilter.Bloom(max(16, math.ceil(math.log2(max(count, 1) * _BITS_PER_KEY))))
    for keys in tables:
        if len(keys):
            data, offsets = _key_buffers(keys)
            bloom.add(data, offsets)
    return bloom


def _segments(bounds: np.ndarray, nonempty: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return the IPv4 segments with their /16 index: (bounds, nonempty, index16, busy16).

    ``index16[p]`` is the segment holding the first address of the /16 ``p`` (-1 for none);
    ``busy16[p]`` tells whether a non-empty segment meets that /16, so that most addresses are
    turned away by one byte.
    """
    starts = np.arange(65537, dtype=np.int64) << 16
    index16 = (np.searchsorted(bounds, starts, side="right") - 1).astype(np.int32)
    ends = np.append(bounds[1:], np.int64(1) << 32)  # segment i is [bounds[i], ends[i])
    busy = np.zeros(65537, np.int64)
    live = np.flatnonzero(nonempty[: len(bounds)] & (ends > bounds))
    np.add.at(busy, bounds[live] >> 16, 1)
    np.add.at(busy, ((ends[live] - 1) >> 16) + 1, -1)
    busy16 = (np.cumsum(busy)[:65536] > 0).astype(np.uint8)
    return (
        np.ascontiguousarray(bounds),
        np.ascontiguousarray(nonempty, np.uint8),
        np.ascontiguousarray(index16),
        busy16,
    )


def _key_buffers(keys: pa.Array) -> tuple[pa.Buffer | bytes, np.ndarray]:
    """Return the data buffer and int64 offsets of a string array."""
    large = keys.cast(pa.large_string())
    _, offsets_buffer, data = large.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64)[large.offset : large.offset + len(large) + 1]
    return (data if data is not None else b""), np.ascontiguousarray(offsets)
