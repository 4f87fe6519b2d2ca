"""The one map from domain exceptions to HTTP: a status, a stable code and a title for each.

TAXII routes (``varsel.api.errors``) answer with a TAXII error resource, REST routes with RFC
9457 problem+json and web pages with an HTML page (``varsel.web.errors``), but all three take
the status from :data:`ERRORS`, so the same refusal has the same status wherever it is met.

Every class of :mod:`varsel.errors` has its own row; an exception defined elsewhere subclasses
one of them and is answered like it (``UnknownLevel`` is an ``InvalidInput``: 400). The bare
``VarselError`` has no row on purpose: a class that is in no category is a bug, which
``tests/test_error_map.py`` finds before a caller does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from varsel.errors import (
    AccountLocked,
    AuthenticationFailed,
    Busy,
    Conflict,
    Forbidden,
    InvalidInput,
    Misconfigured,
    NotAcceptable,
    NotFound,
    TooLarge,
    TooManyAttempts,
    UnsupportedMediaType,
    UpstreamFailed,
    VarselError,
)

# A write that waited busy_timeout for the lock is worth repeating about a second later.
BUSY_RETRY_SECONDS = 1


@dataclass(frozen=True)
class HttpError:
    """How one kind of refusal is answered over HTTP."""

    status: int
    code: str
    title: str
    retry_after: int | None = None

    def headers(self) -> dict[str, str]:
        """Return the headers every answer with this status carries (``Retry-After``)."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


ERRORS: Mapping[type[VarselError], HttpError] = {
    NotFound: HttpError(404, "not-found", "Not found"),
    Conflict: HttpError(409, "conflict", "Conflict"),
    InvalidInput: HttpError(400, "invalid-input", "Bad request"),
    NotAcceptable: HttpError(406, "not-acceptable", "Not acceptable"),
    UnsupportedMediaType: HttpError(415, "unsupported-media-type", "Unsupported media type"),
    TooLarge: HttpError(413, "too-large", "Payload too large"),
    AuthenticationFailed: HttpError(401, "authentication-failed", "Unauthorized"),
    AccountLocked: HttpError(401, "account-locked", "Unauthorized"),
    TooManyAttempts: HttpError(429, "too-many-attempts", "Too many requests"),
    Forbidden: HttpError(403, "forbidden", "Forbidden"),
    Busy: HttpError(503, "busy", "Service unavailable", retry_after=BUSY_RETRY_SECONDS),
    UpstreamFailed: HttpError(502, "upstream-failed", "Bad gateway"),
    Misconfigured: HttpError(500, "misconfigured", "Hub misconfigured"),
}
# Never expected (the test above fails first); answered as a server fault, not a bad request.
UNMAPPED = HttpError(500, "internal", "Internal error")


def lookup(kind: type[BaseException]) -> HttpError | None:
    """Return the row of ``kind`` or of its nearest mapped ancestor; None if it has none."""
    return next((ERRORS[k] for k in kind.__mro__ if k in ERRORS), None)


def http_error(exc: VarselError) -> HttpError:
    """Return how ``exc`` is answered over HTTP."""
    return lookup(type(exc)) or UNMAPPED


def status_of(exc: VarselError) -> int:
    """Return the HTTP status ``exc`` is answered with (403 for Forbidden, 503 for Busy, …)."""
    return http_error(exc).status
