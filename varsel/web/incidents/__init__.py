"""Incident pages: the list, the shared workspace, the obligations table, reports and the clock.

Every read goes through the incidents service (``service.get``, ``service.list_incidents``) and
``flows`` (obligations, reports, linked objects, the clock), which apply
``varsel.policy.restrict``; every write goes through the same service functions as the REST
API, which check the policy's WRITE and record the audit trail. Forms for changes are shown to
the incident's lead only, but the service decides.
"""

from __future__ import annotations

from fastapi import APIRouter

from varsel.web.incidents import _clock, _list, _obligations, _workspace
from varsel.web.incidents._clock import clock_chart
from varsel.web.incidents._common import local_text, parse_when, rsit_groups, utc_text

router = APIRouter()
# The list before the workspace: "/incidents" and "/incidents/{id}" never collide, but the
# order is the reading order of the pages.
router.include_router(_list.router)
router.include_router(_workspace.router)
router.include_router(_obligations.router)
router.include_router(_clock.router)

__all__ = ["clock_chart", "local_text", "parse_when", "router", "rsit_groups", "utc_text"]
