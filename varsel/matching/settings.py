"""Settings of the matching domain, read from the environment at the moment they are needed.

``VARSEL_SIGHTING_K``: the least number of organisations whose sightings an aggregate must hold
before the community sees it (default 3, at least 2: one contributor is always identifiable).
"""

from __future__ import annotations

import os

from varsel.errors import InvalidInput

DEFAULT_K = 3


def sighting_k() -> int:
    """Return k, the least number of contributing organisations an aggregate must have."""
    raw = os.environ.get("VARSEL_SIGHTING_K", "").strip()
    if not raw:
        return DEFAULT_K
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"VARSEL_SIGHTING_K must be an integer, got {raw!r}") from None
    if value < 2:
        raise InvalidInput(
            "VARSEL_SIGHTING_K must be at least 2: with one contributor an "
            "aggregate names its victim"
        )
    return value
