"""Objects of a collection: manifests, reads, adds, deletes and versions (§5.3-§5.8 of TAXII 2.1).

Reads return the raw JSON each object was received in; adds run the ingest in a worker thread
and answer with a status resource.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import select

from varsel.api.errors import TAXII_MEDIA_TYPE
from varsel.api.taxii._collections import readable_collection
from varsel.api.taxii._http import (
    date_headers,
    objects_envelope,
    page_limit,
    paged,
    query_filters,
    query_param,
    read_body,
    taxii_response,
)
from varsel.clock import us_to_rfc3339
from varsel.errors import NotFound
from varsel.http.deps import CurrentPrincipal, DbSession, Hub
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import ingest as ingesting
from varsel.sharing import query as querying
from varsel.sharing.models import StixObject


def _page(
    request: Request,
    state: Hub,
    session: DbSession,
    principal: Principal,
    collection_id: str,
    filters: querying.Filters,
) -> querying.Page:
    """Return the page the request's ``limit`` and ``next`` select, through the policy."""
    return querying.page(
        session=session,
        collection_id=collection_id,
        principal=principal,
        filters=filters,
        limit=page_limit(request, state),
        next_cursor=query_param(request, "next"),
        secret_key=state.settings.secret_key,
    )


def manifest(
    collection_id: str,
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """List manifest records of the objects the caller may read (§5.3 Get Object Manifests)."""
    row = readable_collection(session, principal, collection_id)
    page = _page(request, state, session, principal, row.id, query_filters(request))
    session.commit()
    body = paged(page)
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
    return taxii_response(body, headers=date_headers(page.rows))


def get_objects(
    collection_id: str,
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """Return the objects the caller may read, filtered and paged (§5.4 Get Objects)."""
    row = readable_collection(session, principal, collection_id)
    page = _page(request, state, session, principal, row.id, query_filters(request))
    session.commit()
    return objects_envelope(page)


async def add_objects(
    collection_id: str,
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """Add the envelope's objects, one by one; answer with a status resource (§5.5 Add Objects)."""
    body = await read_body(request, state.settings.max_content_length)

    def work() -> ingesting.IngestResult:
        row = readable_collection(session, principal, collection_id)
        result = ingesting.ingest(
            session=session,
            collection=row,
            principal=principal,
            body=body,
            # Checks the warning lists in its own process while this request validates.
            warnings_helper=state.warnings_helper,
        )
        session.commit()
        return result

    result = await run_in_threadpool(work)
    return taxii_response(
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


def get_object(
    collection_id: str,
    object_id: str,
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """Return one object's versions as the filters select (§5.6 Get An Object)."""
    row = readable_collection(session, principal, collection_id)
    filters = query_filters(request, allow_id=False, allow_type=False)
    filters = querying.Filters(
        ids=(object_id,),
        versions=filters.versions,
        spec_versions=filters.spec_versions,
        added_after_us=filters.added_after_us,
    )
    page = _page(request, state, session, principal, row.id, filters)
    if not page.rows and not query_param(request, "next"):
        _exists_for_caller(session, principal, row.id, object_id)
    session.commit()
    return objects_envelope(page)


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


def delete_object(
    collection_id: str,
    object_id: str,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """Delete the selected versions of one object (§5.7 Delete An Object)."""
    row = readable_collection(session, principal, collection_id)
    filters = query_filters(request, allow_id=False, allow_type=False)
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


def versions(
    collection_id: str,
    object_id: str,
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """List the versions of one object the caller may read (§5.8 Get Object Versions)."""
    row = readable_collection(session, principal, collection_id)
    filters = query_filters(request, allow_id=False, allow_type=False)
    filters = querying.Filters(
        ids=(object_id,),
        versions=("all",),
        spec_versions=filters.spec_versions,
        added_after_us=filters.added_after_us,
    )
    page = _page(request, state, session, principal, row.id, filters)
    if not page.rows and not query_param(request, "next"):
        _exists_for_caller(session, principal, row.id, object_id)
    session.commit()
    body = paged(page)
    if page.rows:
        body["versions"] = [r.version for r in page.rows]
    return taxii_response(body, headers=date_headers(page.rows))
