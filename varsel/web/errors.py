"""HTML error pages for the web routes; API and TAXII routes keep their JSON errors.

``install`` wraps the application's exception handlers (set by ``varsel.api.errors``): for a
page path it answers with a page (or a redirect to sign in), for ``/api`` and ``/taxii2`` it
hands the exception to the handler that was there before.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from varsel.api.errors import HttpProblem
from varsel.errors import (
    AuthenticationFailed,
    Busy,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    VarselError,
)
from varsel.web.render import render
from varsel.web.sessions import CsrfRefused, NotPermitted, SignInRequired

log = logging.getLogger("varsel.web")
Handler = Callable[[Request, Exception], Awaitable[Response] | Response]
_API_PREFIXES = ("/api", "/taxii2")
_DOMAIN_STATUS: list[tuple[type[VarselError], int]] = [
    (TooManyAttempts, 429),
    (Busy, 503),
    (AuthenticationFailed, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 400),
]


def is_page(request: Request) -> bool:
    """Return whether ``request`` is for a web page rather than the API or TAXII."""
    return not request.url.path.startswith(_API_PREFIXES)


def status_of(exc: VarselError) -> int:
    """Return the HTTP status a page answers a domain error with (403 for Forbidden, …)."""
    return next((status for kind, status in _DOMAIN_STATUS if isinstance(exc, kind)), 400)


def _status_of(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, VarselError):
        for kind, status in _DOMAIN_STATUS:
            if isinstance(exc, kind):
                return status, exc.message
        return 400, exc.message
    if isinstance(exc, HttpProblem):
        return exc.status, exc.description
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, str(exc.detail)
    if isinstance(exc, RequestValidationError):
        return 400, "the address holds a value of the wrong form"
    if isinstance(exc, CsrfRefused | NotPermitted):
        return 403, str(exc)
    return 500, ""


def error_page(request: Request, exc: Exception) -> Response:
    """Return the page for ``exc`` on a web route."""
    if isinstance(exc, SignInRequired):
        return RedirectResponse("/login?" + urlencode({"next": exc.next_path}), status_code=303)
    status, detail = _status_of(exc)
    if status == 500:
        # Logged with the path only: forms may hold passwords and shared indicators.
        log.error(
            "unexpected error on %s %s",
            request.method,
            request.url.path,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
    response = render(request, "error.html", status_code=status, status=status, detail=detail)
    if isinstance(exc, Busy):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def install(app: FastAPI) -> None:
    """Answer exceptions on page routes with HTML, leaving the API's handlers for the rest."""
    kinds: list[type[Exception]] = [
        VarselError,
        HttpProblem,
        StarletteHTTPException,
        RequestValidationError,
        Exception,
    ]
    for kind in kinds:
        previous = app.exception_handlers.get(kind)
        app.add_exception_handler(kind, _wrap(previous))
    for own in (SignInRequired, CsrfRefused, NotPermitted):
        app.add_exception_handler(own, _wrap(None))


def _wrap(previous: Handler | None) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        if previous is not None and not is_page(request):
            result = previous(request, exc)
            return await result if isinstance(result, Awaitable) else result
        return error_page(request, exc)

    return handle
