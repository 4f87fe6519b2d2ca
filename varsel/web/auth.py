"""Sign in and sign out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from varsel.audit import service as audit
from varsel.errors import AccountLocked, AuthenticationFailed
from varsel.http.deps import DbSession, Hub, client_address
from varsel.orgs import service as orgs
from varsel.orgs.models import User
from varsel.web import sessions
from varsel.web.render import render
from varsel.web.sessions import CheckedForm, CurrentSession

router = APIRouter()


def safe_next(value: object) -> str:
    """Return ``value`` if it is a path on this hub, else ``/`` (no open redirects)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


@router.get("/login")
def login_page(request: Request, session: CurrentSession, next: str = "/") -> Response:
    """Show the sign-in form (or go on when already signed in)."""
    if session.principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), username="", error=None)


@router.post("/login")
def login(request: Request, state: Hub, db: DbSession, form: CheckedForm) -> Response:
    """Check the username and password; start a session or say why not."""
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = safe_next(form.get("next"))
    address = client_address(request)
    address_key = orgs.throttle_key("address", address)
    limit = state.settings.auth_failures_per_minute
    if orgs.window_full(session=db, key=address_key, limit=limit):
        return render(
            request,
            "login.html",
            status_code=429,
            next=target,
            username=username,
            error="throttled",
        )
    try:
        principal = orgs.authenticate_password(
            session=db,
            username=username,
            password=password,
            address=address,
            free_attempts=state.settings.max_failed_logins,
            max_delay_seconds=state.settings.lockout_seconds,
        )
    except AuthenticationFailed as exc:
        # The failure counts and any lock (with its audit event) are kept.
        orgs.count_in_window(session=db, key=address_key)
        db.commit()
        key = "locked" if isinstance(exc, AccountLocked) else "failed"
        return render(
            request, "login.html", status_code=401, next=target, username=username, error=key
        )
    audit.record(
        session=db,
        actor=principal.label,
        action="auth.signin",
        target=username,
        details={"via": "web", "address": address},
    )
    # Read before the commit: a transaction left open here would hold SQLite's write lock
    # against the sign-in record written next in a session of its own (varsel.db).
    user = db.get(User, principal.user_id)
    assert user is not None  # just authenticated
    db.commit()
    response = RedirectResponse(target, status_code=303)
    sessions.start(response, state, user)
    return response


@router.post("/logout")
def logout(
    request: Request, state: Hub, db: DbSession, session: CurrentSession, form: CheckedForm
) -> Response:
    """End the session and return to the sign-in page."""
    if session.principal is not None:
        audit.record(
            session=db,
            actor=session.principal.label,
            action="auth.signout",
            target=session.principal.username,
            details={"via": "web"},
        )
        db.commit()
    response = RedirectResponse("/login", status_code=303)
    sessions.end(response, state, session)
    return response
