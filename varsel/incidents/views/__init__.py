"""The incidents REST API under ``/api/v1/incidents`` (RFC 9457 errors).

Everything the web pages need is here: the incident workspace, its significance, the
obligations table, each stage's report (JSON or printable HTML) and the clock.

The private modules, by what they hold: ``_common`` (the id type, times, the workspace as
JSON, and the answer to a write the writer may not read), ``_workspace`` (the incident and
what hangs off it) and ``_reports`` (clock, vocabularies, obligations, reports, submissions).
The reporting routes come first: ``/clock`` must be matched before ``/{incident_id}``.
"""

from __future__ import annotations

from fastapi import APIRouter

from varsel.incidents.views import _reports, _workspace

router = APIRouter()
router.include_router(_reports.router)
router.include_router(_workspace.router)

__all__ = ["router"]
