"""The exports page: choose a format, indicator types, TLP, collections and age, then download.

The download is the same export the API serves (:func:`varsel.matching.exports.export`, which
compiles only the indicators the access policy lets the caller read), with its strong ETag, so
a browser or a script holding the web session gets ``304 Not Modified`` when nothing changed.
The page also shows the API URL a sensor polls for the same choice.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from varsel.error_map import status_of
from varsel.errors import InvalidInput, NotFound
from varsel.http.deps import DbSession
from varsel.matching import exports as exporting
from varsel.matching import flows as matching_flows
from varsel.policy.principal import Principal
from varsel.sharing import service as sharing
from varsel.sharing.tlp import TLP
from varsel.web.render import SECURITY_HEADERS, render
from varsel.web.sessions import SignedIn

router = APIRouter(prefix="/exports")
DEFAULT_FORMAT = "suricata"
Many = Annotated[list[str] | None, Query()]
# The ages the page offers; the API takes any number of hours, days or weeks.
AGES = ("", "24h", "7d", "30d", "90d", "365d")


def etag_matches(header: str | None, etag: str) -> bool:
    """Return whether an ``If-None-Match`` header names ``etag`` (or is ``*``)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    # RFC 9110 §13.1.2: If-None-Match compares weakly, so a W/ prefix does not matter.
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def _clean(values: list[str] | None) -> list[str]:
    return [v.strip() for v in values or [] if v.strip()]


def _query(fmt: str, chosen: dict[str, Any]) -> str:
    """Return the query string of the API URL for these choices (the format is in the path)."""
    pairs: list[tuple[str, str]] = [("type", t) for t in chosen["types"]]
    pairs += [("tlp", t) for t in chosen["tlp"]]
    pairs += [("collection", c) for c in chosen["collections"]]
    pairs += [(k, chosen[k]) for k in ("since", "max_age") if chosen[k]]
    return ("?" + urlencode(pairs)) if pairs else ""


def _page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    fmt: str,
    chosen: dict[str, Any],
    error: str | None = None,
    status: int = 200,
) -> Response:
    fmt = fmt if fmt in exporting.FORMATS else DEFAULT_FORMAT
    active = bool(chosen["tlp"] or chosen["collections"] or chosen["since"] or chosen["max_age"])
    return render(
        request,
        "exports.html",
        status_code=status,
        formats=exporting.FORMATS,
        types=exporting.TYPES,
        levels=list(TLP),
        ages=AGES,
        collections=[c for c, _ in sharing.visible_collections(session=db, principal=principal)],
        chosen_format=fmt,
        chosen_types=set(chosen["types"]),
        chosen=chosen,
        filters_open=active or error is not None,
        sensor_query=_query(fmt, chosen),
        error=error,
    )


def _chosen(
    type: list[str] | None,
    tlp: list[str] | None,
    collection: list[str] | None,
    since: str | None,
    max_age: str | None,
) -> dict[str, Any]:
    return {
        "types": _clean(type),
        "tlp": _clean(tlp),
        "collections": _clean(collection),
        "since": (since or "").strip(),
        "max_age": (max_age or "").strip(),
    }


@router.get("")
def exports_page(
    request: Request,
    db: DbSession,
    principal: SignedIn,
    format: str = DEFAULT_FORMAT,
    type: Many = None,
    tlp: Many = None,
    collection: Many = None,
    since: str | None = None,
    max_age: str | None = None,
) -> Response:
    """Show the export form: format, indicator types, TLP, collections and age."""
    chosen = _chosen(type, tlp, collection, since, max_age)
    return _page(request, db, principal, fmt=format, chosen=chosen)


@router.get("/download")
def download(
    request: Request,
    db: DbSession,
    principal: SignedIn,
    format: str = DEFAULT_FORMAT,
    type: Many = None,
    tlp: Many = None,
    collection: Many = None,
    since: str | None = None,
    max_age: str | None = None,
) -> Response:
    """Serve the export of what I may read; 304 when ``If-None-Match`` still holds."""
    chosen = _chosen(type, tlp, collection, since, max_age)
    try:
        filters = exporting.parse_filters(
            session=db,
            principal=principal,
            tlp=chosen["tlp"],
            collection=chosen["collections"],
            since=chosen["since"],
            max_age=chosen["max_age"],
        )
        result = exporting.export(
            session=db, principal=principal, fmt=format, types=chosen["types"], filters=filters
        )
    except (InvalidInput, NotFound) as exc:
        return _page(
            request,
            db,
            principal,
            fmt=format,
            chosen=chosen,
            error=exc.message,
            status=status_of(exc),
        )
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
