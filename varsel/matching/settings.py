"""Settings of the matching domain, taken from ``varsel.config`` (read once at start-up).

``VARSEL_SIGHTING_K``: the least number of organisations whose sightings an aggregate must hold
before the community sees it (default 3, at least 2: one contributor is always identifiable).
``VARSEL_WARNINGLIST_MODE``: ``warn`` (default) or ``refuse`` indicators on a warning list.
``varsel.config.Settings`` refuses other values when the hub or a command starts.
"""

from __future__ import annotations

from varsel import config
from varsel.matching.warninglists import Mode


def sighting_k() -> int:
    """Return k, the least number of contributing organisations an aggregate must have."""
    return config.current().sighting_k


def warninglist_mode() -> Mode:
    """Return whether indicators on a warning list are shared with a warning or refused."""
    return Mode(config.current().warninglist_mode)
