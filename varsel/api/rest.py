"""The REST API under ``/api/v1``: search and share for people and scripts (RFC 9457 errors)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from varsel.audit import service as audit
from varsel.clock import us_to_rfc3339, utcnow
from varsel.errors import Forbidden, InvalidInput, TooLarge
from varsel.http.deps import CurrentPrincipal, DbSession, Hub
from varsel.orgs import flows
from varsel.orgs.models import Role, TokenScope
from varsel.sharing import browse
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.envelope import split

router = APIRouter(prefix="/api/v1", tags=["rest"])


@router.get("/me")
def me(principal: CurrentPrincipal) -> dict[str, Any]:
    """Return who the caller is."""
    return {
        "username": principal.username,
        "organisation": principal.org_name,
        "country": principal.country,
        "role": principal.role.value,
    }


@router.get("/collections")
def list_collections(session: DbSession, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """List collections with the caller's rights."""
    return [
        {
            "id": c.id,
            "title": c.title,
            "description": c.description,
            "default_tlp": c.default_tlp,
            "can_read": True,
            "can_write": w,
        }
        for c, w in sharing.visible_collections(session=session, principal=principal)
    ]


@router.get("/objects")
def list_objects(
    request: Request,
    state: Hub,
    session: DbSession,
    principal: CurrentPrincipal,
    type: str | None = None,
    tlp: str | None = None,
    collection: str | None = None,
    producer: str | None = None,
    country: str | None = None,
    community: str | None = None,
    added_after: str | None = None,
    q: str | None = None,
    limit: int = 50,
    next: str | None = None,
) -> dict[str, Any]:
    """Search the latest versions of the objects the caller may read, newest first."""
    filters = browse.BrowseFilters.parse(
        type=type,
        tlp=tlp,
        collection=collection,
        producer=producer,
        country=country,
        community=community,
        added_after=added_after,
        text=q,
    )
    page = browse.search(
        session=session,
        principal=principal,
        filters=filters,
        limit=max(1, min(limit, state.settings.max_page_size)),
        next_cursor=next,
        secret_key=state.settings.secret_key,
    )
    session.commit()
    return {
        "objects": [
            {
                "id": r.stix_id,
                "type": r.type,
                "name": r.name,
                "tlp": r.tlp,
                "version": r.version,
                "collection": r.collection_id,
                "producer": r.producer,
                "country": r.country,
                "date_added": us_to_rfc3339(r.date_added_us),
                "object": json.loads(r.raw),
            }
            for r in page.rows
        ],
        "more": page.more,
        "next": page.next,
    }


@router.get("/objects/{stix_id}")
def get_object(stix_id: str, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Return every version of one object the caller may read, in every collection."""
    rows = browse.versions_of(session=session, principal=principal, stix_id=stix_id)
    session.commit()
    return {
        "id": stix_id,
        "versions": [
            {
                "version": r.version,
                "tlp": r.tlp,
                "collection": r.collection_id,
                "producer": r.producer,
                "date_added": us_to_rfc3339(r.date_added_us),
                "object": json.loads(r.raw),
            }
            for r in rows
        ],
    }


class ShareRequest(BaseModel):
    """A bundle or list of STIX objects to share, with recipients for TLP:RED objects."""

    objects: list[Any] = Field(description="STIX 2.1 objects (a bundle's 'objects')")
    recipients: list[str] = Field(
        default_factory=list,
        description="Recipients of TLP:RED (and TLP:AMBER+STRICT) objects without their own "
        "x_varsel_recipients: organisation names, or 'user:USERNAME'; 'NAME@HUB' at a peer hub",
    )


@router.post("/collections/{collection_id}/share", status_code=200)
async def share(
    collection_id: str, request: Request, state: Hub, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Share STIX objects into a collection; report what was accepted and rejected."""
    raw = await request.body()
    if len(raw) > state.settings.max_content_length:
        raise TooLarge(f"the body exceeds {state.settings.max_content_length} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 encoded JSON") from None
    envelope = split(text)
    recipients = envelope.properties.pop("recipients", None)
    if recipients is not None and (
        not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients)
    ):
        raise InvalidInput("'recipients' must be a list of strings")

    def work() -> ingesting.IngestResult:
        with state.sessions() as session:
            coll = sharing.readable_collection(
                session=session, principal=principal, collection_id=collection_id
            )
            result = ingesting.ingest(
                session=session,
                collection=coll,
                principal=principal,
                body=envelope,
                recipients=recipients,
            )
            session.commit()
            return result

    result = await run_in_threadpool(work)
    return {
        "status": result.status_id,
        "accepted": [o.as_taxii() for o in result.successes],
        "rejected": [o.as_taxii() for o in result.failures],
    }


class ReshareRequest(BaseModel):
    """Pass a TLP:AMBER object on to one of your organisation's registered clients."""

    collection: str
    client: str


@router.post("/objects/{stix_id}/reshare")
def reshare(
    stix_id: str, body: ReshareRequest, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Re-share a TLP:AMBER object to a registered client of the caller's organisation."""
    count = browse.reshare(
        session=session,
        principal=principal,
        collection_id=body.collection,
        stix_id=stix_id,
        client=body.client,
    )
    session.commit()
    return {"reshared_versions": count, "client": body.client}


class TokenRequest(BaseModel):
    """Create an API token for yourself (nobody mints a token for someone else)."""

    name: str = Field(default="api", max_length=100)
    scope: TokenScope = Field(default=TokenScope.READ_WRITE, description="'read' or 'read-write'")
    expires_days: int | None = Field(
        default=None, ge=1, le=3650, description="Days until it expires (default: never)"
    )


@router.post("/tokens", status_code=201)
def create_token(
    body: TokenRequest, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Create an API token for the caller; the token is in this response only.

    Made with a token, the new token is its child: it expires no later than the token used,
    its scope is no wider, and it is revoked with it.
    """
    row, token = flows.create_token(
        session=session,
        principal=principal,
        name=body.name,
        scope=body.scope.value,
        expires_at=utcnow() + timedelta(days=body.expires_days) if body.expires_days else None,
    )
    session.commit()
    return {
        "id": row.id,
        "name": row.name,
        "scope": row.scope,
        "expires_at": row.expires_at.isoformat() + "Z" if row.expires_at else None,
        "parent": row.parent_id,
        "token": token,
    }


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: int, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Revoke a token (and every token made with it) that the caller may revoke."""
    row = flows.revoke_token(session=session, principal=principal, token_id=token_id)
    session.commit()
    return {"id": row.id, "revoked": True}


@router.get("/audit/verify")
def verify_audit(session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Verify the audit chain (hub-admins only)."""
    if principal.role is not Role.HUB_ADMIN:
        raise Forbidden("only a hub-admin may verify the audit log")
    report = audit.verify(session=session)
    return {
        "ok": report.ok,
        "events": report.events,
        "first_bad": report.first_bad,
        "problem": report.problem,
    }
