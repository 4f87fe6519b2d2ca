"""The matching API under ``/api/v1``: match observables, exports with ETags, aggregates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from varsel.errors import InvalidInput
from varsel.http.deps import CurrentPrincipal, Hub
from varsel.matching import aggregates as aggregating
from varsel.matching import exports as exporting
from varsel.matching import flows, service
from varsel.matching.schemas import MatchRequest
from varsel.matching.settings import sighting_k

router = APIRouter(prefix="/api/v1", tags=["matching"])
Repeated = Annotated[list[str] | None, Query()]


@router.post("/match")
async def match(body: MatchRequest, state: Hub, principal: CurrentPrincipal) -> dict[str, Any]:
    """Match a small batch of observables against the indicators the caller may read."""
    observables = [
        service.Observable(o) if isinstance(o, str) else service.Observable(o.value, o.type)
        for o in body.observables
    ]

    def work() -> list[service.ObservableMatch]:
        with state.sessions() as session:
            found = service.match_observables(
                session=session,
                principal=principal,
                observables=observables,
                subdomains=body.subdomains,
            )
            session.commit()
            return found

    found = await run_in_threadpool(work)
    return {
        "matches": [
            {
                "observable": m.observable,
                "value": m.value,
                "type": m.role.value,
                "indicator_id": m.indicator_id,
                "indicator_name": m.indicator_name,
            }
            for m in found
        ]
    }


@router.get("/exports")
def export_formats(principal: CurrentPrincipal) -> dict[str, Any]:
    """List the export formats and indicator types (what a download page offers)."""
    return {
        "formats": [{"format": f, "media_type": exporting.MEDIA[f]} for f in exporting.FORMATS],
        "types": list(exporting.TYPES),
    }


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    # RFC 9110 §13.1.2: If-None-Match uses the weak comparison.
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


@router.get("/exports/{fmt}")
async def export(
    fmt: str,
    request: Request,
    state: Hub,
    principal: CurrentPrincipal,
    type: Repeated = None,
    tlp: Repeated = None,
    collection: Repeated = None,
    since: str | None = None,
    max_age: str | None = None,
) -> Response:
    """Return an export of what the caller may read; 304 when If-None-Match still holds.

    ``type``, ``tlp`` and ``collection`` (repeated or comma-separated), ``since`` (a date or
    RFC 3339 time) and ``max_age`` (``12h``, ``30d``, ``2w``) narrow it (docs/matching.md).
    """

    if_none_match = request.headers.get("if-none-match")

    def work() -> tuple[exporting.Export, bool]:
        with state.sessions() as session:
            filters = exporting.parse_filters(
                session=session,
                principal=principal,
                tlp=tlp,
                collection=collection,
                since=since,
                max_age=max_age,
            )
            result = exporting.export(
                session=session, principal=principal, fmt=fmt, types=type, filters=filters
            )
            unchanged = _etag_matches(if_none_match, result.etag)
            if not unchanged:
                flows.record_export_delivery(session=session, principal=principal, result=result)
            session.commit()
            return result, unchanged

    result, unchanged = await run_in_threadpool(work)
    headers = {
        "ETag": result.etag,
        "Cache-Control": "private, no-cache",
        "X-Varsel-Entries": str(result.count),
    }
    if unchanged:
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    return Response(content=result.body, media_type=result.media_type, headers=headers)


@router.get("/sightings/aggregates")
async def sighting_aggregates(
    request: Request, state: Hub, principal: CurrentPrincipal, indicator: Repeated = None
) -> dict[str, Any]:
    """Return k-anonymous sighting aggregates of indicators the caller may read."""
    unknown = set(request.query_params) - {"indicator"}
    if unknown:
        raise InvalidInput(
            f"aggregates take no {sorted(unknown)[0]!r} filter: filtering by "
            "contributor would let two queries be subtracted to single one out"
        )

    def work() -> list[aggregating.Aggregate]:
        with state.sessions() as session:
            rows = aggregating.aggregates(
                session=session, principal=principal, indicator_ids=indicator
            )
            session.commit()
            return rows

    rows = await run_in_threadpool(work)
    return {"k": sighting_k(), "aggregates": [r.as_dict() for r in rows]}
