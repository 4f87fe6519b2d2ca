"""FastAPI dependencies as ``Annotated`` aliases: the database session and the principal."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from varsel.config import Settings
from varsel.errors import AuthenticationFailed, Forbidden, TooManyAttempts
from varsel.orgs import service as orgs
from varsel.orgs.models import TokenScope
from varsel.policy.principal import Principal
from varsel.sharing.ingest.helper import WarningListHelper


@dataclass
class HubState:
    """What every request needs: settings and the session factories (``readers`` for sessions
    that only read); and the warning-list helper process while the server runs one
    (varsel.sharing.ingest.helper). Nothing else is kept per process: throttles, sessions and
    cursors live in the database, so any number of processes serve one hub."""

    settings: Settings
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]
    warnings_helper: WarningListHelper | None = None


# Dependencies that do no I/O are ``async def``: FastAPI runs every plain ``def`` dependency in
# the thread pool, and each such hop costs about 0.1 ms of a request's few milliseconds.


async def hub(request: Request) -> HubState:
    """Return the hub state of the application serving ``request``."""
    state: HubState = request.app.state.hub
    return state


Hub = Annotated[HubState, Depends(hub)]


async def db_session(state: Hub) -> AsyncIterator[Session]:
    """Yield the request's session; handlers commit their unit of work themselves.

    Making a session does no I/O. Closing one that is still in a transaction rolls it back,
    which talks to the database, so that happens in the thread pool, off the event loop.
    """
    session = state.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


DbSession = Annotated[Session, Depends(db_session)]


def client_address(request: Request) -> str:
    """Return the peer address the throttle counts against."""
    return request.client.host if request.client else "unknown"


def _password_principal(value: str, state: HubState, address: str) -> Principal:
    """Check HTTP Basic credentials in a session of their own, committing the failure count."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise AuthenticationFailed("malformed Basic credentials")
    with state.sessions() as session:
        address_key = orgs.throttle_key("address", address)
        limit = state.settings.auth_failures_per_minute
        if orgs.window_full(session=session, key=address_key, limit=limit):
            raise TooManyAttempts("too many failed sign-ins from your address; wait a minute")
        try:
            principal = orgs.authenticate_password(
                session=session,
                username=username,
                password=password,
                address=address,
                free_attempts=state.settings.max_failed_logins,
                max_delay_seconds=state.settings.lockout_seconds,
            )
        except AuthenticationFailed:
            # Keep the failure counts (and any lock) even though the request fails.
            orgs.count_in_window(session=session, key=address_key)
            session.commit()
            raise
        session.commit()
    return principal


# MISP's REST API and feeds (varsel.misp.views): the one place a bare Authorization header counts.
MISP_PREFIX = "/misp/"

# The request-state key under which the body-limit middleware leaves the principal it checked.
AUTHENTICATED = "varsel_principal"

# POST routes that only read (a body too large for a query string); a read-only token may use them.
_READING_POSTS = frozenset(
    {
        "/api/v1/match",
        # MISP's searches and event index (varsel.misp.views.read): PyMISP and MISP's pull POST.
        "/misp/events/index",
        "/misp/events/index.json",
        "/misp/events/restSearch",
        "/misp/events/restSearch.json",
        "/misp/attributes/restSearch",
        "/misp/attributes/restSearch.json",
    }
)


def _reads_only(request: Request) -> bool:
    return request.method in {"GET", "HEAD", "OPTIONS"} or request.url.path in _READING_POSTS


def authenticate(request: Request, state: HubState, session: Session) -> Principal | None:
    """Return the principal of the Authorization header (Basic or Bearer), or None.

    A Bearer token is checked in the request's own session, so the request needs one
    connection; the check's transaction is committed at once. The API never accepts
    the web session cookie, so cross-site requests cannot ride on it.

    Tokens are never throttled: a 256-bit token cannot be guessed, and throttling them by
    address would let anyone behind the same NAT lock out everyone's automation. Passwords are
    throttled per account and address (``authenticate_password``) and, against spraying many
    accounts, per address too.
    """
    already = request.scope.get("state", {}).get(AUTHENTICATED)
    if isinstance(already, Principal):
        return already  # authenticated by varsel.api.limits before the body was read
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if not value and request.url.path.startswith(MISP_PREFIX):
        # MISP's clients (PyMISP, a MISP server's sync and feed fetcher) send their key as the
        # bare header value; under /misp/ a bare value is an API token, never a password.
        scheme, value = "bearer", scheme
    if scheme.lower() == "bearer":
        check = orgs.authenticate_token(session=session, token=value.strip())
        # End the check's transaction even when it wrote nothing: on SQLite it holds the write
        # lock (varsel.db), which sessions the handler opens of its own would wait for in vain.
        session.commit()
        if check.principal.scope is TokenScope.READ and not _reads_only(request):
            # restrict() and the change rules refuse a read token's writes too; this also
            # stops the writes that create rather than change (a new incident, a new person).
            raise Forbidden("a read-only token changes nothing")
        return check.principal
    if scheme.lower() != "basic":
        raise AuthenticationFailed("use HTTP Basic or Bearer authentication")
    return _password_principal(value, state, client_address(request))


def current_principal(request: Request, state: Hub, session: DbSession) -> Principal:
    """Return the caller's principal or fail with 401."""
    principal = authenticate(request, state, session)
    if principal is None:
        raise AuthenticationFailed("authentication is required (HTTP Basic or Bearer)")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
