"""MISP's error answers for the routes under ``/misp/``: ``{"name", "message", "url"}``.

MISP answers a refused request with a JSON object naming the error, its message and the URL
asked for (relative to MISP's root); PyMISP reads a 4xx answer's JSON as ``{"errors": …}``. The
status still comes from :mod:`varsel.error_map`, as everywhere in the hub. A route of a router
made with ``route_class=MispRoute`` answers domain errors, validation errors and HTTP errors
this way, those its dependencies (authentication) raise included; a server fault stays a 500
for the application's handler to log.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from varsel.error_map import http_error
from varsel.errors import VarselError

PREFIX = "/misp"


def misp_error(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Return MISP's error object for ``request`` with ``status``."""
    url = request.url.path.removeprefix(PREFIX) or "/"
    sent = dict(headers or {})
    if status == 401:
        sent["WWW-Authenticate"] = 'Basic realm="varsel", Bearer'
    return JSONResponse(
        {"name": message, "message": message, "url": url}, status_code=status, headers=sent
    )


class MispRoute(APIRoute):
    """An API route whose refusals are MISP's error objects."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Return the handler, answering the caller's errors as MISP does."""
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except VarselError as exc:
                error = http_error(exc)
                if error.status >= 500:
                    raise
                return misp_error(request, error.status, exc.message, error.headers())
            except RequestValidationError as exc:
                parts = [
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
                    for e in exc.errors()
                ]
                return misp_error(request, 400, "; ".join(parts) or "invalid request")
            except StarletteHTTPException as exc:
                if exc.status_code >= 500:
                    raise
                return misp_error(request, exc.status_code, str(exc.detail))

        return answer
