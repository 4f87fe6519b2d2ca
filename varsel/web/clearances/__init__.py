"""Pages for security officers: the clearance register, recognition requests, expiring soon.

Security officers are the org-admins of a person's employer; hub-admins see every register.
Rows are read through ``varsel.policy.restrict`` (directly or through the clearance service)
and every change goes through :mod:`varsel.clearances.service`, which checks who may make it
and writes the audit log. The equivalence table, the ceiling and the agreements are shown from
:mod:`varsel.clearances.rules`, the same data the decision reads.

The private modules, by what they hold: ``_forms`` (notices, error status, form values),
``_pages`` (the register and request pages and the unit of work of a form), and the route
functions of ``_register``, ``_recognition`` and ``_expiring``, whose paths are listed here.
"""

from __future__ import annotations

from fastapi import APIRouter

from varsel.web.clearances._expiring import expiring_page
from varsel.web.clearances._forms import NOTICES
from varsel.web.clearances._pages import Row, row_of
from varsel.web.clearances._recognition import decide_request, request_recognition, requests_page
from varsel.web.clearances._register import (
    add_clearance,
    add_person,
    check,
    register_page,
    revoke,
    verify,
)

# The routes, registered explicitly on one router: its ``routes`` stay the plain list of page
# routes (which the CSRF test walks), where ``include_router`` would nest the modules' routers.
router = APIRouter(prefix="/clearances")
router.get("")(register_page)
router.post("/persons")(add_person)
router.post("/add")(add_clearance)
router.post("/verify")(verify)
router.post("/revoke")(revoke)
router.post("/check")(check)
router.get("/requests")(requests_page)
router.post("/requests")(request_recognition)
router.post("/requests/decide")(decide_request)
router.get("/expiring")(expiring_page)

__all__ = [
    "NOTICES",
    "Row",
    "add_clearance",
    "add_person",
    "check",
    "decide_request",
    "expiring_page",
    "register_page",
    "request_recognition",
    "requests_page",
    "revoke",
    "router",
    "row_of",
    "verify",
]
