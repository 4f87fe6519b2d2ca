"""Domain exceptions; they know nothing of HTTP. ``varsel.error_map`` gives each its status.

VarselError
├── NotFound                 an id that does not exist (or that the caller may not know of)
├── Conflict                 a name or id already taken
├── InvalidInput             a request that can never succeed as written
│   ├── NotAcceptable        asks for an answer in a form the hub does not give
│   ├── UnsupportedMediaType sends a body in a form the route does not take
│   └── TooLarge             a body past the route's limit
├── AuthenticationFailed     no or bad credentials, expired or revoked token
│   └── AccountLocked        too many failed sign-ins
├── TooManyAttempts          too many failed authentications from one address
├── Forbidden                authenticated, but the policy does not allow the act
├── Busy                     the database's write lock was not obtained in time; try again
├── UpstreamFailed           a mail server or webhook receiver did not take a delivery
└── Misconfigured            the hub's own configuration cannot be used

Exceptions raised on purpose elsewhere subclass one of these, keeping their own names where
callers catch them (``matching.LogFormatError``, ``clearances.rules.UnknownLevel``,
``sharing.validation.InvalidStixObject``, ``web.sessions.CsrfRefused``, …);
``tests/test_error_map.py`` fails for an exception class outside the tree or without a status.
"""

from __future__ import annotations


class VarselError(Exception):
    """Base of every domain error; ``message`` is safe to show to the caller.

    ``field`` optionally names the input at fault (``"value"``, ``"tlp"``, ``"new"``): a form
    shows the message beside that field and moves the focus there; ``None`` means the request
    as a whole.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(VarselError):
    """The thing asked for does not exist, or the caller may not know that it does."""


class Conflict(VarselError):
    """The name or id is already taken."""


class InvalidInput(VarselError):
    """The request is malformed or names something impossible."""


class NotAcceptable(InvalidInput):
    """The caller accepts no answer in a form the hub gives (e.g. TAXII without its type)."""


class UnsupportedMediaType(InvalidInput):
    """The body is in a form the route does not take."""


class TooLarge(InvalidInput):
    """The body is larger than the route accepts."""


class AuthenticationFailed(VarselError):
    """The credentials are missing, wrong, expired or revoked."""


class AccountLocked(AuthenticationFailed):
    """The account is locked after repeated failures."""


class TooManyAttempts(VarselError):
    """Too many failed authentications from one client address; try again later."""


class Forbidden(VarselError):
    """The caller is known but may not do this."""


class Busy(VarselError):
    """The database's write lock was not obtained in time; the same request may succeed soon."""


class UpstreamFailed(VarselError):
    """A server the hub delivers to (SMTP, a webhook receiver) failed or refused."""


class Misconfigured(VarselError):
    """The hub's own configuration (a file or variable it reads) cannot be used."""
