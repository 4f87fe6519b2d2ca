"""Browse the objects visible to me, with filters and keyset paging, and open one object."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from varsel.error_map import status_of
from varsel.errors import InvalidInput
from varsel.http.deps import DbSession, Hub
from varsel.matching import aggregates as aggregating
from varsel.matching.settings import sighting_k
from varsel.sharing import browse, bulk
from varsel.sharing import service as sharing
from varsel.sharing.browse import BrowseFilters
from varsel.sharing.tlp import level_of_marking
from varsel.sharing.validation import SCO_TYPES, SDO_TYPES, SRO_TYPES
from varsel.web import listing, queries
from varsel.web.i18n import Translator, negotiate
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
    tr = Translator(negotiate(request.headers.get("accept-language")))
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


@dataclass(frozen=True)
class Property:
    """One property of an object as the page shows it."""

    name: str
    text: str | None = None
    links: tuple[str, ...] = ()
    block: str | None = None
    markings: tuple[str, ...] = ()


def _is_ref(value: object) -> bool:
    return isinstance(value, str) and "--" in value and " " not in value


def properties(obj: dict[str, Any]) -> list[Property]:
    """Return the properties of ``obj`` for display; references become links."""
    shown = []
    for name, value in obj.items():
        if (
            name == "object_marking_refs"
            and isinstance(value, list)
            and all(isinstance(ref, str) and level_of_marking(ref) for ref in value)
        ):
            # TLP markings are well known and not stored: show the label, not a dead link.
            levels = [level_of_marking(ref) for ref in value]
            shown.append(Property(name, markings=tuple(lv.value for lv in levels if lv)))
        elif name.endswith("_ref") and _is_ref(value):
            shown.append(Property(name, links=(value,)))
        elif name.endswith("_refs") and isinstance(value, list) and all(map(_is_ref, value)):
            shown.append(Property(name, links=tuple(value)))
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            shown.append(Property(name, text=", ".join(value)))
        elif isinstance(value, dict | list):
            shown.append(Property(name, block=json.dumps(value, indent=2, ensure_ascii=False)))
        else:
            shown.append(
                Property(
                    name, text=str(value) if not isinstance(value, bool) else str(value).lower()
                )
            )
    return shown


@dataclass(frozen=True)
class Link:
    """A relationship seen from this object: its type, direction and the object at the end."""

    relationship_id: str
    relationship_type: str
    other: str
    outgoing: bool


def _links(rows: list[tuple[str, str]], stix_id: str) -> list[Link]:
    out = []
    for rel_id, raw in rows:
        try:
            rel = json.loads(raw)
        except ValueError:
            continue
        source, target = rel.get("source_ref"), rel.get("target_ref")
        kind = str(rel.get("relationship_type", "related-to"))
        if source == stix_id and isinstance(target, str):
            out.append(Link(rel_id, kind, target, True))
        elif target == stix_id and isinstance(source, str):
            out.append(Link(rel_id, kind, source, False))
    return out


@router.get("/objects/{stix_id}")
def object_page(
    request: Request, db: DbSession, principal: SignedIn, stix_id: str, v: int | None = None
) -> Response:
    """Show one object: its properties, TLP, versions and relationships."""
    versions = browse.versions_of(session=db, principal=principal, stix_id=stix_id)
    db.commit()  # reading TLP:RED objects is audited
    index = len(versions) - 1 if v is None or not 0 <= v < len(versions) else v
    shown = versions[index]
    obj = json.loads(shown.raw)
    titles = {
        c.id: c.title for c, _ in sharing.visible_collections(session=db, principal=principal)
    }
    links = _links(queries.relationships(session=db, principal=principal, stix_id=stix_id), stix_id)
    # Only an indicator is sighted; the aggregate is absent until k organisations sighted it.
    sighted = (
        aggregating.aggregates(session=db, principal=principal, indicator_ids=[stix_id])
        if shown.type == "indicator"
        else []
    )
    return render(
        request,
        "object.html",
        stix_id=stix_id,
        versions=versions,
        index=index,
        shown=shown,
        obj=obj,
        props=properties(obj),
        links=links,
        titles=titles,
        raw=json.dumps(obj, indent=2, ensure_ascii=False),
        sightings=sighted[0] if sighted else None,
        k=sighting_k() if sighted else None,
    )
