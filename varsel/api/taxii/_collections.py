"""Collections: list them and describe one (§5.1, §5.2 of TAXII 2.1).

A collection the caller may not read does not exist for the caller: it is looked up through
:func:`varsel.policy.restrict` and answered with 404 otherwise.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from sqlalchemy import select

from varsel.api.errors import TAXII_MEDIA_TYPE
from varsel.api.taxii._http import taxii_response
from varsel.http.deps import CurrentPrincipal, DbSession
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import service as sharing
from varsel.sharing.models import Collection


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


def readable_collection(session: DbSession, principal: Principal, collection_id: str) -> Collection:
    """Return the collection (by id or alias) ``principal`` may read, or raise NotFound."""
    return sharing.readable_collection(
        session=session, principal=principal, collection_id=collection_id
    )


def collections(session: DbSession, principal: CurrentPrincipal) -> Response:
    """List the collections with the caller's rights (§5.1 Get Collections)."""
    rows = sharing.visible_collections(session=session, principal=principal)
    body: dict[str, Any] = {}
    if rows:
        body["collections"] = [_collection_resource(row, can_write) for row, can_write in rows]
    return taxii_response(body)


def collection(collection_id: str, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Describe one collection (§5.2 Get A Collection)."""
    row = readable_collection(session, principal, collection_id)
    writable = (
        session.execute(
            restrict(select(Collection.id).where(Collection.id == row.id), principal, Action.WRITE)
        ).first()
        is not None
    )
    return taxii_response(_collection_resource(row, writable))
