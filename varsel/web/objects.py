"""Browse the objects visible to me, with filters and keyset paging (one object: pivot.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from varsel.error_map import status_of
from varsel.errors import InvalidInput
from varsel.http.deps import DbSession, Hub
from varsel.sharing import browse
from varsel.sharing import service as sharing
from varsel.sharing.browse import BrowseFilters
from varsel.sharing.validation import SCO_TYPES, SDO_TYPES, SRO_TYPES
from varsel.web import queries
from varsel.web.render import render
from varsel.web.sessions import SignedIn

router = APIRouter()
PAGE_SIZE = 50
# STIX 2.1 object types (§4-§6) offered in the type filter, from the validator's tables.
STIX_TYPES = (*sorted(SDO_TYPES), *sorted(SRO_TYPES), *sorted(SCO_TYPES))
FILTER_FIELDS = (
    "type",
    "tlp",
    "producer",
    "country",
    "community",
    "collection",
    "added_after",
    "q",
)


def _options(db: Any, principal: Any) -> dict[str, Any]:
    return {
        "types": STIX_TYPES,
        "collections": [c for c, _ in sharing.visible_collections(session=db, principal=principal)],
        "producers": [o.name for o in queries.organisations(session=db, principal=principal)],
        "countries": queries.countries(session=db, principal=principal),
        "communities": sorted(queries.community_names(session=db, principal=principal).values()),
    }


@router.get("/objects")
def object_list(
    request: Request, state: Hub, db: DbSession, principal: SignedIn, next: str | None = None
) -> Response:
    """List the latest versions of the objects I may read, newest first, filtered."""
    values = {name: request.query_params.get(name, "").strip() for name in FILTER_FIELDS}
    options = _options(db, principal)
    titles = {c.id: c.title for c in options["collections"]}
    try:
        filters = BrowseFilters.parse(
            type=values["type"],
            tlp=values["tlp"],
            collection=values["collection"],
            producer=values["producer"],
            country=values["country"],
            community=values["community"],
            added_after=values["added_after"],
            text=values["q"],
        )
        page = browse.search(
            session=db,
            principal=principal,
            filters=filters,
            limit=PAGE_SIZE,
            next_cursor=next or None,
            secret_key=state.settings.secret_key,
        )
    except InvalidInput as exc:
        return render(
            request,
            "objects.html",
            status_code=status_of(exc),
            values=values,
            rows=[],
            error=exc.message,
            next_url=None,
            first_url=None,
            titles=titles,
            **options,
        )
    db.commit()  # reading TLP:RED objects is audited
    active = {k: v for k, v in values.items() if v}
    next_url = "/objects?" + urlencode({**active, "next": page.next}) if page.next else None
    first_url = "/objects?" + urlencode(active) if next else None
    return render(
        request,
        "objects.html",
        values=values,
        rows=page.rows,
        error=None,
        next_url=next_url,
        first_url=first_url,
        titles=titles,
        **options,
    )
