"""Free-text import: paste many values or a report, review what was found, share as indicators.

Step one (``step=review``) finds the observables in the text
(:func:`varsel.observables.extract.extract`) and shows them in a table: each value with its
detected kind, editable and deselectable, and the warning lists it is on. Step two
(``step=share``) builds one indicator per kept row (:func:`varsel.web.indicator.build`, as the
one-value form does) and shares them all in one envelope through the same ingest as the share
form: all or nothing — a bad row or a refused indicator writes nothing and the review table
comes back with what was typed and the reason beside the row. Both steps are plain form posts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from varsel.errors import Forbidden, InvalidInput
from varsel.http.deps import DbSession
from varsel.observables.extract import extract
from varsel.policy.principal import Principal
from varsel.sharing import ingest as ingesting
from varsel.sharing.ingest import warninglists
from varsel.sharing.tlp import TLP
from varsel.web import indicator, queries
from varsel.web.i18n import Translator, request_lang
from varsel.web.render import render
from varsel.web.sessions import CheckedForm, SignedIn
from varsel.web.share import _collection, _recipients, _writable

router = APIRouter()
MAX_TEXT = 200_000  # characters of pasted text, refused before it is parsed
MAX_ROWS = 1_000  # values one import may share


@dataclass
class ImportRow:
    """One value of the review table, as found or as the analyst edited it."""

    kind: str
    value: str
    raw: str = ""
    keep: bool = True
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    stix_id: str | None = None


def _fields(form: FormData | None) -> dict[str, Any]:
    form_get = form.get if form is not None else (lambda _k: None)
    values: dict[str, Any] = {
        key: str(form_get(key) or "")
        for key in ("text", "description", "tlp", "collection", "recipient_users")
    }
    values["recipient_orgs"] = (
        [str(v) for v in form.getlist("recipient_orgs")] if form is not None else []
    )
    return values


def _page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    values: dict[str, Any],
    rows: list[ImportRow] | None = None,
    errors: dict[str, str] | None = None,
    shared: list[ImportRow] | None = None,
    status_code: int = 200,
) -> Response:
    collections = _writable(db, principal)
    defaults = {
        "text": "",
        "description": "",
        "tlp": TLP.AMBER.value,
        "collection": collections[0].id if collections else "",
        "recipient_orgs": [],
        "recipient_users": "",
    }
    return render(
        request,
        "share_import.html",
        status_code=status_code,
        collections=collections,
        kinds=indicator.KINDS,
        organisations=queries.organisations(session=db, principal=principal),
        values={**defaults, **{k: v for k, v in values.items() if v or k == "text"}},
        rows=rows,
        errors=errors or {},
        shared=shared,
        max_text=MAX_TEXT,
        max_rows=MAX_ROWS,
        refuse_mode=warninglists.mode() is warninglists.Mode.REFUSE,
    )


@router.get("/share/import")
def import_page(request: Request, db: DbSession, principal: SignedIn) -> Response:
    """Show the free-text import form."""
    return _page(request, db, principal, values={})


def _warn(rows: list[ImportRow]) -> None:
    """Put on each row the warning lists its value is on (as the share would find them)."""
    built: list[tuple[ImportRow, dict[str, Any]]] = []
    for row in rows:
        try:
            obj = indicator.build(
                kind=row.kind,
                value=row.value,
                name="",
                description="",
                tlp=TLP.CLEAR,
                recipients=[],
            )
        except InvalidInput as exc:
            row.error = exc.message
            continue
        built.append((row, obj))
    found = warninglists.check_indicators([obj for _, obj in built])
    for (row, _), warnings in zip(built, found, strict=True):
        row.warnings = warnings


def _found_rows(tr: Translator, text: str) -> tuple[list[ImportRow], str | None]:
    if len(text) > MAX_TEXT:
        return [], tr.gettext(
            "The text has %(n)s characters; at most %(max)s. Import it in parts.",
            n=f"{len(text):,}",
            max=f"{MAX_TEXT:,}",
        )
    if not text.strip():
        return [], tr.gettext("Paste the values or the text to import.")
    found = extract(text)
    if not found:
        return [], tr.gettext(
            "No addresses, domains, URLs, e-mail addresses or file hashes were found in the text."
        )
    if len(found) > MAX_ROWS:
        return [], tr.gettext(
            "The text holds %(n)s values; at most %(max)s at a time. Import it in parts.",
            n=f"{len(found):,}",
            max=f"{MAX_ROWS:,}",
        )
    return [ImportRow(f.kind, f.value, f.raw) for f in found], None


def _edited_rows(form: FormData) -> list[ImportRow]:
    """Return the review table's rows as posted: kind, value and whether each is kept."""
    try:
        count = min(int(str(form.get("rows") or "0")), MAX_ROWS)
    except ValueError:
        count = 0
    kept = {str(v) for v in form.getlist("keep")}
    return [
        ImportRow(
            kind=str(form.get(f"kind-{i}") or ""),
            value=str(form.get(f"value-{i}") or "").strip(),
            raw=str(form.get(f"raw-{i}") or ""),
            keep=str(i) in kept,
        )
        for i in range(count)
    ]


