"""The TAXII HTTP layer: content negotiation, request bodies, query parameters, responses.

Requests that do not accept the TAXII 2.1 media type are refused before a handler runs; bodies
are read with the API root's size limit; the §3.4 filter and §3.3 paging parameters are parsed
here, and every answer carries the TAXII media type.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from varsel.api.errors import TAXII_MEDIA_TYPE
from varsel.clock import datetime_to_us, us_to_rfc3339
from varsel.errors import InvalidInput, NotAcceptable, TooLarge, UnsupportedMediaType
from varsel.http.deps import HubState
from varsel.sharing import query as querying
from varsel.sharing.validation import InvalidStixObject, parse_timestamp


async def _accepts_taxii(request: Request) -> None:
    """Refuse with 406 unless the client accepts the TAXII 2.1 media type (§1.6.8 / §3.1)."""
    accept = request.headers.get("accept", "*/*")
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        version = next(
            (p.split("=", 1)[1].strip() for p in params if p.startswith("version=")), None
        )
        if media in {"*/*", "application/*"}:
            return
        if media == "application/taxii+json" and version in {None, "2.1"}:
            return
    raise NotAcceptable(f"this server answers only with {TAXII_MEDIA_TYPE}; send it in Accept")


Negotiated = Depends(_accepts_taxii)


def taxii_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return ``body`` as a TAXII 2.1 JSON response."""
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type=TAXII_MEDIA_TYPE,
        headers=headers,
    )


def query_param(request: Request, name: str) -> str | None:
    """Return the one value of query parameter ``name`` (None if absent); refuse repeats."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"give {name} once")
    return values[0] if values else None


def _many(request: Request, name: str) -> tuple[str, ...]:
    return tuple(
        v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()
    )


def query_filters(
    request: Request, *, allow_id: bool = True, allow_type: bool = True
) -> querying.Filters:
    """Parse the §3.4 filter parameters (match[…], added_after)."""
    added_after = query_param(request, "added_after")
    added_after_us = None
    if added_after is not None:
        try:
            added_after_us = datetime_to_us(parse_timestamp(added_after))
        except InvalidStixObject:
            raise InvalidInput(
                f"added_after must be an RFC 3339 timestamp, got {added_after!r}"
            ) from None
    versions = _many(request, "match[version]") or ("last",)
    return querying.Filters(
        ids=_many(request, "match[id]") if allow_id else (),
        types=_many(request, "match[type]") if allow_type else (),
        versions=versions,
        spec_versions=_many(request, "match[spec_version]"),
        added_after_us=added_after_us,
    )


def page_limit(request: Request, state: HubState) -> int:
    """Return the page size asked for with ``limit``, within the hub's bounds."""
    raw = query_param(request, "limit")
    if raw is None:
        return state.settings.default_page_size
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"limit must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise InvalidInput("limit must be at least 1")
    # §3.3: the server may return fewer than asked for.
    return min(value, state.settings.max_page_size)


def date_headers(rows: list[querying.Row]) -> dict[str, str]:
    """Return the X-TAXII-Date-Added-First/-Last headers for a page's rows."""
    if not rows:
        return {}
    return {
        "X-TAXII-Date-Added-First": us_to_rfc3339(rows[0].date_added_us),
        "X-TAXII-Date-Added-Last": us_to_rfc3339(rows[-1].date_added_us),
    }


def paged(page: querying.Page) -> dict[str, Any]:
    """Return the paging members of a TAXII list resource (``more``, ``next``)."""
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    return body


def objects_envelope(page: querying.Page) -> Response:
    """Return a page of objects as a TAXII envelope, splicing in each stored raw JSON."""
    # The objects are spliced in as received: no decode/encode round trip per object.
    text = json.dumps(paged(page), ensure_ascii=False)
    if page.rows:
        text = text[:-1] + ', "objects": [' + ", ".join(r.raw for r in page.rows) + "]}"
    return Response(text, media_type=TAXII_MEDIA_TYPE, headers=date_headers(page.rows))


async def read_body(request: Request, limit: int) -> str:
    """Read the body, refusing more than ``limit`` bytes (413) and wrong media types (415)."""
    content_type = request.headers.get("content-type", "")
    media, *params = (p.strip() for p in content_type.split(";"))
    version = next((p.split("=", 1)[1].strip() for p in params if p.startswith("version=")), None)
    if media != "application/taxii+json" or version not in {None, "2.1"}:
        raise UnsupportedMediaType(
            f"send the envelope as {TAXII_MEDIA_TYPE}, not {content_type or 'nothing'}",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(
            f"the body is {declared} bytes; this API root takes at most {limit}",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(
                f"the body exceeds this API root's max_content_length of {limit}",
            )
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 encoded JSON") from None
