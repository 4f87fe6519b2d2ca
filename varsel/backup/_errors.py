"""The one exception backup and restore raise, and the progress callback they report through."""

from __future__ import annotations

from collections.abc import Callable

from varsel.errors import InvalidInput

# (what is being done, how much is done, the total or 0 when unknown)
Progress = Callable[[str, int, int], None]


def no_progress(_what: str, _done: int, _total: int) -> None:
    """Report nothing."""


class BackupError(InvalidInput):
    """A backup cannot be made or restored as asked (a file that is not one, of the other
    engine or a newer schema, a hub in the way); nothing was changed."""
