"""Refuse request bodies before reading them: oversized ones (413), and anonymous ones (401).

FastAPI reads and parses a route's JSON body before it resolves the route's dependencies, so
without this an anonymous caller could make the hub buffer and parse any amount of JSON before
it answered 401 (a 400 MiB POST grew the server by 1.5 GiB). :class:`BodyLimits` sits in front
of every route and

- refuses a declared ``Content-Length`` above the route's limit without reading a byte;
- cuts a body off (413) as soon as more bytes than the limit have arrived, whether declared or
  chunked;
- refuses (401) an API body that comes without credentials, and, on API routes whose JSON
  body FastAPI would parse before the principal, one with bad credentials, checked with the
  same :func:`varsel.http.deps.authenticate` the route calls afterwards (routes that read their
  body themselves after authenticating are marked in :data:`LARGE_BODIES`);
- asks the server to close the connection whenever it answers before the body was read, so the
  server does not go on reading and discarding what the client still sends.

Each route's limit is data (:data:`LARGE_BODIES`): routes that take STIX envelopes or match
batches get the configured ``max_content_length``; every other route gets
:data:`FORM_LIMIT`, far more than any of their forms needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from varsel.api.errors import error_response
from varsel.api.taxii._server import API_ROOT
from varsel.config import Settings
from varsel.error_map import ERRORS, http_error
from varsel.errors import AuthenticationFailed, TooLarge, VarselError
from varsel.http.deps import AUTHENTICATED, HubState, authenticate

# Every form and JSON body of the REST API and web pages fits in well under 1 MiB.
FORM_LIMIT: Final = 1024 * 1024
# A multipart upload carries its boundaries and part headers beside the file.
_MULTIPART_SLACK: Final = 64 * 1024
_API_PREFIXES: Final = ("/api/", "/taxii2/", "/misp/")
_SMALL_BODY: Final = 64 * 1024


@dataclass(frozen=True)
class LargeBody:
    """A route that takes up to ``max_content_length`` (plus ``slack``) bytes."""

    method: str
    path: re.Pattern[str]
    slack: int = 0
    # The handler reads the body itself, after its principal dependency authenticated the
    # caller; FastAPI parses a declared body model before any dependency runs.
    authenticates_first: bool = False
    # The route answers a declared length above the limit itself, without reading the body
    # (a page that shows the error beside its field); a body that grows past the limit while
    # it arrives is still cut off here.
    route_refuses: bool = False


# Routes that take whole STIX envelopes, bundles or federation batches, or up to 1,000
# observables of up to 4 KiB each (/match). Every other route takes at most FORM_LIMIT.
LARGE_BODIES: Final = (
    LargeBody("POST", re.compile(rf"/taxii2/{API_ROOT}/collections/[^/]+/objects/"), 0, True),
    LargeBody("POST", re.compile(r"/api/v1/collections/[^/]+/share"), 0, True),
    LargeBody("POST", re.compile(r"/api/v1/federation/collections/[^/]+/batch"), 0, True),
    LargeBody("POST", re.compile(r"/api/v1/match")),
    LargeBody("POST", re.compile(r"/share/bundle"), _MULTIPART_SLACK, True),
    LargeBody("POST", re.compile(r"/match"), _MULTIPART_SLACK, True, route_refuses=True),
    # MISP events (PyMISP, MISP's push, varsel misp import --url): read by the handler after
    # it authenticated (varsel.misp.views.write).
    LargeBody("POST", re.compile(r"/misp/events/add(/metadata:1)?"), 0, True),
    LargeBody("POST", re.compile(r"/misp/events/edit/[^/]+(/metadata:1)?"), 0, True),
    # The MISP import page: an upload of event JSON or an archive; too large a declared length
    # is answered by the page itself, beside the file field (varsel.web.misp_import).
    LargeBody("POST", re.compile(r"/share/misp"), _MULTIPART_SLACK, True, route_refuses=True),
)


class BodyTooLarge(TooLarge, StarletteHTTPException):
    """The body grew past the route's limit while it was being read.

    Also an ``HTTPException`` because FastAPI, reading a JSON body, turns any other exception
    into "400 error parsing the body"; the handlers still find ``TooLarge`` first (413).
    """

    def __init__(self, limit: int) -> None:
        message = f"the body exceeds this route's limit of {limit} bytes"
        StarletteHTTPException.__init__(self, 413, message)
        self.message = message


def _large(method: str, path: str) -> LargeBody | None:
    return next((r for r in LARGE_BODIES if r.method == method and r.path.fullmatch(path)), None)


def _route_refuses(method: str, path: str) -> bool:
    large = _large(method, path)
    return large is not None and large.route_refuses


def body_limit(method: str, path: str, settings: Settings) -> int:
    """Return how many body bytes the route at ``method`` ``path`` accepts."""
    large = _large(method, path)
    if large is None:
        return min(FORM_LIMIT, settings.max_content_length)
    return settings.max_content_length + large.slack


def _declared_length(scope: Scope) -> tuple[bool, int | None]:
    """Return whether the request has a body and its declared length (None when chunked)."""
    length: int | None = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            length = int(value) if value.isdigit() else -1
        elif name == b"transfer-encoding":
            chunked = True
    if chunked:
        return True, None
    return bool(length), length


def _refuse(
    scope: Scope,
    status: int,
    title: str,
    detail: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    response = error_response(Request(scope), status, title, detail, code=code, headers=headers)
    # The body stays unread: the connection cannot carry another request after this one.
    response.headers["connection"] = "close"
    return response


async def _preauthenticate(scope: Scope, state: HubState, *, full: bool) -> Response | None:
    """Return a refusal unless the request carries credentials naming a principal.

    Every API route requires a principal. Without ``full`` only the presence of credentials
    is checked here: the route itself authenticates them before it reads its body.
    """
    request = Request(scope)
    if request.headers.get("authorization") is None:
        return _refuse(
            scope, 401, "Unauthorized", "authentication is required (HTTP Basic or Bearer)"
        )
    if not full:
        return None

    def check() -> object:
        with state.sessions() as session:
            return authenticate(request, state, session)

    try:
        principal = await run_in_threadpool(check)
    except VarselError as exc:  # bad credentials, a read-only token on a write route, …
        error = http_error(exc)
        return _refuse(
            scope, error.status, error.title, exc.message, code=error.code, headers=error.headers()
        )
    if principal is None:
        anonymous = ERRORS[AuthenticationFailed]
        return _refuse(
            scope,
            anonymous.status,
            anonymous.title,
            "authentication is required",
            code=anonymous.code,
        )
    # The route's own dependency takes this principal instead of checking again (a second
    # argon2 verification for HTTP Basic).
    scope.setdefault("state", {})[AUTHENTICATED] = principal
    return None


class BodyLimits:
    """ASGI middleware: limit every request body and authenticate before parsing one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body, declared = _declared_length(scope)
        if not has_body:
            await self.app(scope, receive, send)
            return
        state: HubState = scope["app"].state.hub
        method, path = scope["method"], scope["path"]
        limit = body_limit(method, path, state.settings)
        refusal: Response | None = None
        if declared is not None and declared < 0:
            refusal = _refuse(scope, 400, "Bad request", "Content-Length is not a number")
        elif declared is not None and declared > limit and not _route_refuses(method, path):
            refusal = _refuse(
                scope,
                413,
                "Payload too large",
                f"the body is {declared} bytes; this route takes at most {limit}",
            )
        elif path.startswith(_API_PREFIXES):
            large = _large(method, path)
            refusal = await _preauthenticate(
                scope, state, full=large is None or not large.authenticates_first
            )
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        received = 0
        complete = False

        async def limited() -> Message:
            nonlocal received, complete
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
                complete = not message.get("more_body", False)
            return message

        # A small body the route never asked for is in the server's buffer already; only a
        # larger or chunked one is worth ending the connection for.
        unread_matters = declared is None or declared > _SMALL_BODY

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete and unread_matters:
                # Answered before the whole body arrived (refused, or never read): close rather
                # than read and discard the rest of it.
                headers = [h for h in message.get("headers", ()) if h[0] != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, limited, closing)


def install(app: FastAPI) -> None:
    """Add the body limits to ``app``; a body cut off while read is a ``TooLarge`` (413)."""
    app.add_middleware(BodyLimits)
