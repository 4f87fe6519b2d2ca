"""Line numbers and texts of the rows of a run of Zeek lines, found only when a row matched."""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa

_NEWLINE: Final = 10


class Scratch:
    """A reusable boolean buffer: comparing a block into fresh memory costs twice as much."""

    def __init__(self) -> None:
        self._buffer = np.zeros(0, dtype=bool)

    def equal(self, data: np.ndarray, byte: int) -> np.ndarray:
        """Return ``data == byte`` in the shared buffer (valid until the next call)."""
        if len(self._buffer) < len(data):
            self._buffer = np.empty(len(data), dtype=bool)
        out = self._buffer[: len(data)]
        np.equal(data, byte, out=out)
        return out


class Rows:
    """The line number and text of row i of a run, the line index built only when needed.

    ``rows`` is None when every line of the run is a row (the fast path): row i is line i and
    only the newline offsets are needed. Otherwise the run held skipped lines, and a line is a
    row when it has as many fields as the header names. ``picked``, when the run holds only the
    prefilter's candidate lines, gives the line of the file's run that each line came from.
    """

    def __init__(
        self,
        run: pa.Buffer,
        first: int,
        rows: int | None,
        width: int,
        separator: str,
        scratch: Scratch,
        picked: np.ndarray | None = None,
    ) -> None:
        self._run, self._first, self._rows = run, first, rows
        self._picked = picked
        self._width, self._sep = width, separator.encode()
        self._scratch = scratch
        self._newlines: np.ndarray | None = None
        self._keep: np.ndarray | None = None

    def _ends(self) -> np.ndarray:
        if self._newlines is None:
            data = np.frombuffer(self._run, np.uint8)
            self._newlines = np.flatnonzero(self._scratch.equal(data, _NEWLINE))
        return self._newlines

    def _line_of(self, row: int) -> int:
        if self._rows is None:
            return row
        if self._keep is None:
            ends = self._ends().tolist()
            data = self._run.to_pybytes()
            starts = [0, *(e + 1 for e in ends)]
            ends.append(len(data))
            regular = [
                e > s and data.count(self._sep, s, e) == self._width - 1
                for s, e in zip(starts, ends, strict=False)
            ]
            self._keep = np.flatnonzero(np.array(regular, dtype=bool))
        return int(self._keep[row])

    def number(self, row: int) -> int:
        """Return the 1-based line number of ``row`` in the file."""
        line = self._line_of(row)
        if self._picked is not None:
            line = int(self._picked[line])
        return self._first + line + 1

    def text(self, row: int) -> str:
        """Return the raw text of ``row``."""
        line = self._line_of(row)
        ends = self._ends()
        start = int(ends[line - 1]) + 1 if line else 0
        end = int(ends[line]) if line < len(ends) else self._run.size
        text: bytes = self._run.slice(start, end - start).to_pybytes()
        return text.decode("utf-8", "replace").rstrip("\r")
