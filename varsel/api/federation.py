"""Federation's push route: a peer hub delivers a batch of signed versions and tombstones.

``POST /api/v1/federation/collections/{id}/batch`` (docs/federation.md, "Push") takes the same
JSON object as a stream ``batch`` event. The caller is a user of an organisation of kind
``hub`` that may write the collection (``restrict``, as for any writer); everything in the
batch is verified against the keys this hub pinned (:mod:`varsel.federation.receive`), never
against who sent it. Errors are RFC 9457 problem+json like the rest of ``/api/v1``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from varsel.errors import Forbidden, InvalidInput, TooLarge
from varsel.federation import receive
from varsel.http.deps import CurrentPrincipal, Hub
from varsel.policy import Action, restrict
from varsel.sharing import service as sharing
from varsel.sharing.models import Collection

router = APIRouter(prefix="/api/v1/federation", tags=["federation"])


@router.post("/collections/{collection_id}/batch", status_code=200)
async def push_batch(
    collection_id: str, request: Request, state: Hub, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Apply a peer hub's batch of versions and tombstones to a collection; report the outcome."""
    if not principal.hub:
        raise Forbidden("only a peer hub (a user of an organisation of kind 'hub') pushes batches")
    raw = await request.body()
    if len(raw) > state.settings.max_content_length:
        raise TooLarge(f"the body exceeds {state.settings.max_content_length} bytes")
    try:
        batch = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the body is not a UTF-8 JSON batch") from None

    def work() -> receive.ReceiveResult:
        with state.sessions() as session:
            coll = sharing.readable_collection(
                session=session, principal=principal, collection_id=collection_id
            )
            writable = session.execute(
                restrict(select(Collection.id), principal, Action.WRITE).where(
                    Collection.id == coll.id
                )
            ).first()
            if writable is None:
                raise Forbidden(f"you may not add objects to collection {coll.id}")
            result = receive.apply_batch(
                session,
                collection=coll,
                sender=principal,
                peer_name=principal.org_name,
                link_id=None,
                batch=batch,
            )
            session.commit()
            return result

    result = await run_in_threadpool(work)
    return result.as_json()
