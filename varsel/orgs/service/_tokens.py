"""API tokens: create, list, revoke, and authenticate a bearer token.

A token is a random 256-bit string of which only the SHA-256 is stored; authentication reads the
token with its user and organisation in one query, built once at import, so revocation, expiry,
disabling and role changes take effect on the very next request.

A token belongs to one user and is made by that user (or by the local operator at the hub's
command line); who may ask for one is decided by the access policy (``varsel.orgs.flows``). A
token made with a token is its *child*: it never outlives its parent, never has a wider scope,
and is revoked with it (``revoke_token`` revokes the whole subtree).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, aliased

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import AuthenticationFailed, InvalidInput, NotFound
from varsel.orgs.models import ApiToken, Organisation, Role, TokenScope, User
from varsel.orgs.service._users import get_user
from varsel.policy.principal import Principal

TOKEN_PREFIX = "vs_"


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scope(scope: str) -> TokenScope:
    """Return the token scope named ``scope`` or refuse it with the choices."""
    try:
        return TokenScope(scope)
    except ValueError:
        choices = ", ".join(s.value for s in TokenScope)
        raise InvalidInput(f"unknown token scope {scope!r}; expected one of {choices}") from None


def create_token(
    *,
    session: Session,
    username: str,
    name: str = "api",
    expires_at: datetime | None = None,
    scope: str = TokenScope.READ_WRITE.value,
    parent_id: int | None = None,
    actor: str = "cli",
) -> tuple[ApiToken, str]:
    """Create a token for ``username``; return the row and the token, which is never stored.

    With ``parent_id`` the token is a child of that token (which must be the same user's and
    live): it expires no later than the parent and its scope is no wider.
    """
    user = get_user(session=session, username=username)
    if len(name) > 100:
        raise InvalidInput("a token name is at most 100 characters")
    wanted = parse_scope(scope)
    if parent_id is not None:
        parent = session.get(ApiToken, parent_id)
        now = utcnow()
        if (
            parent is None
            or parent.user_id != user.id
            or parent.revoked_at is not None
            or (parent.expires_at is not None and parent.expires_at <= now)
        ):
            raise InvalidInput("the token this request was made with is not live")
        if parent.scope == TokenScope.READ.value and wanted is not TokenScope.READ:
            raise InvalidInput("a token made with a read-only token can only be read-only")
        if parent.expires_at is not None and (expires_at is None or expires_at > parent.expires_at):
            expires_at = parent.expires_at
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
        scope=wanted.value,
        parent_id=parent_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="token.create",
        target=user.username,
        details={
            "token_id": row.id,
            "name": name,
            "prefix": prefix,
            "scope": wanted.value,
            "parent_id": parent_id,
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


def _revoke_subtree(session: Session, roots: list[int]) -> list[int]:
    """Revoke the tokens under ``roots`` (inclusive) that are still live; return every id."""
    now = utcnow()
    seen: set[int] = set()
    frontier = roots
    while frontier:
        seen.update(frontier)
        for row in session.execute(select(ApiToken).where(ApiToken.id.in_(frontier))).scalars():
            if row.revoked_at is None:
                row.revoked_at = now
        children = select(ApiToken.id).where(ApiToken.parent_id.in_(frontier))
        frontier = [i for i in session.execute(children).scalars() if i not in seen]
    return sorted(seen)


def revoke_token(*, session: Session, token_id: int, actor: str = "cli") -> ApiToken:
    """Revoke a token and every token made with it, at once."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token with id {token_id}")
    live = row.revoked_at is None
    revoked = _revoke_subtree(session, [token_id])
    if live:
        audit.record(
            session=session,
            actor=actor,
            action="token.revoke",
            target=str(token_id),
            details={"with_children": [i for i in revoked if i != token_id]},
        )
    return row


def revoke_all_tokens(*, session: Session, user_id: int, actor: str) -> int:
    """Revoke every live token of a user (and their children); return how many."""
    ids = list(
        session.execute(
            select(ApiToken.id).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        ).scalars()
    )
    return len(_revoke_subtree(session, ids)) if ids else 0


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """A valid bearer token's principal, and whether its use was noted (a write to commit)."""

    principal: Principal
    noted_use: bool


def authenticate_token(*, session: Session, token: str, note_use: bool = True) -> TokenCheck:
    """Return the principal for a valid bearer token and note its use; the caller commits.

    One query reads the token with its user, organisation and parent, so revocation, expiry,
    disabling and role changes are seen on the very next request; nothing is cached. Without
    ``note_use`` nothing is written, so a read-only session can check a token again (a stream
    re-checks the token it was opened with, varsel.api.stream).
    """
    if not token.startswith(TOKEN_PREFIX):
        raise AuthenticationFailed("the bearer token is not a Varsel API token")
    row = session.execute(_TOKEN_LOOKUP, {"token_hash": _hash_token(token)}).first()
    now = utcnow()
    if row is None:
        raise AuthenticationFailed("unknown API token")
    if row.revoked_at is not None or row.parent_revoked_at is not None:
        raise AuthenticationFailed("this API token was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthenticationFailed("this API token has expired")
    if row.disabled_at is not None:
        raise AuthenticationFailed("this API token's user is disabled")
    # Coarse last-used time: one write a minute per token keeps reads from becoming writes.
    noted = note_use and (row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1))
    if noted:
        session.execute(_TOKEN_USED, {"token_id": row.token_id, "now": now})
    principal = Principal(
        user_id=row.user_id,
        username=row.username,
        org_id=row.org_id,
        org_name=row.org_name,
        country=row.country,
        role=Role(row.role),
        token_id=row.token_id,
        scope=TokenScope(row.scope),
        hub=row.org_kind == "hub",
    )
    return TokenCheck(principal=principal, noted_use=noted)


# Built once: a Bearer request runs these, and building the statements cost more than running
# them. The values are bound per call. The parent is joined as a second line of defence: a
# revocation already revokes the whole subtree.
_parent = aliased(ApiToken)
_TOKEN_LOOKUP = (
    select(
        ApiToken.id.label("token_id"),
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        ApiToken.scope,
        _parent.revoked_at.label("parent_revoked_at"),
        User.id.label("user_id"),
        User.username,
        User.org_id,
        User.role,
        User.disabled_at,
        Organisation.name.label("org_name"),
        Organisation.country,
        Organisation.kind.label("org_kind"),
    )
    .join(User, User.id == ApiToken.user_id)
    .join(Organisation, Organisation.id == User.org_id)
    .outerjoin(_parent, _parent.id == ApiToken.parent_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)
_TOKEN_USED = (
    update(ApiToken)
    .where(ApiToken.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)
