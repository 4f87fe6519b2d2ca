"""The object page's actions: link to an incident, re-share, share again, revoke, export.

Each runs as one unit of work through the existing services, which decide again; an error
re-renders the page with the message beside the form it belongs to.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from varsel.audit import service as audit
from varsel.error_map import status_of
from varsel.errors import Forbidden, InvalidInput, VarselError
from varsel.http.deps import DbSession
from varsel.incidents import flows as incident_flows
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import browse
from varsel.sharing import ingest as ingesting
from varsel.sharing.browse import Hit
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP
from varsel.web import names, pages
from varsel.web.pivot._page import (
    copy_targets,
    may_revoke,
    relationships,
    show,
    writable,
)
from varsel.web.render import SECURITY_HEADERS
from varsel.web.sessions import CheckedForm, SignedIn

router = APIRouter()


def _act(
    request: Request,
    db: Session,
    principal: Principal,
    stix_id: str,
    at: str,
    notice: str,
    work: Any,
) -> Response:
    """Run ``work`` as one unit of work; redirect with a notice, or show the error at ``at``."""
    try:
        work()
    except VarselError as exc:
        db.rollback()
        return show(
            request,
            db,
            principal,
            stix_id,
            status_code=status_of(exc),
            error=exc.message,
            error_at=at,
        )
    db.commit()
    return pages.done(f"/objects/{stix_id}", notice, f"#{at}")


def _latest(db: Session, principal: Principal, stix_id: str) -> Hit:
    return browse.versions_of(session=db, principal=principal, stix_id=stix_id)[-1]


@router.post("/objects/{stix_id}/link")
def link(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, stix_id: str
) -> Response:
    """Link this object to an incident picked from those I may change."""

    def work() -> None:
        raw = pages.field(form, "incident")
        if not raw.isdigit() or not 0 < int(raw) < 2**31:
            raise InvalidInput("choose an incident from the list")
        latest = _latest(db, principal, stix_id)
        incident_flows.link_object(
            session=db,
            principal=principal,
            incident_id=int(raw),
            stix_id=stix_id,
            collection_id=latest.collection_id,
            note=pages.field(form, "note")[:1000],
        )

    return _act(request, db, principal, stix_id, "incidents", "object_linked", work)


@router.post("/objects/{stix_id}/reshare")
def reshare(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, stix_id: str
) -> Response:
    """Re-share this TLP:AMBER object with one of my organisation's registered clients."""

    def work() -> None:
        client = pages.field(form, "client")[:200]
        if not client:
            raise InvalidInput("choose a client to re-share with")
        latest = _latest(db, principal, stix_id)
        browse.reshare(
            session=db,
            principal=principal,
            collection_id=latest.collection_id,
            stix_id=stix_id,
            client=client,
        )

    return _act(request, db, principal, stix_id, "actions", "object_reshared", work)


@router.post("/objects/{stix_id}/copy")
def copy(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, stix_id: str
) -> Response:
    """Share my organisation's object into another collection it may write to as well."""

    def work() -> None:
        versions = browse.versions_of(session=db, principal=principal, stix_id=stix_id)
        wanted = pages.field(form, "collection")[:36]
        target = next((c for c in copy_targets(db, principal, versions) if c.id == wanted), None)
        if target is None:
            raise Forbidden(
                "choose a collection you may write to that does not hold this object yet; "
                "only the organisation that produced an object may share it again"
            )
        result = ingesting.ingest(
            session=db,
            collection=target,
            principal=principal,
            body=json.dumps({"objects": [json.loads(versions[-1].raw)]}),
        )
        if result.failures:
            raise InvalidInput(result.failures[0].message or "the object was rejected")

    return _act(request, db, principal, stix_id, "actions", "object_copied", work)


def _stamp(previous: object) -> str:
    """Return a ``modified`` time after both now and ``previous`` (STIX 2.1 §3.2)."""
    now = datetime.now(UTC)
    text = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    if isinstance(previous, str) and previous >= text:
        # The clock is behind the last version: one millisecond after it keeps the order.
        try:
            then = datetime.fromisoformat(previous.replace("Z", "+00:00"))
        except ValueError:
            return text
        later = then.timestamp() + 0.001
        when = datetime.fromtimestamp(later, UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return text


@router.post("/objects/{stix_id}/revoke")
def revoke(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, stix_id: str
) -> Response:
    """Share a new version of this object marked ``revoked`` (the producer's organisation)."""

    def work() -> None:
        latest = _latest(db, principal, stix_id)
        obj = json.loads(latest.raw)
        if not may_revoke(db, principal, latest, obj):
            raise Forbidden(
                "only the organisation that produced an object may revoke it, in a "
                "collection it may write to, and only once"
            )
        obj["revoked"] = True
        obj["modified"] = _stamp(obj.get("modified"))
        coll = writable(db, principal)[latest.collection_id]
        result = ingesting.ingest(
            session=db, collection=coll, principal=principal, body=json.dumps({"objects": [obj]})
        )
        if result.failures:
            raise InvalidInput(result.failures[0].message or "the revoked version was rejected")

    return _act(request, db, principal, stix_id, "actions", "object_revoked", work)


def _raws(db: Session, principal: Principal, ids: set[str]) -> list[tuple[str, str, str]]:
    """Return (id, TLP, raw) of the latest readable version of each of ``ids``."""
    wanted = sorted(i for i in ids if not names.is_marking(i))
    out: dict[str, tuple[str, str, str]] = {}
    for start in range(0, len(wanted), 500):
        query = restrict(
            select(StixObject.stix_id, StixObject.tlp, StixObject.raw).where(
                StixObject.stix_id.in_(wanted[start : start + 500]),
                StixObject.is_latest.is_(True),
            ),
            principal,
            Action.READ,
        ).order_by(StixObject.date_added_us.desc())
        for row in db.execute(query):
            out.setdefault(row[0], (row[0], row[1], row[2]))
    return list(out.values())


@router.get("/objects/{stix_id}/bundle")
def bundle(
    request: Request, db: DbSession, principal: SignedIn, stix_id: str, related: str = ""
) -> Response:
    """Download this object (with ``related=yes``, and its readable neighbours) as a bundle.

    The objects are as their producers shared them, as TAXII serves them: a reference to an
    object the reader may not read stays in the object, but that object is not in the bundle.
    """
    latest = browse.versions_of(session=db, principal=principal, stix_id=stix_id)[-1]
    rows = [(stix_id, latest.tlp, latest.raw)]
    if related == "yes":
        obj = json.loads(latest.raw)
        rels = relationships(db, principal, stix_id)
        others = (names.ids_in(obj) | {r[2] for r in rels} | {r[0] for r in rels}) - {stix_id}
        rows += _raws(db, principal, others)
    red = [sid for sid, tlp, _ in rows if tlp == TLP.RED.value]
    audit.record(
        session=db,
        actor=principal.label,
        action="objects.export",
        target=stix_id,
        details={"objects": len(rows), "red": red},
    )
    db.commit()
    body = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": [json.loads(raw) for _, _, raw in rows],
    }
    filename = stix_id.replace(":", "_") + ("-related" if related == "yes" else "") + ".json"
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-store",
    }
    return Response(
        content=json.dumps(body, indent=2, ensure_ascii=False),
        media_type="application/stix+json;version=2.1",
        headers=headers,
    )
