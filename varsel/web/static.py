"""Serve the pages' CSS, script and icon from the package; the TLP colours from tlp.json."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from starlette.responses import Response

from varsel.errors import NotFound
from varsel.sharing.tlp import TLP, colours

router = APIRouter()

# Only these files are served: no path from the URL ever reaches the file system.
_FILES = {
    "varsel.css": "text/css; charset=utf-8",
    "varsel.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_CACHE = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}


def tlp_css() -> str:
    """Return the CSS of the TLP labels, coloured as FIRST prescribes (rules are data)."""
    rules = []
    for level in TLP:
        ink, background = colours(level)
        name = level.value.replace("+", "-")
        # TLP:CLEAR is white on black in the standard; a border keeps it visible on white.
        rules.append(f".tlp-{name} {{ color: {ink}; background: {background}; }}")
    return "\n".join(rules) + "\n"


@router.get("/static/tlp.css")
def tlp_stylesheet() -> Response:
    """Return the TLP label colours."""
    return Response(tlp_css(), media_type="text/css; charset=utf-8", headers=_CACHE)


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """Return one of the hub's own static files."""
    if name not in _FILES:
        raise NotFound(f"no static file {name!r}")
    body = resources.files("varsel.web").joinpath("static", name).read_bytes()
    return Response(body, media_type=_FILES[name], headers=_CACHE)
