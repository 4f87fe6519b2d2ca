"""Search and the observable look-up over the REST API, the same as the pages give.

``GET /api/v1/search?q=`` and ``POST /api/v1/lookup`` answer with
:func:`varsel.web.search.search_json` and :func:`varsel.web.search.lookup_json` over the same
reads as ``/search`` and ``/lookup`` (tests/web/test_parity.py). Docs: docs/web.md.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from varsel.errors import InvalidInput, TooLarge, UnsupportedMediaType
from varsel.http.deps import CurrentPrincipal, DbSession, Hub
from varsel.web import search as searching

router = APIRouter(prefix="/api/v1", tags=["rest"])

_LOOKUP_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"],
                }
            },
        },
    }
}


@router.get("/search")
def search(session: DbSession, principal: CurrentPrincipal, q: str = "") -> dict[str, Any]:
    """Find the objects, incidents and (for officers) people the caller may see by text."""
    query = searching.parse_query(q)
    results = searching.find(session=session, principal=principal, query=query)
    session.commit()  # reading TLP:RED objects is audited
    return searching.search_json(results)


@router.post("/lookup", openapi_extra=_LOOKUP_BODY)
async def lookup(
    request: Request, state: Hub, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Extract the observables of a text and say, per value, what the caller may know of it.

    The body is the text itself (``text/plain``) or ``{"text": "..."}`` (``application/json``).
    """
    declared = request.headers.get("content-length", "")
    limit = state.settings.max_content_length
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the body exceeds {limit} bytes")
    raw = await request.body()
    if len(raw) > limit:
        raise TooLarge(f"the body exceeds {limit} bytes")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 text") from None
    media = request.headers.get("content-type", "text/plain").split(";", 1)[0].strip().lower()
    if media == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError:
            raise InvalidInput("the body is not valid JSON") from None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("text"), str):
            raise InvalidInput('the JSON body must be an object with a "text" string')
        body = parsed["text"]
    elif media not in ("text/plain", ""):
        raise UnsupportedMediaType('send the text as text/plain or as JSON {"text": ...}')
    known = searching.look_up(session=session, principal=principal, text=body)
    session.commit()  # reading TLP:RED objects is audited
    return searching.lookup_json(known)
