"""MISP's REST API under ``/misp/`` — the part PyMISP and MISP's server sync use (docs/misp.md).

Callers authenticate as MISP clients do, with a hub API token in the bare ``Authorization``
header (``varsel.http.deps.authenticate`` accepts it under ``/misp/`` only); Bearer and Basic
work too. ``read`` holds what reads (and the feeds), ``write`` what shares.
"""

from __future__ import annotations

from fastapi import APIRouter

from varsel.misp.views import read, write

router = APIRouter(prefix="/misp")
router.include_router(read.router)
router.include_router(write.router)
