"""MISP REST API routes that read: version, user, types, events, searches, feeds (docs/misp.md).

What PyMISP's constructor calls (``servers/getVersion``, ``users/view/me``,
``attributes/describeTypes.json``), what MISP's server pull asks (``POST events/index`` with
``minimal`` and ``published``, then ``GET events/view/<uuid>/deleted[]:0/…`` with CakePHP named
parameters), the searches (``events/restSearch``, ``attributes/restSearch``) and a collection's
MISP feed (``feeds/<collection id>/manifest.json``, ``hashes.csv``, ``<uuid>.json``). Every
answer is built by :mod:`varsel.misp.flows.reading` through ``restrict()``; refusals are MISP's
error objects (:mod:`varsel.misp.views.errors`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from importlib import metadata, resources
from typing import Any, Final, TypeVar
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from varsel.errors import InvalidInput, NotFound
from varsel.http.deps import CurrentPrincipal, DbSession
from varsel.matching import exports as exporting
from varsel.matching import flows as matching_flows
from varsel.misp.flows import reading
from varsel.misp.views.errors import MispRoute
from varsel.orgs.models import TokenScope
from varsel.policy.principal import Principal

router = APIRouter(route_class=MispRoute, tags=["misp"])
T = TypeVar("T")

# The MISP release whose API this imitates: the one the bundled PyMISP was made for.
_PYMISP: Final = metadata.version("pymisp")
MISP_VERSION: Final = ".".join(_PYMISP.split(".")[:3])
RETURN_FORMATS: Final = ("json", "csv", "text", "suricata", "stix2")
# MISP attribute types ⇄ the hub's export types (suricata and stix2 come from the exporters).
_EXPORT_TYPES: Final = {
    "ip-src": "ip",
    "ip-dst": "ip",
    "domain": "domain",
    "hostname": "domain",
    "url": "url",
    "link": "url",
    "email": "email",
    "email-src": "email",
    "email-dst": "email",
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
    "sha512": "sha512",
}
_MAX_BODY: Final = 1024 * 1024


@cache
def _describe_types() -> bytes:
    """Return PyMISP's bundled ``describeTypes.json`` (MISP's attribute types and categories)."""
    return resources.files("pymisp").joinpath("data/describeTypes.json").read_bytes()


async def _run(work: Callable[[], T]) -> T:
    return await run_in_threadpool(work)


def _named(path: str) -> tuple[str, dict[str, Any]]:
    """Split ``ref/key:value/list[]:v`` (CakePHP named parameters, as MISP's sync sends them)."""
    parts = [unquote(p) for p in path.split("/") if p]
    ref = ""
    named: dict[str, Any] = {}
    for part in parts:
        key, sep, value = part.partition(":")
        if not sep:
            if ref:
                raise NotFound("Invalid event")
            ref = part
            continue
        if key.endswith("[]"):
            named.setdefault(key[:-2], []).append(value)
        else:
            named[key] = value
    return ref.removesuffix(".json"), named


async def _body(request: Request) -> dict[str, Any]:
    """Return a search's filters: the JSON body, else the query string and named parameters."""
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise InvalidInput("the search body is larger than 1 MiB")
    data: dict[str, Any] = dict(request.query_params)
    if raw.strip():
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise InvalidInput("the request body is not JSON") from None
        if not isinstance(parsed, dict):
            raise InvalidInput("the request body must be a JSON object of filters")
        data.update(parsed)
    # PyMISP sends every filter it knows of, unset ones as null.
    return {k: v for k, v in data.items() if v is not None}


def _etagged(request: Request, body: bytes, media_type: str) -> Response:
    """Return ``body`` with a strong ETag, or 304 when ``If-None-Match`` names it."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=media_type, headers=headers)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    # RFC 9110 §13.1.2: If-None-Match compares weakly.
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


# What PyMISP's constructor and MISP's sync ask first ----------------------------------------


@router.get("/servers/getVersion")
@router.get("/servers/getVersion.json", include_in_schema=False)
async def get_version(principal: CurrentPrincipal) -> dict[str, Any]:
    """Return the MISP version this API imitates and what the caller's token may do."""
    writes = principal.scope is TokenScope.READ_WRITE
    return {
        "version": MISP_VERSION,
        "pymisp_recommended_version": _PYMISP,
        "perm_sync": writes,
        "perm_sighting": writes,
        "perm_galaxy_editor": False,
        "perm_analyst_data": False,
        "request_encoding": [],
        "filter_sightings": False,
    }


def _user(principal: Principal) -> dict[str, Any]:
    writes = principal.scope is TokenScope.READ_WRITE
    org = {
        "id": str(principal.org_id),
        "name": principal.org_name,
        "uuid": reading.org_uuid(principal.org_id),
        "local": True,
    }
    perms = {
        "perm_add": writes,
        "perm_modify": writes,
        "perm_modify_org": writes,
        "perm_publish": writes,
        "perm_delegate": False,
        "perm_sync": writes,
        "perm_admin": False,
        "perm_audit": False,
        "perm_auth": True,
        "perm_site_admin": False,
        "perm_regexp_access": False,
        "perm_tagger": writes,
        "perm_template": False,
        "perm_sharing_group": False,
        "perm_tag_editor": False,
        "perm_sighting": writes,
        "perm_object_template": False,
        "perm_galaxy_editor": False,
        "perm_warninglist": False,
        "perm_view_feed_correlations": False,
        "perm_analyst_data": False,
    }
    return {
        "User": {
            "id": str(principal.user_id),
            "org_id": str(principal.org_id),
            "email": principal.username,
            "role_id": "3" if writes else "6",
            "disabled": False,
            "autoalert": False,
            "contactalert": False,
            "termsaccepted": True,
            "change_pw": False,
            "nids_sid": "0",
        },
        "Role": {"id": "3" if writes else "6", "name": principal.role.value, **perms},
        "UserSetting": {},
        "Organisation": org,
    }


@router.get("/users/view/me")
@router.get("/users/view/me.json", include_in_schema=False)
async def view_me(principal: CurrentPrincipal) -> dict[str, Any]:
    """Return the caller as a MISP user (its organisation and what its token may do)."""
    return _user(principal)


@router.get("/attributes/describeTypes.json")
@router.get("/attributes/describeTypes", include_in_schema=False)
async def describe_types(principal: CurrentPrincipal) -> Response:
    """Return MISP's attribute types and categories (PyMISP's bundled copy)."""
    return Response(content=_describe_types(), media_type="application/json")


# Events --------------------------------------------------------------------------------------


@router.get("/events/index")
@router.post("/events/index")
@router.api_route("/events/index.json", methods=["GET", "POST"], include_in_schema=False)
@router.api_route("/events/index/{named:path}", methods=["GET", "POST"], include_in_schema=False)
async def event_index(
    request: Request, db: DbSession, principal: CurrentPrincipal, named: str = ""
) -> Response:
    """Return the event index (MISP's ``minimal``, ``published``, ``timestamp`` … filters).

    MISP's pull sends ``{"minimal": 1, "published": 1}`` and an ``If-None-Match``: an unchanged
    index is answered 304.
    """
    filters = await _body(request)
    filters.update(_named(named)[1])

    def work() -> list[dict[str, Any]]:
        q = reading.parse_query(filters)
        return reading.index(session=db, principal=principal, q=q)

    found = await _run(work)
    return _etagged(request, _json(found), "application/json")


def _view(db: DbSession, principal: Principal, ref: str) -> reading.FeedFile:
    meta, event = reading.one_event(session=db, principal=principal, ref=ref)
    reading.audit_red(session=db, principal=principal, metas=[meta], target=f"misp:{meta.uuid}")
    db.commit()
    return reading.event_file(meta, event)


@router.get("/events/view/{ref:path}")
@router.head("/events/view/{ref:path}", include_in_schema=False)
async def view_event(
    ref: str, request: Request, db: DbSession, principal: CurrentPrincipal
) -> Response:
    """Return one event by uuid or MISP id (HEAD: whether it exists for the caller)."""
    uuid, _ = _named(ref)
    file = await _run(lambda: _view(db, principal, uuid))
    if request.method == "HEAD":
        return Response(status_code=200)
    return Response(content=file.body, media_type=file.media_type)


# Searches ------------------------------------------------------------------------------------


def _format(filters: dict[str, Any]) -> str:
    fmt = str(filters.pop("returnFormat", "json") or "json").lower()
    if fmt not in RETURN_FORMATS:
        raise InvalidInput(
            f"returnFormat {fmt!r} is not served here; use one of {', '.join(RETURN_FORMATS)}"
        )
    return fmt


def _export(db: DbSession, principal: Principal, fmt: str, q: reading.Query) -> Response:
    """Serve suricata and stix2 from the hub's own exporters, narrowed by type and time."""
    types = sorted({_EXPORT_TYPES[t] for t in q.types if t in _EXPORT_TYPES})
    if q.types and not types:
        return Response(content="", media_type=exporting.MEDIA["plain"])
    since = (
        datetime.fromtimestamp(q.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if q.since is not None
        else None
    )
    filters = exporting.parse_filters(session=db, principal=principal, since=since)
    result = exporting.export(
        session=db,
        principal=principal,
        fmt="stix" if fmt == "stix2" else "suricata",
        types=types or None,
        filters=filters,
    )
    matching_flows.record_export_delivery(session=db, principal=principal, result=result)
    db.commit()
    return Response(content=result.body, media_type=result.media_type)


async def _search(
    request: Request, db: DbSession, principal: Principal, named: str, *, attributes: bool
) -> Response:
    filters = await _body(request)
    filters.update(_named(named)[1])
    fmt = _format(filters)
    q = reading.parse_query(filters)

    def work() -> Response:
        if fmt in ("suricata", "stix2"):
            return _export(db, principal, fmt, q)
        if attributes or fmt in ("csv", "text"):
            metas, found = reading.search_attributes(session=db, principal=principal, q=q)
        else:
            pairs = reading.search_events(session=db, principal=principal, q=q)
            metas = [m for m, _ in pairs]
        reading.audit_red(session=db, principal=principal, metas=metas, target="misp:search")
        db.commit()
        if fmt == "csv":
            return Response(content=reading.attributes_csv(found), media_type="text/csv")
        if fmt == "text":
            return Response(content=reading.attributes_text(found), media_type="text/plain")
        if attributes:
            return Response(
                content=_json({"response": {"Attribute": found}}), media_type="application/json"
            )
        return Response(
            content=_json({"response": [e for _, e in pairs]}), media_type="application/json"
        )

    return await _run(work)


@router.get("/events/restSearch")
@router.post("/events/restSearch")
@router.api_route("/events/restSearch.json", methods=["GET", "POST"], include_in_schema=False)
@router.api_route(
    "/events/restSearch/{named:path}", methods=["GET", "POST"], include_in_schema=False
)
async def search_events(
    request: Request, db: DbSession, principal: CurrentPrincipal, named: str = ""
) -> Response:
    """Search events: value, type, tags, timestamp, last, eventid, published, limit, page."""
    return await _search(request, db, principal, named, attributes=False)


@router.get("/attributes/restSearch")
@router.post("/attributes/restSearch")
@router.api_route("/attributes/restSearch.json", methods=["GET", "POST"], include_in_schema=False)
@router.api_route(
    "/attributes/restSearch/{named:path}", methods=["GET", "POST"], include_in_schema=False
)
async def search_attributes(
    request: Request, db: DbSession, principal: CurrentPrincipal, named: str = ""
) -> Response:
    """Search attributes with the filters of ``events/restSearch``."""
    return await _search(request, db, principal, named, attributes=True)


# Feeds ---------------------------------------------------------------------------------------


def _feed_file(request: Request, file: reading.FeedFile) -> Response:
    headers = {"ETag": file.etag, "Cache-Control": "private, no-cache"}
    if _etag_matches(request.headers.get("if-none-match"), file.etag):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers, media_type=file.media_type)
    return Response(content=file.body, media_type=file.media_type, headers=headers)


@router.get("/feeds/{collection_id}/manifest.json")
@router.head("/feeds/{collection_id}/manifest.json", include_in_schema=False)
async def feed_manifest(
    collection_id: str, request: Request, db: DbSession, principal: CurrentPrincipal
) -> Response:
    """Return a collection's feed manifest: ``{uuid: {info, date, timestamp, Orgc, Tag, …}}``."""
    file = await _run(
        lambda: reading.feed_manifest(session=db, principal=principal, collection_id=collection_id)
    )
    return _feed_file(request, file)


@router.get("/feeds/{collection_id}/hashes.csv")
@router.head("/feeds/{collection_id}/hashes.csv", include_in_schema=False)
async def feed_hashes(
    collection_id: str, request: Request, db: DbSession, principal: CurrentPrincipal
) -> Response:
    """Return a collection's ``hashes.csv``: ``md5 of a value,event uuid`` a line."""

    def work() -> reading.FeedFile:
        metas, file = reading.feed_hashes(
            session=db, principal=principal, collection_id=collection_id
        )
        reading.audit_red(
            session=db, principal=principal, metas=metas, target=f"misp:feed:{collection_id}"
        )
        db.commit()
        return file

    return _feed_file(request, await _run(work))


@router.get("/feeds/{collection_id}/{name}.json")
@router.head("/feeds/{collection_id}/{name}.json", include_in_schema=False)
async def feed_event(
    collection_id: str, name: str, request: Request, db: DbSession, principal: CurrentPrincipal
) -> Response:
    """Return one event of a collection's feed (``{"Event": …}``)."""

    def work() -> reading.FeedFile:
        meta, file = reading.feed_event(
            session=db, principal=principal, collection_id=collection_id, event_uuid=name
        )
        reading.audit_red(session=db, principal=principal, metas=[meta], target=f"misp:{name}")
        db.commit()
        return file

    return _feed_file(request, await _run(work))


# Last: ``events/<uuid>`` would otherwise answer for ``events/index`` and the searches.
@router.get("/events/{ref}")
@router.head("/events/{ref}", include_in_schema=False)
async def view_event_short(
    ref: str, request: Request, db: DbSession, principal: CurrentPrincipal
) -> Response:
    """Return one event by uuid or MISP id (``events/<uuid>``, as older PyMISP asks)."""
    file = await _run(lambda: _view(db, principal, ref.removesuffix(".json")))
    if request.method == "HEAD":
        return Response(status_code=200)
    return Response(content=file.body, media_type=file.media_type)
