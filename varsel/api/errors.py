"""Answer errors over HTTP: TAXII error resources on TAXII routes, RFC 9457 elsewhere.

The status of a domain error comes from :mod:`varsel.error_map`, the one map the web pages use
too; this module only gives the answer its TAXII or problem+json shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from varsel.error_map import http_error
from varsel.errors import VarselError

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
TAXII_PREFIX = "/taxii2"
log = logging.getLogger("varsel.api")


def error_response(
    request: Request,
    status: int,
    title: str,
    description: str,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Return a TAXII 2.1 error resource (§3.6.1) or an RFC 9457 problem, by route.

    ``code`` is the stable code of :mod:`varsel.error_map`: ``error_code`` in a TAXII error
    resource, the ``code`` extension member of a problem.
    """
    sent = dict(headers or {})
    if status == 401:
        sent["WWW-Authenticate"] = 'Basic realm="varsel", Bearer'
    if request.url.path.startswith(TAXII_PREFIX):
        body: dict[str, Any] = {
            "title": title,
            "description": description,
            "http_status": str(status),
        }
        if code is not None:
            body["error_code"] = code
        return JSONResponse(body, status_code=status, media_type=TAXII_MEDIA_TYPE, headers=sent)
    body_p: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": description,
    }
    if code is not None:
        body_p["code"] = code
    return JSONResponse(
        body_p, status_code=status, media_type="application/problem+json", headers=sent
    )


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(VarselError)
    async def _domain(request: Request, exc: VarselError) -> Response:
        error = http_error(exc)
        if error.status >= 500:
            # The hub's fault or its load, not the caller's: the operator should see it.
            log.warning("%s on %s %s: %s", error.code, request.method, request.url.path, exc)
        return error_response(
            request,
            error.status,
            error.title,
            exc.message,
            code=error.code,
            headers=error.headers(),
        )

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
