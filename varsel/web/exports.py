"""The exports page: choose a format and indicator types, then download what I may read.

The download is the same export the API serves (:func:`varsel.matching.exports.export`, which
compiles only the indicators the access policy lets the caller read), with its strong ETag, so
a browser or a script holding the web session gets ``304 Not Modified`` when nothing changed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from varsel.error_map import status_of
from varsel.errors import InvalidInput
from varsel.http.deps import DbSession
from varsel.matching import exports as exporting
from varsel.matching import flows as matching_flows
from varsel.web.render import SECURITY_HEADERS, render
from varsel.web.sessions import SignedIn

router = APIRouter(prefix="/exports")
DEFAULT_FORMAT = "suricata"


def etag_matches(header: str | None, etag: str) -> bool:
    """Return whether an ``If-None-Match`` header names ``etag`` (or is ``*``)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    # RFC 9110 §13.1.2: If-None-Match compares weakly, so a W/ prefix does not matter.
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def _page(
    request: Request, *, fmt: str, types: list[str], error: str | None = None, status: int = 200
) -> Response:
    return render(
        request,
        "exports.html",
        status_code=status,
        formats=exporting.FORMATS,
        types=exporting.TYPES,
        chosen_format=fmt if fmt in exporting.FORMATS else DEFAULT_FORMAT,
        chosen_types=set(types),
        error=error,
    )


@router.get("")
def exports_page(request: Request, principal: SignedIn) -> Response:
    """Show the export form: a format and the indicator types to include."""
    return _page(request, fmt=DEFAULT_FORMAT, types=[])


@router.get("/download")
def download(
    request: Request,
    db: DbSession,
    principal: SignedIn,
    format: str = DEFAULT_FORMAT,
    type: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Serve the export of what I may read; 304 when ``If-None-Match`` still holds."""
    types = [t for t in type or [] if t.strip()]
    try:
        result = exporting.export(session=db, principal=principal, fmt=format, types=types)
    except InvalidInput as exc:
        return _page(request, fmt=format, types=types, error=exc.message, status=status_of(exc))
    headers = {
        **SECURITY_HEADERS,
        # Revalidate every time: the ETag makes an unchanged export cost one small query.
        "Cache-Control": "private, no-cache",
        "ETag": result.etag,
        "X-Varsel-Entries": str(result.count),
    }
    if etag_matches(request.headers.get("if-none-match"), result.etag):
        return Response(status_code=304, headers=headers)
    matching_flows.record_export_delivery(session=db, principal=principal, result=result)
    db.commit()
    headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    return Response(content=result.body, media_type=result.media_type, headers=headers)
