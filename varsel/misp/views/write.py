"""MISP REST API routes that share: events/add, events/edit, sightings/add (docs/misp.md).

Each route authenticates before it reads a byte of the body (``varsel.api.limits`` marks them
``authenticates_first``), reads at most the hub's ``max_content_length``, and shares through
:mod:`varsel.misp.flows.writing` — the same ingest as every share. Answers are what PyMISP
expects: the event (as the caller may read it back) or the sighting on success, and MISP's
error object ``{"name", "message", "url", "errors"}`` with a 4xx status otherwise. The event
answer carries ``varsel_report``, the per-event and per-attribute outcome
(:meth:`varsel.misp.flows.writing.EventOutcome.as_json`), which PyMISP ignores.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from varsel.error_map import http_error
from varsel.errors import Forbidden, InvalidInput, NotFound, TooLarge, VarselError
from varsel.http.deps import CurrentPrincipal, DbSession, Hub
from varsel.misp import service
from varsel.misp.flows import reading, writing
from varsel.misp.views.errors import PREFIX, MispRoute
from varsel.policy.principal import Principal
from varsel.sharing import service as sharing
from varsel.sharing.models import Collection

# MispRoute: what the principal dependency refuses (no token, a read-only one) is answered as
# MISP answers too.
router = APIRouter(route_class=MispRoute, tags=["misp"])

_YEAR_10000 = 253_402_300_800  # seconds since the epoch
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


# Stale: MISP refuses an older version of an event it holds (MISP/MISP#8125); 409 says why.
_REFUSAL_STATUS: dict[writing.Refusal | None, int] = {
    writing.Refusal.INVALID: 400,
    writing.Refusal.STALE: 409,
    writing.Refusal.DENIED: 403,
}


class _MispError(Exception):
    """An answer in MISP's error shape."""

    def __init__(self, status: int, name: str, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.status, self.name, self.message, self.errors = status, name, message, errors


def _answer(request: Request, exc: _MispError) -> JSONResponse:
    path = request.url.path.removeprefix(PREFIX)
    return JSONResponse(
        {
            "name": exc.name,
            "message": exc.message,
            "url": path,
            "errors": exc.errors or exc.message,
        },
        status_code=exc.status,
    )


def _from_domain(name: str, exc: VarselError) -> _MispError:
    status = http_error(exc).status
    # Only the caller's faults are answered here; a 5xx stays the hub's (Busy: 503).
    return _MispError(status if status < 500 else 503, name, exc.message)


async def _json_body(request: Request, limit: int, name: str) -> Any:
    """Read and parse the JSON body, at most ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _MispError(413, name, f"the body is {declared} bytes; this hub takes at most {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _MispError(413, name, f"the body exceeds this hub's limit of {limit} bytes")
            chunks.append(chunk)
    except TooLarge as exc:
        raise _MispError(413, name, exc.message) from None
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _MispError(400, name, f"the body is not JSON: {exc}") from None


def _event_answer(
    session: Session,
    principal: Principal,
    collection: Collection,
    outcome: writing.EventOutcome,
    name: str,
) -> JSONResponse:
    """Return the stored event as the caller may read it, with the outcome; or MISP's error."""
    report = outcome.as_json()
    if outcome.status is writing.Status.REFUSED:
        session.rollback()
        status = _REFUSAL_STATUS.get(outcome.refusal, 400)
        raise _MispError(status, name, outcome.reason or "the event was refused", report)
    session.commit()
    try:
        # What the caller may read of it, as every read: through restrict().
        meta, event = reading.one_event(
            session=session, principal=principal, ref=outcome.uuid, collection_id=collection.id
        )
        reading.audit_red(
            session=session, principal=principal, metas=[meta], target=f"misp:{meta.uuid}"
        )
    except NotFound:
        # Stored, but nothing of it is readable by the sharer (recipients that exclude them).
        event = {"Event": {"uuid": outcome.uuid, "info": outcome.info}}
    session.commit()
    return JSONResponse({**event, "varsel_report": report})


def _share(
    session: Session,
    state_helper: Any,
    principal: Principal,
    collection: Collection,
    event: Any,
    name: str,
) -> JSONResponse:
    try:
        outcome = writing.share_event(
            session=session,
            principal=principal,
            collection=collection,
            event=event,
            warnings_helper=state_helper,
        )
    except VarselError as exc:
        session.rollback()
        raise _from_domain(name, exc) from None
    return _event_answer(session, principal, collection, outcome, name)


def _target(session: Session, principal: Principal, collection_ref: str | None) -> Collection:
    """Return the collection ``events/add`` shares into: ``?collection=`` (id, alias or title,
    as ``varsel misp import --collection`` takes it), or the organisation's."""
    if collection_ref:
        # Writability is the ingest's to decide (Forbidden, 403); an unreadable one is unknown.
        return sharing.find_collection(session=session, principal=principal, ref=collection_ref)
    found = service.collection_for(session, principal.org_id)
    if found is None:
        raise Forbidden(
            f"no collection is set for the MISP events of {principal.org_name}; a hub "
            "administrator sets one with 'varsel misp set-collection ORG COLLECTION'"
        )
    return found


@router.post("/events/add")
@router.post("/events/add/metadata:1")
async def add_event(
    request: Request, state: Hub, session: DbSession, principal: CurrentPrincipal
) -> JSONResponse:
    """Share a MISP event into the caller's organisation's MISP collection (MISP events/add)."""
    name = "Could not add Event"
    try:
        event = await _json_body(request, state.settings.max_content_length, name)

        def work() -> JSONResponse:
            try:
                collection = _target(session, principal, request.query_params.get("collection"))
            except VarselError as exc:
                raise _from_domain(name, exc) from None
            return _share(session, state.warnings_helper, principal, collection, event, name)

        return await run_in_threadpool(work)
    except _MispError as exc:
        return _answer(request, exc)


@router.post("/events/edit/{event_id}")
@router.post("/events/edit/{event_id}/metadata:1")
async def edit_event(
    event_id: str, request: Request, state: Hub, session: DbSession, principal: CurrentPrincipal
) -> JSONResponse:
    """Share a new version of one of the caller's organisation's events (MISP events/edit)."""
    name = "Could not edit Event"
    try:
        event = await _json_body(request, state.settings.max_content_length, name)

        def work() -> JSONResponse:
            body = writing.event_body(event)
            if body is None:
                raise _MispError(400, name, 'not a MISP event: expected {"Event": {…}}')
            uid = body.get("uuid") if isinstance(body.get("uuid"), str) else None
            if _UUID.fullmatch(event_id):
                target = event_id.lower()
                if uid is not None and uid.lower() != target:
                    raise _MispError(400, name, f"the event's uuid {uid} is not {event_id}")
            elif uid is not None:
                # MISP's numeric ids are not the hub's: the event's own uuid names it.
                target = uid.lower()
            else:
                raise _MispError(404, name, f"Invalid event: name it by its uuid, not {event_id}")
            body = {**body, "uuid": target}
            home = writing.event_home(session=session, principal=principal, event_uuid=target)
            if home is None:
                raise _MispError(
                    404, name, f"Invalid event: your organisation shared no event {target}"
                )
            return _share(session, state.warnings_helper, principal, home, {"Event": body}, name)

        return await run_in_threadpool(work)
    except _MispError as exc:
        return _answer(request, exc)


def _sighting_fields(
    payload: Any, attribute: str | None
) -> tuple[str | None, str | None, str | None, int | None]:
    """Return the attribute uuid or value, the sighting's uuid and time of a MISP sighting."""
    body = payload.get("Sighting", payload) if isinstance(payload, dict) else None
    if not isinstance(body, dict):
        raise InvalidInput('send a MISP sighting: {"uuid": "<attribute uuid>", …}')
    kind = str(body.get("type", "0"))
    if kind != "0":
        raise InvalidInput(
            "only sightings (type 0) are shared: a false positive (1) or an expiration (2) has "
            "no STIX sighting"
        )
    moment = body.get("date_sighting") or body.get("timestamp")
    seen_at = int(moment) if isinstance(moment, int | str) and str(moment).isdigit() else None
    if seen_at is not None and seen_at >= _YEAR_10000:
        raise InvalidInput(f"the sighting's time {seen_at} is past the year 9999")
    if attribute is not None:
        if not _UUID.fullmatch(attribute):
            raise InvalidInput("name the sighted attribute by its uuid, not its MISP id")
        own = body.get("uuid")
        # The body's uuid is the sighting's own only when it is not the attribute's.
        key = own if isinstance(own, str) and own.lower() != attribute.lower() else None
        return attribute.lower(), None, key, seen_at
    target = body.get("uuid")
    if isinstance(target, str) and _UUID.fullmatch(target):
        return target.lower(), None, None, seen_at
    values = body.get("values") or body.get("value")
    if isinstance(values, list) and len(values) == 1:
        values = values[0]
    if isinstance(values, str) and values.strip():
        return None, values.strip(), None, seen_at
    raise InvalidInput(
        "name the sighted attribute: POST /misp/sightings/add/<attribute uuid>, or "
        '"uuid" (the attribute\'s) or "value" in the body'
    )


@router.post("/sightings/add")
@router.post("/sightings/add/{attribute_id}")
async def add_sighting(
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
    attribute_id: str | None = None,
) -> JSONResponse:
    """Share a sighting of an attribute the caller may read, as a hub sighting (MISP)."""
    name = "Could not add Sighting"
    try:
        payload = await _json_body(request, state.settings.max_content_length, name)

        def work() -> JSONResponse:
            try:
                attribute, value, own, seen_at = _sighting_fields(payload, attribute_id)
                now = int(time.time())
                outcomes = writing.share_sighting(
                    session=session,
                    principal=principal,
                    collection=service.collection_for(session, principal.org_id),
                    attribute_uuid=attribute,
                    value=value,
                    key=own or str(uuid.uuid4()),
                    seen_at=seen_at,
                )
            except VarselError as exc:
                session.rollback()
                raise _from_domain(name, exc) from None
            session.commit()
            sightings = [
                {
                    "uuid": o.sighting_id.partition("--")[2],
                    "attribute_uuid": o.attribute_uuid,
                    "date_sighting": str(seen_at if seen_at is not None else now),
                    "org_id": str(principal.org_id),
                    "source": "",
                    "type": "0",
                    "stix_id": o.sighting_id,
                    "stored": o.stored,
                }
                for o in outcomes
            ]
            if len(sightings) == 1:
                return JSONResponse({"Sighting": sightings[0]})
            return JSONResponse([{"Sighting": x} for x in sightings])

        return await run_in_threadpool(work)
    except _MispError as exc:
        return _answer(request, exc)
