"""Types of the C line prefilter (``_prefilter.c``); see that file for the algorithm."""

from typing import TypeAlias

from numpy import ndarray
from typing_extensions import Buffer

_Bytes: TypeAlias = Buffer | ndarray

class Bloom:
    """A blocked Bloom filter of keys, hashed as log values are."""

    keys: int
    def __init__(self, bits_log2: int) -> None: ...
    def add(self, data: _Bytes, offsets: _Bytes) -> None:
        """Add the keys data[offsets[i]:offsets[i+1]] (offsets as int64)."""
    def maybe(self, value: bytes) -> bool:
        """Return False when the value is certainly not a key."""

def scan(
    data: _Bytes,
    lo: int,
    hi: int,
    sep: int,
    set_sep: int,
    width: int,
    columns: tuple[tuple[int, bool], ...],
    bloom: Bloom,
    sub: Bloom | None,
    sub_digits: bool,
    segments: tuple[_Bytes, ...] | None,
    colon: bool,
    /,
) -> tuple[int, int, bytes]:
    """Return (lines, quiet regular lines, packed int64 candidate triples) of a run."""
