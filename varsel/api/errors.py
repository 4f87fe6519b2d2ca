"""Map domain exceptions to HTTP: TAXII error resources on TAXII routes, RFC 9457 elsewhere."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

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

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
TAXII_PREFIX = "/taxii2"
log = logging.getLogger("varsel.api")

_STATUS: list[tuple[type[VarselError], int, str]] = [
    (TooManyAttempts, 429, "Too many requests"),
    (Busy, 503, "Service unavailable"),
    (AuthenticationFailed, 401, "Unauthorized"),
    (Forbidden, 403, "Forbidden"),
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Conflict"),
    (InvalidInput, 400, "Bad request"),
]


class HttpProblem(Exception):
    """An HTTP-level refusal raised by the web layer itself (406, 413, 415)."""

    def __init__(self, status: int, title: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.title = title
        self.description = description


def error_response(request: Request, status: int, title: str, description: str) -> Response:
    """Return a TAXII 2.1 error resource (§3.6.1) or an RFC 9457 problem, by route."""
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="varsel", Bearer'
    if request.url.path.startswith(TAXII_PREFIX):
        body = {"title": title, "description": description, "http_status": str(status)}
        return JSONResponse(body, status_code=status, media_type=TAXII_MEDIA_TYPE, headers=headers)
    body_p = {"type": "about:blank", "title": title, "status": status, "detail": description}
    return JSONResponse(
        body_p, status_code=status, media_type="application/problem+json", headers=headers
    )


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(VarselError)
    async def _domain(request: Request, exc: VarselError) -> Response:
        for kind, status, title in _STATUS:
            if isinstance(exc, kind):
                response = error_response(request, status, title, exc.message)
                if isinstance(exc, Busy):
                    response.headers["Retry-After"] = str(exc.retry_after)
                return response
        return error_response(request, 400, "Bad request", exc.message)

    @app.exception_handler(HttpProblem)
    async def _problem(request: Request, exc: HttpProblem) -> Response:
        return error_response(request, exc.status, exc.title, exc.description)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(request, 400, "Bad request", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed"}
        return error_response(
            request, exc.status_code, titles.get(exc.status_code, "HTTP error"), str(exc.detail)
        )

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _data(request: Request, exc: Exception) -> Response:
        # The database refused a value the request carried (out of range, NUL byte, …): the
        # request is at fault, and the unit of work was rolled back with the session.
        return error_response(
            request, 400, "Bad request", "a value in the request is out of range or not storable"
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Logged with the path only: request bodies and headers may hold secrets.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            request,
            500,
            "Internal error",
            "the server failed to handle this request; it was logged",
        )


class RejectNul:
    """ASGI middleware: refuse a path or query string holding a NUL character (400).

    PostgreSQL cannot store NUL in text, and no identifier or filter legitimately contains one,
    so it is refused at the door with a clear message instead of failing deep in a query.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raw = scope.get("path", "") + scope.get("query_string", b"").decode("latin-1")
            if "\x00" in raw or "%00" in raw.lower():
                response = error_response(
                    Request(scope), 400, "Bad request", "the URL contains a NUL character"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
