"""Share: one indicator from a form, or a STIX bundle from a file, into a writable collection."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from varsel.error_map import status_of
from varsel.errors import Forbidden, InvalidInput
from varsel.http.deps import DbSession, Hub
from varsel.policy.principal import Principal
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.models import Collection
from varsel.sharing.tlp import TLP
from varsel.web import indicator, pages, queries
from varsel.web.render import render
from varsel.web.sessions import CheckedForm, SignedIn

router = APIRouter()
_SPLIT = re.compile(r"[\s,;]+")


def _writable(db: Session, principal: Principal) -> list[Collection]:
    return [c for c, w in sharing.visible_collections(session=db, principal=principal) if w]


def _recipients(form: FormData) -> list[str]:
    orgs = [str(v) for v in form.getlist("recipient_orgs") if str(v).strip()]
    users = [
        f"user:{name}" for name in _SPLIT.split(str(form.get("recipient_users") or "")) if name
    ]
    return list(dict.fromkeys(orgs + users))


def _page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    bundle_error: str | None = None,
    values: dict[str, Any] | None = None,
    result: Any = None,
    shared: dict[str, Any] | None = None,
) -> Response:
    collections = _writable(db, principal)
    defaults = {
        "kind": "ipv4",
        "value": "",
        "name": "",
        "description": "",
        "tlp": TLP.AMBER.value,
        "collection": collections[0].id if collections else "",
        "recipient_orgs": [],
        "recipient_users": "",
    }
    return render(
        request,
        "share.html",
        status_code=status_code,
        collections=collections,
        kinds=indicator.KINDS,
        organisations=queries.organisations(session=db, principal=principal),
        values={**defaults, **(values or {})},
        error=error,
        errors=errors or {},
        bundle_error=bundle_error,
        result=result,
        shared=shared,
    )


def _collection(db: Session, principal: Principal, ref: object) -> Collection:
    for coll in _writable(db, principal):
        if coll.id == ref:
            return coll
    raise Forbidden("choose a collection you may share into", field="collection")


@router.get("/share")
def share_page(request: Request, db: DbSession, principal: SignedIn) -> Response:
    """Show the forms for sharing one indicator or a bundle."""
    return _page(request, db, principal)


@router.post("/share/indicator")
def share_indicator(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm
) -> Response:
    """Build a STIX 2.1 indicator from the form and share it."""
    values: dict[str, Any] = {
        key: str(form.get(key) or "")
        for key in ("kind", "value", "name", "description", "tlp", "collection", "recipient_users")
    }
    values["recipient_orgs"] = [str(v) for v in form.getlist("recipient_orgs")]
    try:
        coll = _collection(db, principal, values["collection"])
        try:
            level = TLP.parse(values["tlp"])
        except ValueError as exc:
            raise InvalidInput(str(exc), field="tlp") from None
        recipients = _recipients(form) if level is TLP.RED else []
        obj = indicator.build(
            kind=values["kind"],
            value=values["value"],
            name=values["name"],
            description=values["description"],
            tlp=level,
            recipients=recipients,
        )
        result = ingesting.ingest(
            session=db, collection=coll, principal=principal, body=json.dumps({"objects": [obj]})
        )
        if result.failures:
            raise InvalidInput(result.failures[0].message or "the indicator was rejected")
    except (InvalidInput, Forbidden) as exc:
        db.rollback()
        return _page(
            request,
            db,
            principal,
            status_code=status_of(exc),
            values=values,
            **pages.refusal(exc, {"recipients": "recipient_users"}),
        )
    db.commit()
    return _page(
        request,
        db,
        principal,
        status_code=201,
        values={"collection": coll.id},
        shared={
            "id": obj["id"],
            "pattern": obj["pattern"],
            "tlp": level.value,
            "collection": coll.title,
        },
    )


async def _bundle_text(form: FormData, limit: int) -> str:
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise InvalidInput(f"the file is larger than {limit} bytes")
    else:
        data = str(form.get("bundle") or "").encode("utf-8")
    if not data.strip():
        raise InvalidInput("choose a STIX bundle file or paste one")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the bundle is not UTF-8 encoded JSON") from None


@router.post("/share/bundle")
async def share_bundle(
    request: Request, state: Hub, principal: SignedIn, form: CheckedForm
) -> Response:
    """Share every object of an uploaded STIX bundle; report what was accepted and rejected."""
    message: str | None = None
    try:
        text: str | None = await _bundle_text(form, state.settings.max_content_length)
    except InvalidInput as exc:
        text, message = None, exc.message
    recipients = _recipients(form)

    def work() -> Response:
        with state.sessions() as db:
            if text is None:
                return _page(request, db, principal, status_code=400, bundle_error=message)
            try:
                coll = _collection(db, principal, form.get("collection"))
                result = ingesting.ingest(
                    session=db,
                    collection=coll,
                    principal=principal,
                    body=text,
                    recipients=recipients or None,
                )
            except (InvalidInput, Forbidden) as exc:
                db.rollback()
                return _page(
                    request, db, principal, status_code=status_of(exc), bundle_error=exc.message
                )
            db.commit()
            return _page(request, db, principal, result=result, values={"collection": coll.id})

    return await run_in_threadpool(work)
