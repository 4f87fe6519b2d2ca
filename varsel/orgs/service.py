"""Organisations, users, tokens and communities: plain functions over a session.

Secrets: passwords are hashed with argon2id; API tokens are random 256-bit strings of which only
the SHA-256 is stored (a fast hash suffices for a high-entropy secret and keeps Bearer
authentication cheap). Neither is ever logged or returned after creation.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import AccountLocked, AuthenticationFailed, Conflict, InvalidInput, NotFound
from varsel.orgs.models import (
    ApiToken,
    ClientRelation,
    Community,
    CommunityMember,
    Organisation,
    OrgKind,
    Role,
    User,
)

_hasher = PasswordHasher()
# A hash of a random password, verified against when the user does not exist, so a failed
# sign-in costs the same time whether or not the username is known.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
TOKEN_PREFIX = "vs_"
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,149}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a signed-in user, with the organisation and role the policy needs."""

    user_id: int
    username: str
    org_id: int
    org_name: str
    country: str
    role: Role

    @property
    def label(self) -> str:
        """Return how the audit log names this principal."""
        return f"{self.username}@{self.org_name}"


def principal_of(user: User) -> Principal:
    """Return the principal for ``user``."""
    return Principal(
        user_id=user.id,
        username=user.username,
        org_id=user.org_id,
        org_name=user.org.name,
        country=user.org.country,
        role=Role(user.role),
    )


# Organisations --------------------------------------------------------------------------


def add_org(
    *,
    session: Session,
    name: str,
    country: str,
    kind: str,
    sector: str | None = None,
    subsector: str | None = None,
    actor: str = "cli",
) -> Organisation:
    """Create an organisation; the country is an ISO 3166-1 alpha-2 code."""
    name = name.strip()
    if not name:
        raise InvalidInput("an organisation needs a name")
    country = country.strip().upper()
    if not _COUNTRY.match(country):
        raise InvalidInput(
            f"country must be an ISO 3166-1 alpha-2 code such as NO, got {country!r}"
        )
    try:
        kind = OrgKind(kind).value
    except ValueError:
        kinds = ", ".join(k.value for k in OrgKind)
        raise InvalidInput(f"unknown organisation kind {kind!r}; expected one of {kinds}") from None
    if session.execute(select(Organisation.id).where(Organisation.name == name)).first():
        raise Conflict(f"organisation {name!r} already exists")
    org = Organisation(
        name=name,
        country=country,
        kind=kind,
        sector=sector,
        subsector=subsector,
        created_at=utcnow(),
    )
    session.add(org)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="org.create",
        target=name,
        details={"country": country, "kind": kind, "sector": sector},
    )
    return org


def get_org(*, session: Session, name: str) -> Organisation:
    """Return the organisation called ``name`` or raise NotFound."""
    org = session.execute(
        select(Organisation).where(Organisation.name == name)
    ).scalar_one_or_none()
    if org is None:
        raise NotFound(f"no organisation called {name!r}")
    return org


def list_orgs(*, session: Session) -> list[Organisation]:
    """Return every organisation, by name."""
    return list(session.execute(select(Organisation).order_by(Organisation.name)).scalars())


def add_client(*, session: Session, provider: str, client: str, actor: str = "cli") -> None:
    """Register ``client`` as a client of ``provider`` (who may re-share TLP:AMBER to it)."""
    p = get_org(session=session, name=provider)
    c = get_org(session=session, name=client)
    if p.id == c.id:
        raise InvalidInput("an organisation cannot be its own client")
    if session.get(ClientRelation, (p.id, c.id)) is None:
        session.add(ClientRelation(provider_id=p.id, client_id=c.id))
        audit.record(
            session=session, actor=actor, action="org.client.add", target=f"{provider}->{client}"
        )
    session.flush()


def remove_client(*, session: Session, provider: str, client: str, actor: str = "cli") -> None:
    """Remove the client relation; re-shares through it stop at once."""
    p = get_org(session=session, name=provider)
    c = get_org(session=session, name=client)
    session.execute(
        delete(ClientRelation).where(
            ClientRelation.provider_id == p.id, ClientRelation.client_id == c.id
        )
    )
    audit.record(
        session=session, actor=actor, action="org.client.remove", target=f"{provider}->{client}"
    )


# Users and passwords --------------------------------------------------------------------


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


