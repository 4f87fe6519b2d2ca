"""Browse the objects visible to me, with filters and keyset paging (one object: pivot.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from varsel.error_map import status_of
from varsel.errors import InvalidInput
from varsel.http.deps import DbSession, Hub
from varsel.sharing import browse, bulk
from varsel.sharing import service as sharing
from varsel.sharing.browse import BrowseFilters
from varsel.sharing.validation import SCO_TYPES, SDO_TYPES, SRO_TYPES
from varsel.web import listing, queries
from varsel.web.i18n import Translator, request_lang
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


def _options(db: Any, principal: Any, visible: list[tuple[Any, bool]]) -> dict[str, Any]:
    return {
        "types": STIX_TYPES,
        "collections": [c for c, _ in visible],
        "producers": [o.name for o in queries.organisations(session=db, principal=principal)],
        "countries": queries.countries(session=db, principal=principal),
        "communities": sorted(queries.community_names(session=db, principal=principal).values()),
    }


def _count_text(tr: Translator, count: browse.Count) -> str:
    """Return the result count as a sentence that says how exact it is."""
    if count.exact:
        return tr.ngettext("%(shown)s object", "%(shown)s objects", count.n, shown=f"{count.n:,}")
    if count.capped:
        return tr.gettext("More than %(num)s objects", num=f"{count.n:,}")
    return tr.gettext(
        "More than %(num)s objects (too many to count quickly; narrow the filters for a count)",
        num=f"{count.n:,}",
    )


@router.get("/objects")
def object_list(
    request: Request, state: Hub, db: DbSession, principal: SignedIn, next: str | None = None
) -> Response:
    """List the latest versions of the objects I may read, newest first, filtered and counted."""
    tr = Translator(request_lang(request))
    values = {name: request.query_params.get(name, "").strip() for name in FILTER_FIELDS}
    visible = sharing.visible_collections(session=db, principal=principal)
    options = _options(db, principal, visible)
    titles = {c.id: c.title for c in options["collections"]}
    active = {k: v for k, v in values.items() if v}
    common = {
        "values": values,
        "titles": titles,
        "filters_active": len(active),
        "bulk": bulk_options(db, principal, visible),
        "back": str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
        **options,
    }
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
            rows=[],
            error=exc.message,
            next_url=None,
            first_url=None,
            count_text=None,
            **common,
        )
    if not next and not page.more:
        # The whole list is on this page: its length is the count, at no cost.
        count = browse.Count(len(page.rows), exact=True)
    else:
        count = browse.count_capped(
            session=db, principal=principal, filters=filters, at_least=PAGE_SIZE
        )
    rows = listing.rows(session=db, principal=principal, hits=page.rows)
    db.commit()  # reading TLP:RED objects is audited
    next_url = "/objects?" + urlencode({**active, "next": page.next}) if page.next else None
    first_url = "/objects?" + urlencode(active) if next else None
    return render(
        request,
        "objects.html",
        rows=rows,
        error=None,
        next_url=next_url,
        first_url=first_url,
        count_text=_count_text(tr, count),
        count=count,
        **common,
    )


def bulk_options(db: Any, principal: Any, visible: list[tuple[Any, bool]]) -> dict[str, Any]:
    """Return what the bulk form offers: writable collections and registered clients."""
    return {
        "collections": [c for c, w in visible if w],
        "clients": bulk.clients(session=db, principal=principal),
    }
