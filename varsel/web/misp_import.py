"""The MISP import page (``/share/misp``).

Upload MISP event JSON (an event, a list of them, a ``{"response": […]}``), a ``.gz`` of it,
or a ``.zip``/``.tar.gz`` of a feed directory; choose a collection the reader may share into;
read the report: one line per event and per attribute not stored as sent, with the reason.
The page runs what ``varsel misp import --as`` runs
(:func:`varsel.misp.flows.importing.share_items`): each event is shared whole or not at all, and
committed on its own.

An upload larger than the hub's limit is refused from its declared length, before a byte of it
is read (``varsel.api.limits`` lets this route answer that itself, with the page).
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.responses import Response

from varsel.errors import Forbidden
from varsel.http.deps import Hub
from varsel.misp.flows import importing
from varsel.misp.flows.writing import EventOutcome, NoteKind, Status
from varsel.policy.principal import Principal
from varsel.sharing import service as sharing
from varsel.sharing.models import Collection
from varsel.web.i18n import Translator, request_lang
from varsel.web.render import render
from varsel.web.sessions import CurrentSession, SignedIn, checked_form

router = APIRouter()
FORM_SLACK: Final = 64 * 1024
# The names an upload may have, and the suffix its temporary copy keeps (it decides the reader).
_SUFFIXES: Final = (".json", ".json.gz", ".gz", ".tar.gz", ".tgz", ".zip")


def _writable(db: Session, principal: Principal) -> list[Collection]:
    return [c for c, w in sharing.visible_collections(session=db, principal=principal) if w]


def _rows(
    outcomes: list[tuple[importing.Item, EventOutcome]], copy: Path, upload: str
) -> list[dict[str, Any]]:
    """Return the report's lines: every event or item not stored as sent, with the reason."""
    rows: list[dict[str, Any]] = []
    for item, outcome in outcomes:
        # Named after the upload, not the temporary copy the server read.
        source = item.source.replace(str(copy), upload, 1)
        if outcome.status in (Status.REFUSED, Status.UNCHANGED):
            rows.append(
                {
                    "source": source,
                    "event": outcome.uuid,
                    "info": outcome.info if outcome.uuid != "?" else "",
                    "item": "",
                    "what": "",
                    "kind": outcome.status.value,
                    "reason": outcome.reason or "",
                    "refused": outcome.status is Status.REFUSED,
                }
            )
        for note in outcome.notes:
            rows.append(
                {
                    "source": source,
                    "event": outcome.uuid,
                    "info": outcome.info,
                    "item": note.item or "",
                    "what": note.what,
                    "kind": note.kind.value,
                    "reason": note.reason,
                    "refused": note.kind is NoteKind.REFUSED,
                }
            )
    return rows


def _page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    report: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    collections = _writable(db, principal)
    chosen = (values or {}).get("collection") or (collections[0].id if collections else "")
    return render(
        request,
        "share_misp.html",
        status_code=status_code,
        collections=collections,
        values={"collection": chosen},
        errors=errors or {},
        report=report,
        upload_limit=request.app.state.hub.settings.max_content_length,
    )


@router.get("/share/misp")
def misp_import_page(request: Request, state: Hub, principal: SignedIn) -> Response:
    """Show the MISP import form."""
    with state.readers() as db:
        return _page(request, db, principal)


@router.post("/share/misp")
async def misp_import_post(
    request: Request, state: Hub, principal: SignedIn, web: CurrentSession
) -> Response:
    """Import the uploaded MISP events into the chosen collection; show the report."""
    tr = Translator(request_lang(request))
    limit = state.settings.max_content_length
    declared = request.headers.get("content-length", "")
    too_large = tr.gettext(
        "The upload is larger than the hub's limit of %(limit)s bytes. Split it, or use "
        "varsel misp import.",
        limit=f"{limit:,}",
    )
    if declared.isdigit() and int(declared) > limit + FORM_SLACK:
        # Answered from the declared length: the body is never read (the connection closes).
        def refuse() -> Response:
            with state.readers() as db:
                return _page(request, db, principal, status_code=413, errors={"file": too_large})

        return await run_in_threadpool(refuse)

    errors: dict[str, str] = {}
    status_code = 400
    folder = tempfile.mkdtemp(prefix="varsel-misp-")
    try:
        async with asynccontextmanager(checked_form)(request, web) as form:
            values = {"collection": str(form.get("collection") or "")}
            upload = form.get("file")
            name = ""
            copy: Path | None = None
            if not isinstance(upload, UploadFile) or not upload.filename:
                errors["file"] = tr.gettext("Choose a MISP event file, a .gz or a .zip to import.")
            else:
                name = Path(upload.filename).name
                suffix = next((s for s in _SUFFIXES if name.lower().endswith(s)), None)
                if suffix is None:
                    errors["file"] = tr.gettext(
                        "Upload MISP event JSON (.json), a .gz of it, or a .zip or .tar.gz of "
                        "a MISP feed directory."
                    )
                else:
                    copy = Path(folder) / f"upload{suffix}"
                    size = 0
                    with copy.open("wb") as out:
                        while chunk := await upload.read(1024 * 1024):
                            size += len(chunk)
                            if size > limit:
                                status_code = 413
                                errors["file"] = too_large
                                break
                            out.write(chunk)

        def work() -> Response:
            with state.sessions() as db:
                try:
                    target = next(
                        c for c in _writable(db, principal) if c.id == values["collection"]
                    )
                except StopIteration:
                    errors["collection"] = tr.gettext("Choose a collection you may share into.")
                if errors or copy is None:
                    return _page(
                        request,
                        db,
                        principal,
                        values=values,
                        errors=errors,
                        status_code=status_code,
                    )
                outcomes: list[tuple[importing.Item, EventOutcome]] = []
                try:
                    importing.share_items(
                        session=db,
                        principal=principal,
                        collection=target,
                        # Decompressed, an upload may hold up to eight times the hub's limit.
                        items=importing.read_events([copy], max_bytes=limit * 8),
                        on_outcome=lambda item, outcome: outcomes.append((item, outcome)),
                    )
                except Forbidden as exc:
                    return _page(
                        request,
                        db,
                        principal,
                        values=values,
                        errors={"collection": exc.message},
                        status_code=403,
                    )
                report = {
                    "file": name,
                    "events": len(outcomes),
                    "attributes": sum(o.attributes for _, o in outcomes),
                    "counts": {
                        s.value: sum(1 for _, o in outcomes if o.status is s) for s in Status
                    },
                    "rows": _rows(outcomes, copy, name),
                    "refused": any(o.refused for _, o in outcomes),
                }
                return _page(request, db, principal, values=values, report=report)

        return await run_in_threadpool(work)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
