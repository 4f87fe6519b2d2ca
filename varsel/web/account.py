"""The signed-in user's own account: change the password; my own clearance record (read only).

A new password ends every web session of the user (they carry a fingerprint of the hash) and
revokes every API token, so whoever held an old secret holds nothing afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from varsel.clearances import service as clearances
from varsel.error_map import status_of
from varsel.errors import InvalidInput, VarselError
from varsel.http.deps import DbSession, Hub
from varsel.orgs import service as orgs
from varsel.policy.principal import Principal
from varsel.web import pages, sessions
from varsel.web.clearances import row_of
from varsel.web.pages import form_page
from varsel.web.sessions import CheckedForm, CurrentSession, SignedIn

router = APIRouter(prefix="/account")


def _page(request: Request, db: Session, principal: Principal, **context: Any) -> Response:
    # The policy shows a person their own record; nothing here may change it (officers do).
    person = clearances.person_for_user(session=db, user_id=principal.user_id)
    mine = (
        clearances.list_clearances(session=db, principal=principal, person=person)
        if person is not None
        else []
    )
    now = datetime.now(UTC)
    return form_page(
        request,
        "account.html",
        notices=set(),
        person=person,
        clearance_rows=[row_of(c, now) for c in mine],
        **context,
    )


@router.get("")
def account(request: Request, db: DbSession, principal: SignedIn) -> Response:
    """Show my account, my clearance record and the form to change my password."""
    return _page(request, db, principal)


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
        return _page(
            request,
            db,
            principal,
            status_code=status_of(exc),
            **pages.refusal(exc, {"password": "new"}),
        )
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    sessions.end(response, state, session)
    return response
