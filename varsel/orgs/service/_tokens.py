"""API tokens: create, list, revoke, and authenticate a bearer token.

A token is a random 256-bit string of which only the SHA-256 is stored; authentication reads the
token with its user and organisation in one query, built once at import, so revocation, expiry
and role changes take effect on the very next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import AuthenticationFailed, NotFound
from varsel.orgs.models import ApiToken, Organisation, Role, User
from varsel.orgs.service._principal import Principal
from varsel.orgs.service._users import get_user

TOKEN_PREFIX = "vs_"


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
