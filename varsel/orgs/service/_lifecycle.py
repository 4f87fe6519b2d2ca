"""An account's life cycle: change its password, disable it, enable it again.

Each change that ends what the account could do ends it everywhere at once: a new password ends
every web session (they carry a fingerprint of the hash) and revokes every API token; disabling
refuses every sign-in and token and revokes the tokens, so re-enabling does not bring them back.
"""

from __future__ import annotations

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import AuthenticationFailed, InvalidInput
from varsel.orgs.models import User
from varsel.orgs.service._tokens import revoke_all_tokens
from varsel.orgs.service._users import check_password, hasher
from varsel.policy.principal import Principal


def set_password(*, session: Session, user: User, password: str, actor: str) -> None:
    """Set a new password; the user's web sessions end and every API token is revoked."""
    check_password(password)
    # Web sessions carry a fingerprint of the hash, so a new hash ends them in every worker.
    user.password_hash = hasher.hash(password)
    revoked = revoke_all_tokens(session=session, user_id=user.id, actor=actor)
    audit.record(
        session=session,
        actor=actor,
        action="user.password",
        target=user.username,
        details={"tokens_revoked": revoked},
    )


def change_own_password(*, session: Session, principal: Principal, current: str, new: str) -> None:
    """Change the principal's own password after checking the current one."""
    user = session.get(User, principal.user_id)
    if user is None or user.password_hash is None:
        raise AuthenticationFailed("this account has no password to change")
    try:
        hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise AuthenticationFailed("the current password is wrong", field="current") from None
    if new == current:
        raise InvalidInput("the new password must differ from the current one", field="password")
    set_password(session=session, user=user, password=new, actor=principal.label)


def disable_user(*, session: Session, user: User, actor: str) -> None:
    """Disable ``user``: no sign-in, sessions end, every API token is revoked."""
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        revoked = revoke_all_tokens(session=session, user_id=user.id, actor=actor)
        audit.record(
            session=session,
            actor=actor,
            action="user.disable",
            target=user.username,
            details={"tokens_revoked": revoked},
        )


def enable_user(*, session: Session, user: User, actor: str) -> None:
    """Re-enable ``user``; revoked tokens stay revoked and ended sessions stay ended."""
    if user.disabled_at is not None:
        user.disabled_at = None
        audit.record(session=session, actor=actor, action="user.enable", target=user.username)
