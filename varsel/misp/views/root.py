"""MISP's API where PyMISP asks for it: ``PyMISP("http://HUB/misp", …)`` requests ``/events/…``.

PyMISP joins each path to its root URL with ``urllib.parse.urljoin``, which drops a last path
segment without a trailing slash: ``PyMISP("http://HUB/misp", TOKEN)`` asks for
``http://HUB/servers/getVersion``, not ``…/misp/servers/getVersion``. MISP's own server sync
and feed fetcher concatenate, and reach ``/misp/…`` as configured. This middleware serves the
former from ``/misp/`` too: a request under one of MISP's controllers that carries the bare
``Authorization: <key>`` header only MISP clients send is routed as if it had asked for
``/misp/<path>``. Nothing else changes (the hub has no pages under these names), and a
request without that header is left alone, so no browser or other client is affected.
"""

from __future__ import annotations

from typing import Any, Final

# MISP's controllers a client reads or writes through; the hub serves none of them at its root.
CONTROLLERS: Final = frozenset({"servers", "users", "attributes", "events", "sightings"})


def _bare_authorization(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"authorization":
            return bool(value.strip()) and b" " not in value.strip()
    return False


class MispAtRoot:
    """ASGI middleware: route ``/<MISP controller>/…`` with a bare key to ``/misp/…``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path: str = scope.get("path", "")
            first = path.split("/", 2)[1] if path.count("/") >= 2 else ""
            if first in CONTROLLERS and _bare_authorization(scope.get("headers", [])):
                scope = dict(scope)
                scope["path"] = "/misp" + path
                raw = scope.get("raw_path")
                if isinstance(raw, bytes):
                    scope["raw_path"] = b"/misp" + raw
        await self.app(scope, receive, send)
