"""Recognition requests: those my organisation sent, those it must decide, and the forms."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from varsel.clearances import service as register
from varsel.errors import InvalidInput
from varsel.http.deps import DbSession
from varsel.web.clearances._forms import form_int
from varsel.web.clearances._pages import render_requests, write_and_redirect
from varsel.web.pages import field
from varsel.web.sessions import Admin, CheckedForm


def requests_page(request: Request, db: DbSession, principal: Admin) -> Response:
    """List the recognition requests my organisation sent and those it must decide."""
    return render_requests(request, db, principal)


def request_recognition(
    request: Request, db: DbSession, principal: Admin, form: CheckedForm
) -> Response:
    """Ask another country's authority to recognise a verified clearance."""

    def act() -> None:
        register.request_recognition(
            session=db,
            principal=principal,
            clearance_id=form_int(form, "clearance_id", "a clearance"),
            country=field(form, "country"),
            note=field(form, "note"),
        )

    return write_and_redirect(
        request, db, principal, act, "/clearances/requests", "recognition_requested"
    )


def decide_request(
    request: Request, db: DbSession, principal: Admin, form: CheckedForm
) -> Response:
    """Approve or refuse a recognition request; a refusal needs a reason."""
    verdict = field(form, "decision")

    def act() -> None:
        if verdict not in {"approve", "refuse"}:
            raise InvalidInput("choose approve or refuse")
        register.decide_recognition(
            session=db,
            principal=principal,
            request_id=form_int(form, "request_id", "a request"),
            approve=verdict == "approve",
            reason=field(form, "reason"),
        )

    notice = "recognition_approved" if verdict == "approve" else "recognition_refused"
    return write_and_redirect(request, db, principal, act, "/clearances/requests", notice)
