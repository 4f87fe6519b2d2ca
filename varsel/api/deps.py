"""FastAPI dependencies as ``Annotated`` aliases: the database session and the principal."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from varsel.api.ratelimit import FailureWindow
from varsel.config import Settings
from varsel.errors import AuthenticationFailed, TooManyAttempts
from varsel.orgs import service as orgs
from varsel.orgs.service import Principal


@dataclass
class HubState:
    """What every request needs: settings, the session factory and the throttle."""

    settings: Settings
    sessions: sessionmaker[Session]
    throttle: FailureWindow


def hub(request: Request) -> HubState:
    """Return the hub state of the application serving ``request``."""
    state: HubState = request.app.state.hub
    return state


Hub = Annotated[HubState, Depends(hub)]


def db_session(state: Hub) -> Iterator[Session]:
    """Yield a session; handlers commit their unit of work themselves."""
    session = state.sessions()
    try:
        yield session
    finally:
        session.close()


DbSession = Annotated[Session, Depends(db_session)]


def client_address(request: Request) -> str:
    """Return the peer address the throttle counts against."""
    return request.client.host if request.client else "unknown"


def authenticate(request: Request, state: HubState) -> Principal | None:
    """Return the principal of the Authorization header (Basic or Bearer), or None.

    The API never accepts the web session cookie, so cross-site requests cannot ride on it.
    """
    header = request.headers.get("authorization")
    address = client_address(request)
    if header is None:
        return None
    if state.throttle.blocked(address):
        raise TooManyAttempts("too many failed authentications from your address; wait a minute")
    scheme, _, value = header.partition(" ")
    session = state.sessions()
    try:
        if scheme.lower() == "bearer":
            principal = orgs.authenticate_token(session=session, token=value.strip())
        elif scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise AuthenticationFailed("malformed Basic credentials") from None
            username, sep, password = decoded.partition(":")
            if not sep:
                raise AuthenticationFailed("malformed Basic credentials")
            principal = orgs.authenticate_password(
                session=session,
                username=username,
                password=password,
                max_failures=state.settings.max_failed_logins,
                lockout_seconds=state.settings.lockout_seconds,
            )
        else:
            raise AuthenticationFailed("use HTTP Basic or Bearer authentication")
        session.commit()
        return principal
    except AuthenticationFailed:
        # Keep the failure count (and any lock) even though the request fails.
        session.commit()
        state.throttle.fail(address)
        raise
    finally:
        session.close()


def optional_principal(request: Request, state: Hub) -> Principal | None:
    """Return the caller's principal, or None when no credentials were sent."""
    return authenticate(request, state)


def current_principal(request: Request, state: Hub) -> Principal:
    """Return the caller's principal or fail with 401."""
    principal = authenticate(request, state)
    if principal is None:
        raise AuthenticationFailed("authentication is required (HTTP Basic or Bearer)")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
