"""Users and passwords: create, look up, change roles, and sign in with a password.

Passwords are hashed with argon2id. A sign-in for an unknown user still verifies a hash, so a
failure costs the same time whether or not the username exists; repeated failures lock the
account for a while.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import AccountLocked, AuthenticationFailed, Conflict, InvalidInput, NotFound
from varsel.orgs.models import Role, User
from varsel.orgs.service._orgs import get_org
from varsel.orgs.service._principal import Principal, principal_of

_hasher = PasswordHasher()
# A hash of a random password, verified against when the user does not exist, so a failed
# sign-in costs the same time whether or not the username is known.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,149}$")


def add_user(
    *,
    session: Session,
    username: str,
    org: str,
    role: str,
    password: str | None,
    actor: str = "cli",
) -> User:
    """Create a user in organisation ``org`` with ``role``; the password is stored as argon2id."""
    if not _USERNAME.match(username):
        raise InvalidInput(
            "a username is 2-150 characters of letters, digits and . _ @ -, starting with a "
            "letter or digit"
        )
    try:
        role = Role(role).value
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {role!r}; expected one of {roles}") from None
    if password is not None and len(password) < 12:
        raise InvalidInput("a password must be at least 12 characters long")
    organisation = get_org(session=session, name=org)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"user {username!r} already exists")
    user = User(
        username=username,
        org_id=organisation.id,
        role=role,
        password_hash=_hasher.hash(password) if password else None,
        failed_logins=0,
        created_at=utcnow(),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"user {username!r} already exists") from None
    audit.record(
        session=session,
        actor=actor,
        action="user.create",
        target=username,
        details={"org": org, "role": role},
    )
    return user


def get_user(*, session: Session, username: str) -> User:
    """Return the user called ``username`` or raise NotFound."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user called {username!r}")
    return user


def set_role(*, session: Session, username: str, role: str, actor: str) -> User:
    """Change a user's role."""
    user = get_user(session=session, username=username)
    try:
        user.role = Role(role).value
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}") from None
    audit.record(
        session=session, actor=actor, action="user.role", target=username, details={"role": role}
    )
    return user


def authenticate_password(
    *, session: Session, username: str, password: str, max_failures: int, lockout_seconds: int
) -> Principal:
    """Return the principal for a correct username and password, counting failures.

    After ``max_failures`` consecutive failures the account is locked for ``lockout_seconds``.
    The failure counter is committed by the caller even when this raises.
    """
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    now = utcnow()
    if user is None or user.password_hash is None:
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        raise AuthenticationFailed("wrong username or password")
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLocked("this account is locked after repeated failed sign-ins; try later")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(seconds=lockout_seconds)
            user.failed_logins = 0
            audit.record(session=session, actor=username, action="auth.locked", target=username)
        raise AuthenticationFailed("wrong username or password") from None
    if user.failed_logins or user.locked_until:
        user.failed_logins = 0
        user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return principal_of(user)