@router.post("/share/import")
def import_post(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm
) -> Response:
    """Review the values found in the text (``step=review``) or share the kept ones."""
    tr = Translator(request_lang(request))
    values = _fields(form)
    if str(form.get("step") or "review") != "share":
        rows, problem = _found_rows(tr, values["text"])
        if problem:
            return _page(
                request, db, principal, values=values, errors={"text": problem}, status_code=400
            )
        _warn(rows)
        for row in rows:
            row.keep = row.error is None
        return _page(request, db, principal, values=values, rows=rows)

    rows = _edited_rows(form)
    errors: dict[str, str] = {}
    kept = [row for row in rows if row.keep]
    if not kept:
        errors["rows"] = tr.gettext("Keep at least one value to share.")
    try:
        coll = _collection(db, principal, values["collection"])
    except Forbidden as exc:
        errors["collection"] = exc.message
    try:
        level = TLP.parse(values["tlp"])
    except ValueError as exc:
        errors["tlp"] = str(exc)
        level = None
    recipients = _recipients(form) if level is TLP.RED else []
    if level is TLP.RED and not recipients:
        errors["recipients"] = tr.gettext(
            "TLP:RED is for named recipients only: choose at least one organisation or user."
        )
    objects: list[dict[str, Any]] = []
    if level is not None and not errors.get("recipients"):
        for row in kept:
            try:
                obj = indicator.build(
                    kind=row.kind,
                    value=row.value,
                    name="",
                    description=values["description"],
                    tlp=level,
                    recipients=recipients,
                )
            except InvalidInput as exc:
                row.error = exc.message
                continue
            row.stix_id = obj["id"]
            objects.append(obj)
    if any(row.error for row in kept):
        errors["rows"] = tr.gettext(
            "Correct or untick the values marked below; nothing was shared."
        )
    if errors:
        _warn([r for r in rows if r.error is None])
        return _page(
            request, db, principal, values=values, rows=rows, errors=errors, status_code=400
        )
    result = ingesting.ingest(
        session=db, collection=coll, principal=principal, body=json.dumps({"objects": objects})
    )
    if result.failures:
        # All or nothing: one refused indicator (a warning list in refuse mode, say) undoes
        # the whole import, and the reason goes beside its row.
        db.rollback()
        reasons = {f.id: f.message for f in result.failures}
        for row in kept:
            if row.stix_id in reasons:
                row.error = reasons[row.stix_id] or tr.gettext("refused")
        errors["rows"] = tr.gettext("The hub refused the values marked below; nothing was shared.")
        _warn([r for r in rows if r.error is None])
        return _page(
            request, db, principal, values=values, rows=rows, errors=errors, status_code=400
        )
    db.commit()
    return _page(
        request,
        db,
        principal,
        values={"collection": coll.id, "tlp": level.value if level else ""},
        shared=kept,
        status_code=201,
    )
