"""Domain exceptions; they know nothing of HTTP. ``varsel.api.errors`` maps them to responses.

VarselError
├── NotFound                 an id that does not exist (or that the caller may not know of)
├── Conflict                 a name or id already taken
├── InvalidInput             a request that can never succeed as written
├── AuthenticationFailed     no or bad credentials, expired or revoked token
│   └── AccountLocked        too many failed sign-ins
├── TooManyAttempts          too many failed authentications from one address
├── Forbidden                authenticated, but the policy does not allow the act
└── Busy                     the database could not take the write in time; try again
"""

from __future__ import annotations


class VarselError(Exception):
    """Base of every domain error; ``message`` is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(VarselError):
    """The thing asked for does not exist, or the caller may not know that it does."""


class Conflict(VarselError):
    """The name or id is already taken."""


class InvalidInput(VarselError):
    """The request is malformed or names something impossible."""


class AuthenticationFailed(VarselError):
    """The credentials are missing, wrong, expired or revoked."""


class AccountLocked(AuthenticationFailed):
    """The account is locked after repeated failures."""


class TooManyAttempts(VarselError):
    """Too many failed authentications from one client address; try again later."""


class Forbidden(VarselError):
    """The caller is known but may not do this."""


class Busy(VarselError):
    """Other writers held the database for longer than the busy timeout; nothing was written."""

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after
