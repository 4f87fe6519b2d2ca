"""Users and passwords: create, look up, change roles, disable, and sign in with a password.

Passwords are hashed with argon2id. A sign-in for an unknown user still verifies a hash, so a
failure costs the same time whether or not the username exists.

Failed sign-ins are throttled per account *and* address (``auth_failures``, in the database so
that every worker sees them): after a few free attempts, each further failure from that address
for that account doubles the wait, up to a ceiling. Nobody can lock an account from elsewhere:
the owner's own address keeps its free attempts.

Who may call the changing functions is decided by the access policy (``varsel.orgs.flows``);
these functions only keep the data consistent and audited. Passwords changes and disabling are
in ``_lifecycle``, since they also revoke tokens.
"""

from __future__ import annotations

import functools
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import AccountLocked, AuthenticationFailed, Conflict, InvalidInput, NotFound
from varsel.orgs.models import Role, User
from varsel.orgs.names import username_key
from varsel.orgs.service._orgs import get_org
from varsel.orgs.service._throttle import clear, count_failure, current_wait, throttle_key
from varsel.policy.principal import Principal, principal_of

hasher = PasswordHasher()


@functools.cache
def prepare_sign_in() -> str:
    """Return the hash of a random password that a sign-in verifies against when the user does
    not exist, so a failed sign-in costs the same time whether or not the username is known.

    Made once per process on first use, not at import: every command imports this module and
    only sign-in needs the hash (argon2, ~0.18 s of CPU). The server makes it at start
    (``varsel.api.app.create_app``), so no sign-in pays for it and none is timed differently.
    """
    return hasher.hash(secrets.token_urlsafe(16))


_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,149}$")
MIN_PASSWORD = 12


def check_password(password: str) -> None:
    """Refuse a password that is too short to stand an offline guess."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"a password must be at least {MIN_PASSWORD} characters long", field="password"
        )


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
            "letter or digit",
            field="username",
        )
    try:
        role = Role(role).value
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(
            f"unknown role {role!r}; expected one of {roles}", field="role"
        ) from None
    if password is not None:
        check_password(password)
    organisation = get_org(session=session, name=org)
    key = username_key(username)
    clash = session.execute(select(User.username).where(User.username_key == key)).scalar()
    if clash is not None:
        raise Conflict(
            f"user {username!r} already exists (usernames ignore case)", field="username"
        )
    user = User(
        username=username,
        username_key=key,
        org_id=organisation.id,
        role=role,
        password_hash=hasher.hash(password) if password else None,
        created_at=utcnow(),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            f"user {username!r} already exists (usernames ignore case)", field="username"
        ) from None
    audit.record(
        session=session,
        actor=actor,
        action="user.create",
        target=username,
        details={"org": organisation.name, "role": role},
    )
    return user


def find_user(*, session: Session, username: str) -> User | None:
    """Return the user called ``username`` (in any case), or None."""
    return session.execute(
        select(User).where(User.username_key == username_key(username))
    ).scalar_one_or_none()


def get_user(*, session: Session, username: str) -> User:
    """Return the user called ``username`` (in any case) or raise NotFound."""
    user = find_user(session=session, username=username)
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
    *,
    session: Session,
    username: str,
    password: str,
    address: str,
    free_attempts: int,
    max_delay_seconds: int,
) -> Principal:
    """Return the principal for a correct username and password, throttling failures.

    Failures are counted per (account, address): after ``free_attempts`` of them that pair
    waits 1 s, then 2, 4, … up to ``max_delay_seconds`` before it may try again, and a success
    clears the count. The count is committed by the caller even when this raises.
    """
    key = throttle_key(username_key(username), address)
    wait = current_wait(session=session, key=key)
    if wait:
        raise AccountLocked(
            f"too many failed sign-ins for this account from your address; try again in {wait} s"
        )
    user = find_user(session=session, username=username)
    ok = False
    if user is None or user.password_hash is None or user.disabled_at is not None:
        try:
            hasher.verify(prepare_sign_in(), password)
        except VerificationError:
            pass
    else:
        try:
            ok = hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    if not ok or user is None:
        failures = count_failure(
            session=session, key=key, free=free_attempts, ceiling=max_delay_seconds
        )
        if failures == free_attempts:
            audit.record(
                session=session,
                actor=username[:150],
                action="auth.throttled",
                target=username[:150],
                details={"address": address},
            )
        raise AuthenticationFailed("wrong username or password")
    clear(session=session, key=key)
    if hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = hasher.hash(password)
    return principal_of(user)
