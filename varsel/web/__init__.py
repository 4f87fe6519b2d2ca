"""The web interface: server-rendered pages for browsing, sharing and administering a hub.

Pages read through the same access policy as the API (``varsel.policy.restrict`` via the
sharing services and :mod:`varsel.web.queries`) and write through the same services. Sessions
and CSRF are in :mod:`varsel.web.sessions`; every string
is a gettext message (:mod:`varsel.web.i18n`).
"""

from __future__ import annotations

from fastapi import APIRouter

from varsel.web import (
    account,
    admin,
    alerts,
    auth,
    bulk,
    clearances,
    exports,
    federation,
    home,
    incidents,
    language,
    match,
    misp_admin,
    misp_connect,
    misp_import,
    objects,
    pivot,
    search,
    share,
    share_import,
    static,
)
from varsel.web.errors import install

router = APIRouter(include_in_schema=False)
# Every area's routes, listed explicitly.
router.include_router(static.router)
router.include_router(auth.router)
router.include_router(language.router)
router.include_router(home.router)
router.include_router(objects.router)
router.include_router(pivot.router)
router.include_router(bulk.router)
router.include_router(share_import.router)
router.include_router(search.router)
router.include_router(share.router)
router.include_router(exports.router)
router.include_router(match.router)
router.include_router(incidents.router)
router.include_router(admin.router)
router.include_router(federation.router)
router.include_router(account.router)
router.include_router(alerts.router)
router.include_router(clearances.router)
router.include_router(misp_import.router)
router.include_router(misp_connect.router)
router.include_router(misp_admin.router)

__all__ = ["install", "router"]
