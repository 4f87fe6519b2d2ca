"""The MISP import page (``/share/misp``).

Upload MISP event JSON, a feed directory's archive or a zip, and read the import report.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
