"""One object's page, to pivot from: what it is, what it relates to, where it is used, and acts.

The page shows the object by name (:mod:`varsel.web.names`), its relationships as a graph
(:mod:`varsel.web.graph`) and a list, the incidents that link it, sightings (the reader's own
and the community's k-anonymous aggregate), its versions, and the actions the policy would let
the reader take — link it to an incident, re-share it to a client, revoke it, export it. An
action the policy would refuse is not offered; the POST handlers still go through the same
services, which decide again.

Every id on the page is either of an object the reader may read (shown by its name) or is
replaced by "an object you cannot see": the raw JSON too, which says so when it was redacted.
"""

from __future__ import annotations

from fastapi import APIRouter

from varsel.web.pivot import _actions, _page
from varsel.web.pivot._page import NOTICES, properties

router = APIRouter()
router.include_router(_page.router)
router.include_router(_actions.router)

__all__ = ["NOTICES", "properties", "router"]
