"""TAXII 2.1 server endpoints (OASIS TAXII Version 2.1, Committee Specification / OS, 2021).

Every handler cites the section it implements. Objects are returned as the raw JSON they were
received in, joined into the envelope without re-encoding, which is what makes reads fast.
Every read goes through :func:`varsel.policy.restrict` (inside the query functions used here).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import select

from varsel.api.deps import CurrentPrincipal, DbSession, Hub, HubState
from varsel.api.errors import TAXII_MEDIA_TYPE, HttpProblem
from varsel.clock import datetime_to_us, us_to_rfc3339
from varsel.errors import InvalidInput, NotFound
from varsel.orgs.service import Principal
from varsel.policy import Action, restrict
from varsel.sharing import ingest as ingesting
from varsel.sharing import query as querying
from varsel.sharing import service as sharing
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.validation import InvalidStixObject, parse_timestamp

API_ROOT = "hub"
router = APIRouter(prefix="/taxii2")


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
    raise HttpProblem(
        406,
        "Not acceptable",
        f"this server answers only with {TAXII_MEDIA_TYPE}; send it in Accept",
    )


Negotiated = Depends(_accepts_taxii)


def _taxii(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type=TAXII_MEDIA_TYPE,
        headers=headers,
    )


def _one(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"give {name} once")
    return values[0] if values else None


def _many(request: Request, name: str) -> tuple[str, ...]:
    return tuple(
        v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()
    )


def _filters(
    request: Request, *, allow_id: bool = True, allow_type: bool = True
) -> querying.Filters:
    """Parse the §3.4 filter parameters (match[…], added_after)."""
    added_after = _one(request, "added_after")
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


def _limit(request: Request, state: HubState) -> int:
    raw = _one(request, "limit")
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


def _date_headers(rows: list[querying.Row]) -> dict[str, str]:
    if not rows:
        return {}
    return {
        "X-TAXII-Date-Added-First": us_to_rfc3339(rows[0].date_added_us),
        "X-TAXII-Date-Added-Last": us_to_rfc3339(rows[-1].date_added_us),
    }


def _collection_resource(row: Collection, can_write: bool) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "id": row.id,
        "title": row.title,
        "description": row.description,
        "can_read": True,
        "can_write": can_write,
        "media_types": [TAXII_MEDIA_TYPE],
    }
    if row.alias:
        resource["alias"] = row.alias
    return resource


def _readable_collection(
    session: DbSession, principal: Principal, collection_id: str
) -> Collection:
    row = session.execute(
        restrict(select(Collection), principal, Action.READ).where(
            (Collection.id == collection_id) | (Collection.alias == collection_id)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no collection {collection_id!r}")
    return row


# Handlers that touch no database are ``async def``, which spares them a thread-pool hop.


@router.get("/", dependencies=[Negotiated])
async def discovery(state: Hub, principal: CurrentPrincipal) -> Response:
    """Describe this server and its API roots (§4.1 Server Discovery)."""
    root = f"/taxii2/{API_ROOT}/"
    return _taxii(
        {
            "title": state.settings.title,
            "description": "Varsel: STIX 2.1 sharing under TLP 2.0 for the Nordic cyber-resilience "
            "initiative",
            "default": root,
            "api_roots": [root],
        }
    )


@router.get(f"/{API_ROOT}/", dependencies=[Negotiated])
async def api_root(state: Hub, principal: CurrentPrincipal) -> Response:
    """Describe the API root (§4.2 Get API Root Information)."""
    return _taxii(
        {
            "title": state.settings.title,
            "description": "The hub's shared collections",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": state.settings.max_content_length,
        }
    )


@router.get(f"/{API_ROOT}/status/{{status_id}}/", dependencies=[Negotiated])
def status(status_id: str, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Return the status of an earlier POST of objects (§4.3 Get Status)."""
    row = sharing.get_status(session=session, status_id=status_id, principal=principal)
    details = sharing.status_details(row)
    return _taxii(
        {
            "id": row.id,
            "status": "complete",
            "request_timestamp": row.request_timestamp,
            "total_count": row.total_count,
            "success_count": row.success_count,
            "successes": details["successes"],
            "failure_count": row.failure_count,
            "failures": details["failures"],
            "pending_count": 0,
            "pendings": [],
        }
    )