# API tokens -----------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    *,
    session: Session,
    username: str,
    name: str = "api",
    expires_at: datetime | None = None,
    actor: str = "cli",
) -> tuple[ApiToken, str]:
    """Create a token for ``username``; return the row and the token, which is never stored."""
    user = get_user(session=session, username=username)
    secret = secrets.token_urlsafe(32)
    prefix = secret[:8]
    token = f"{TOKEN_PREFIX}{secret}"
    row = ApiToken(
        user_id=user.id,
        name=name,
        prefix=prefix,
        token_hash=_hash_token(token),
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="token.create",
        target=username,
        details={
            "token_id": row.id,
            "name": name,
            "prefix": prefix,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return row, token


def list_tokens(*, session: Session, username: str) -> list[ApiToken]:
    """Return the tokens of ``username`` (without secrets)."""
    user = get_user(session=session, username=username)
    return list(
        session.execute(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
        ).scalars()
    )


def revoke_token(*, session: Session, token_id: int, actor: str = "cli") -> ApiToken:
    """Revoke a token at once."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session=session, actor=actor, action="token.revoke", target=str(token_id))
    return row


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """A valid bearer token's principal, and whether its use was noted (a write to commit)."""

    principal: Principal
    noted_use: bool


def authenticate_token(*, session: Session, token: str) -> TokenCheck:
    """Return the principal for a valid bearer token and note its use; the caller commits.

    One query reads the token with its user and organisation, so revocation, expiry and role
    changes are seen on the very next request; nothing is cached between requests.
    """
    if not token.startswith(TOKEN_PREFIX):
        raise AuthenticationFailed("the bearer token is not a Varsel API token")
    row = session.execute(_TOKEN_LOOKUP, {"token_hash": _hash_token(token)}).first()
    now = utcnow()
    if row is None:
        raise AuthenticationFailed("unknown API token")
    if row.revoked_at is not None:
        raise AuthenticationFailed("this API token was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthenticationFailed("this API token has expired")
    # Coarse last-used time: one write a minute per token keeps reads from becoming writes.
    noted = row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1)
    if noted:
        session.execute(_TOKEN_USED, {"token_id": row.token_id, "now": now})
    principal = Principal(
        user_id=row.user_id,
        username=row.username,
        org_id=row.org_id,
        org_name=row.org_name,
        country=row.country,
        role=Role(row.role),
    )
    return TokenCheck(principal=principal, noted_use=noted)


# Built once: a Bearer request runs these, and building the statements cost more than running
# them. The values are bound per call.
_TOKEN_LOOKUP = (
    select(
        ApiToken.id.label("token_id"),
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        User.id.label("user_id"),
        User.username,
        User.org_id,
        User.role,
        Organisation.name.label("org_name"),
        Organisation.country,
    )
    .join(User, User.id == ApiToken.user_id)
    .join(Organisation, Organisation.id == User.org_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)
_TOKEN_USED = (
    update(ApiToken)
    .where(ApiToken.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


# Communities ----------------------------------------------------------------------------


def add_community(
    *, session: Session, name: str, members: list[str], description: str = "", actor: str = "cli"
) -> Community:
    """Create a community with ``members`` (organisation names)."""
    name = name.strip()
    if not name:
        raise InvalidInput("a community needs a name")
    if session.execute(select(Community.id).where(Community.name == name)).first():
        raise Conflict(f"community {name!r} already exists")
    community = Community(name=name, description=description, created_at=utcnow())
    session.add(community)
    session.flush()
    for member in members:
        add_member(session=session, community=name, org=member, actor=actor)
    audit.record(
        session=session,
        actor=actor,
        action="community.create",
        target=name,
        details={"members": members},
    )
    return community


def get_community(*, session: Session, name: str) -> Community:
    """Return the community called ``name`` or raise NotFound."""
    row = session.execute(select(Community).where(Community.name == name)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no community called {name!r}")
    return row


def add_member(*, session: Session, community: str, org: str, actor: str = "cli") -> None:
    """Add ``org`` to ``community``; its users gain access at once."""
    c = get_community(session=session, name=community)
    o = get_org(session=session, name=org)
    if session.get(CommunityMember, (c.id, o.id)) is None:
        session.add(CommunityMember(community_id=c.id, org_id=o.id))
        session.flush()
        audit.record(
            session=session,
            actor=actor,
            action="community.member.add",
            target=community,
            details={"org": org},
        )


def remove_member(*, session: Session, community: str, org: str, actor: str = "cli") -> None:
    """Remove ``org`` from ``community``; its users lose access at once."""
    c = get_community(session=session, name=community)
    o = get_org(session=session, name=org)
    session.execute(
        delete(CommunityMember).where(
            CommunityMember.community_id == c.id, CommunityMember.org_id == o.id
        )
    )
    audit.record(
        session=session,
        actor=actor,
        action="community.member.remove",
        target=community,
        details={"org": org},
    )


def members_of(*, session: Session, community_id: int) -> list[Organisation]:
    """Return the member organisations of a community."""
    return list(
        session.execute(
            select(Organisation)
            .join(CommunityMember, CommunityMember.org_id == Organisation.id)
            .where(CommunityMember.community_id == community_id)
            .order_by(Organisation.name)
        ).scalars()
    )


def list_communities(*, session: Session) -> list[Community]:
    """Return every community, by name."""
    return list(session.execute(select(Community).order_by(Community.name)).scalars())
