"""Web sessions: a signed, expiring cookie, a CSRF token per session, and the signed-in user.

The cookie holds ``{"n": nonce, "u": user id, "p": password fingerprint}`` signed with the hub's
secret key (itsdangerous, HMAC-SHA1 over a key derived for this purpose) and timestamped, so it
expires after :data:`SESSION_SECONDS` however long the browser keeps it. A signed-in session is
also recorded server-side (``web_sessions``, the nonce stored as its SHA-256), so that it ends in
every worker at once. A session ends when:

* the user signs out (the row is marked ended and the browser drops the cookie);
* the user's password changes (the fingerprint no longer matches);
* the user is disabled or deleted, or the cookie is older than :data:`SESSION_SECONDS`.

The CSRF token is an HMAC of the session nonce, so it needs no storage either; every POST must
carry it in the ``csrf`` form field. Signing in issues a new nonce (no session fixation).

The API never reads this cookie (see ``varsel.http.deps``), so a cross-site request can never
ride on it into ``/api`` or ``/taxii2``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import update
from starlette.datastructures import FormData
from starlette.responses import Response

from varsel.clock import utcnow
from varsel.errors import AuthenticationFailed, Forbidden, TooLarge
from varsel.http.deps import Hub, HubState
from varsel.orgs.models import Role, User
from varsel.policy.principal import Principal, principal_of
from varsel.web.models import WebSignIn

COOKIE = "varsel_session"
SESSION_SECONDS = 8 * 3600
_SALT = "varsel-web-session"
# Form bodies other than a bundle upload are small; this bounds what a POST can make us parse.
MAX_FIELDS = 200


class SignInRequired(AuthenticationFailed):
    """The page needs a signed-in user; the web layer answers with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in to open this page")
        self.next_path = next_path


class CsrfRefused(Forbidden):
    """A POST without the session's CSRF token (or from another origin); answered with 403."""


class NotPermitted(Forbidden):
    """The signed-in user may not open this page (e.g. an analyst on an admin page)."""


@dataclass(frozen=True)
class WebSession:
    """A request's session: its nonce and, when signed in, the principal."""

    nonce: str
    principal: Principal | None
    csrf: str
    fresh: bool = False


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=_SALT)


def csrf_token(secret_key: str, nonce: str) -> str:
    """Return the CSRF token of the session with ``nonce``."""
    return hmac.new(
        secret_key.encode("utf-8"), b"varsel-csrf:" + nonce.encode("ascii"), hashlib.sha256
    ).hexdigest()


def password_fingerprint(user: User) -> str:
    """Return a short digest of the user's password hash; a new password ends old sessions."""
    return hashlib.sha256((user.password_hash or "").encode("utf-8")).hexdigest()[:16]


def _read_cookie(request: Request, state: HubState) -> dict[str, Any] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(state.settings.secret_key).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        return None
    return data


def web_session(request: Request, state: Hub) -> WebSession:
    """Return the request's session, resolving a signed-in user to a fresh principal."""
    cached = getattr(request.state, "web_session", None)
    if isinstance(cached, WebSession):
        return cached
    data = _read_cookie(request, state)
    principal = None
    if data is None:
        nonce, fresh = secrets.token_urlsafe(24), True
    else:
        nonce, fresh = data["n"], False
        if isinstance(data.get("u"), int):
            with state.readers() as session:
                user = session.get(User, data["u"])
                sign_in = session.get(WebSignIn, _nonce_hash(nonce))
                live = (
                    sign_in is not None
                    and sign_in.user_id == data["u"]
                    and sign_in.ended_at is None
                    and sign_in.expires_at > utcnow()
                )
                # Roles and organisations are read on every request: a change applies at once.
                if (
                    live
                    and user is not None
                    and user.disabled_at is None
                    and data.get("p") == password_fingerprint(user)
                ):
                    principal = principal_of(user)
    result = WebSession(
        nonce=nonce,
        principal=principal,
        csrf=csrf_token(state.settings.secret_key, nonce),
        fresh=fresh,
    )
    request.state.web_session = result
    return result


CurrentSession = Annotated[WebSession, Depends(web_session)]


def signed_in(request: Request, session: CurrentSession) -> Principal:
    """Return the signed-in principal or send the browser to the sign-in page."""
    if session.principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return session.principal


SignedIn = Annotated[Principal, Depends(signed_in)]


def admin(principal: SignedIn) -> Principal:
    """Return the principal if it is an org-admin or hub-admin, else refuse the page."""
    if principal.role not in (Role.ORG_ADMIN, Role.HUB_ADMIN):
        raise NotPermitted("administration is for org-admins and hub-admins")
    return principal


Admin = Annotated[Principal, Depends(admin)]


def hub_admin(principal: SignedIn) -> Principal:
    """Return the principal if it is a hub-admin, else refuse the page."""
    if principal.role is not Role.HUB_ADMIN:
        raise NotPermitted("this page is for hub-admins")
    return principal


HubAdmin = Annotated[Principal, Depends(hub_admin)]


def _same_origin(request: Request) -> bool:
    # Browsers send Origin on every cross-site POST; when present it must be this hub.
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in {f"http://{host}", f"https://{host}"}


async def checked_form(request: Request, session: CurrentSession) -> AsyncIterator[FormData]:
    """Yield the POSTed form after checking its CSRF token and origin; refuse otherwise."""
    if not _same_origin(request):
        raise CsrfRefused("the form was sent from another site")
    state: HubState = request.app.state.hub
    limit = state.settings.max_content_length
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise TooLarge(f"the form exceeds {limit} bytes")
    form = await request.form(max_fields=MAX_FIELDS, max_files=1, max_part_size=limit)
    token = form.get("csrf")
    try:
        if (
            session.fresh
            or not isinstance(token, str)
            or not hmac.compare_digest(token, session.csrf)
        ):
            raise CsrfRefused("the form's security token is missing or out of date")
        yield form
    finally:
        await form.close()  # uploaded files are spooled to temporary files


CheckedForm = Annotated[FormData, Depends(checked_form)]


def set_cookie(response: Response, state: HubState, data: dict[str, Any]) -> None:
    """Sign ``data`` into the session cookie on ``response``."""
    response.set_cookie(
        COOKIE,
        _serializer(state.settings.secret_key).dumps(data),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=state.settings.secure_cookies,
        path="/",
    )


def ensure_cookie(response: Response, state: HubState, session: WebSession) -> None:
    """Set an anonymous session cookie when the request arrived without one."""
    if session.fresh:
        set_cookie(response, state, {"n": session.nonce})


def start(response: Response, state: HubState, user: User) -> None:
    """Begin a signed-in session for ``user`` with a new nonce, recorded server-side."""
    nonce = secrets.token_urlsafe(24)
    now = utcnow()
    with state.sessions() as session:
        session.add(
            WebSignIn(
                nonce_hash=_nonce_hash(nonce),
                user_id=user.id,
                created_at=now,
                expires_at=now + timedelta(seconds=SESSION_SECONDS),
            )
        )
        session.commit()
    set_cookie(response, state, {"n": nonce, "u": user.id, "p": password_fingerprint(user)})


def end(response: Response, state: HubState, session: WebSession) -> None:
    """End ``session`` in every worker and drop the cookie in the browser."""
    with state.sessions() as db:
        db.execute(
            update(WebSignIn)
            .where(WebSignIn.nonce_hash == _nonce_hash(session.nonce))
            .values(ended_at=utcnow())
        )
        db.commit()
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="lax", secure=state.settings.secure_cookies
    )