@router.get(f"/{API_ROOT}/collections/", dependencies=[Negotiated])
def collections(session: DbSession, principal: CurrentPrincipal) -> Response:
    """List the collections with the caller's rights (§5.1 Get Collections)."""
    rows = sharing.visible_collections(session=session, principal=principal)
    body: dict[str, Any] = {}
    if rows:
        body["collections"] = [_collection_resource(row, can_write) for row, can_write in rows]
    return _taxii(body)


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/", dependencies=[Negotiated])
def collection(collection_id: str, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Describe one collection (§5.2 Get A Collection)."""
    row = _readable_collection(session, principal, collection_id)
    writable = (
        session.execute(
            restrict(select(Collection.id).where(Collection.id == row.id), principal, Action.WRITE)
        ).first()
        is not None
    )
    return _taxii(_collection_resource(row, writable))


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/manifest/", dependencies=[Negotiated])
def manifest(
    collection_id: str,
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """List manifest records of the objects the caller may read (§5.3 Get Object Manifests)."""
    row = _readable_collection(session, principal, collection_id)
    page = querying.page(
        session=session,
        collection_id=row.id,
        principal=principal,
        filters=_filters(request),
        limit=_limit(request, state),
        next_cursor=_one(request, "next"),
        secret_key=state.settings.secret_key,
    )
    session.commit()
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if page.rows:
        body["objects"] = [
            {
                "id": r.stix_id,
                "date_added": us_to_rfc3339(r.date_added_us),
                "version": r.version,
                "media_type": "application/stix+json;version=2.1",
            }
            for r in page.rows
        ]
    return _taxii(body, headers=_date_headers(page.rows))


def _objects_envelope(page: querying.Page) -> Response:
    # The objects are spliced in as received: no decode/encode round trip per object.
    head: dict[str, Any] = {"more": page.more}
    if page.next:
        head["next"] = page.next
    text = json.dumps(head, ensure_ascii=False)
    if page.rows:
        text = text[:-1] + ', "objects": [' + ", ".join(r.raw for r in page.rows) + "]}"
    return Response(text, media_type=TAXII_MEDIA_TYPE, headers=_date_headers(page.rows))


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/objects/", dependencies=[Negotiated])
def get_objects(
    collection_id: str,
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """Return the objects the caller may read, filtered and paged (§5.4 Get Objects)."""
    row = _readable_collection(session, principal, collection_id)
    page = querying.page(
        session=session,
        collection_id=row.id,
        principal=principal,
        filters=_filters(request),
        limit=_limit(request, state),
        next_cursor=_one(request, "next"),
        secret_key=state.settings.secret_key,
    )
    session.commit()
    return _objects_envelope(page)


async def _read_body(request: Request, limit: int) -> str:
    """Read the body, refusing more than ``limit`` bytes (413) and wrong media types (415)."""
    content_type = request.headers.get("content-type", "")
    media, *params = (p.strip() for p in content_type.split(";"))
    version = next((p.split("=", 1)[1].strip() for p in params if p.startswith("version=")), None)
    if media != "application/taxii+json" or version not in {None, "2.1"}:
        raise HttpProblem(
            415,
            "Unsupported media type",
            f"send the envelope as {TAXII_MEDIA_TYPE}, not {content_type or 'nothing'}",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpProblem(
            413,
            "Payload too large",
            f"the body is {declared} bytes; this API root takes at most {limit}",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpProblem(
                413,
                "Payload too large",
                f"the body exceeds this API root's max_content_length of {limit}",
            )
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 encoded JSON") from None


@router.post(f"/{API_ROOT}/collections/{{collection_id}}/objects/", dependencies=[Negotiated])
async def add_objects(
    collection_id: str,
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """Add the envelope's objects, one by one; answer with a status resource (§5.5 Add Objects)."""
    body = await _read_body(request, state.settings.max_content_length)

    def work() -> ingesting.IngestResult:
        row = _readable_collection(session, principal, collection_id)
        result = ingesting.ingest(session=session, collection=row, principal=principal, body=body)
        session.commit()
        return result

    result = await run_in_threadpool(work)
    return _taxii(
        {
            "id": result.status_id,
            "status": "complete",
            "request_timestamp": result.request_timestamp,
            "total_count": result.total,
            "success_count": len(result.successes),
            "successes": [o.as_taxii() for o in result.successes],
            "failure_count": len(result.failures),
            "failures": [o.as_taxii() for o in result.failures],
            "pending_count": 0,
            "pendings": [],
        },
        status=202,
    )


@router.get(
    f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/", dependencies=[Negotiated]
)
def get_object(
    collection_id: str,
    object_id: str,
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """Return one object's versions as the filters select (§5.6 Get An Object)."""
    row = _readable_collection(session, principal, collection_id)
    filters = _filters(request, allow_id=False, allow_type=False)
    filters = querying.Filters(
        ids=(object_id,),
        versions=filters.versions,
        spec_versions=filters.spec_versions,
        added_after_us=filters.added_after_us,
    )
    page = querying.page(
        session=session,
        collection_id=row.id,
        principal=principal,
        filters=filters,
        limit=_limit(request, state),
        next_cursor=_one(request, "next"),
        secret_key=state.settings.secret_key,
    )
    if not page.rows and not _one(request, "next"):
        _exists_for_caller(session, principal, row.id, object_id)
    session.commit()
    return _objects_envelope(page)


def _exists_for_caller(
    session: DbSession, principal: Principal, collection_id: str, object_id: str
) -> None:
    """Raise 404 unless the caller may read some version of the object (then 200, empty)."""
    found = session.execute(
        restrict(select(StixObject.id), principal, Action.READ)
        .where(StixObject.collection_id == collection_id, StixObject.stix_id == object_id)
        .limit(1)
    ).first()
    if found is None:
        raise NotFound(f"no object {object_id!r} in this collection")


@router.delete(
    f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/", dependencies=[Negotiated]
)
def delete_object(
    collection_id: str,
    object_id: str,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """Delete the selected versions of one object (§5.7 Delete An Object)."""
    row = _readable_collection(session, principal, collection_id)
    filters = _filters(request, allow_id=False, allow_type=False)
    if not request.query_params.getlist("match[version]"):
        # §5.7: without match[version] every version is deleted.
        filters = querying.Filters(versions=("all",), spec_versions=filters.spec_versions)
    querying.delete_object(
        session=session,
        collection_id=row.id,
        principal=principal,
        stix_id=object_id,
        filters=filters,
    )
    session.commit()
    return Response(status_code=200, media_type=TAXII_MEDIA_TYPE)


@router.get(
    f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/versions/",
    dependencies=[Negotiated],
)
def versions(
    collection_id: str,
    object_id: str,
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """List the versions of one object the caller may read (§5.8 Get Object Versions)."""
    row = _readable_collection(session, principal, collection_id)
    filters = _filters(request, allow_id=False, allow_type=False)
    filters = querying.Filters(
        ids=(object_id,),
        versions=("all",),
        spec_versions=filters.spec_versions,
        added_after_us=filters.added_after_us,
    )
    page = querying.page(
        session=session,
        collection_id=row.id,
        principal=principal,
        filters=filters,
        limit=_limit(request, state),
        next_cursor=_one(request, "next"),
        secret_key=state.settings.secret_key,
    )
    if not page.rows and not _one(request, "next"):
        _exists_for_caller(session, principal, row.id, object_id)
    session.commit()
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if page.rows:
        body["versions"] = [r.version for r in page.rows]
    return _taxii(body, headers=_date_headers(page.rows))
