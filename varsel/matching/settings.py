"""Settings of the matching domain, taken from ``varsel.config`` (read once at start-up).

``VARSEL_SIGHTING_K``: the least number of organisations whose sightings an aggregate must hold
before the community sees it (default 3, at least 2: one contributor is always identifiable).
``varsel.config.Settings`` reads and checks it when the hub or a command starts.
"""

from __future__ import annotations

from varsel import config


def sighting_k() -> int:
    """Return k, the least number of contributing organisations an aggregate must have."""
    return config.current().sighting_k
