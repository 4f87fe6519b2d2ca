"""The "connect your MISP" page (``/connect/misp``).

The feed URLs and the remote-server settings to paste into MISP.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
