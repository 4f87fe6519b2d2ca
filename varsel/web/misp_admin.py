"""The MISP mapping (``/admin/misp``).

Where each organisation's events land; sharing groups and distribution ceilings.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
