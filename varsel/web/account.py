"""The signed-in user's own account: change the password.

A new password ends every web session of the user (they carry a fingerprint of the hash) and
revokes every API token, so whoever held an old secret holds nothing afterwards.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from varsel.error_map import status_of
from varsel.errors import InvalidInput, VarselError
from varsel.http.deps import DbSession, Hub
from varsel.orgs import service as orgs
from varsel.web import pages, sessions
from varsel.web.pages import form_page
from varsel.web.sessions import CheckedForm, CurrentSession, SignedIn

router = APIRouter(prefix="/account")


@router.get("")
def account(request: Request, principal: SignedIn) -> Response:
    """Show my account, with the form to change my password."""
    return form_page(request, "account.html", notices=set())


@router.post("/password")
def change_password(
    request: Request,
    state: Hub,
    db: DbSession,
    principal: SignedIn,
    session: CurrentSession,
    form: CheckedForm,
) -> Response:
    """Change my password after checking the current one; then sign in again."""
    new = str(form.get("new") or "")
    try:
        if new != str(form.get("repeat") or ""):
            raise InvalidInput("the new passwords differ", field="repeat")
        orgs.change_own_password(
            session=db, principal=principal, current=str(form.get("current") or ""), new=new
        )
    except VarselError as exc:
        db.rollback()
        return form_page(
            request,
            "account.html",
            notices=set(),
            status_code=status_of(exc),
            **pages.refusal(exc, {"password": "new"}),
        )
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    sessions.end(response, state, session)
    return response
