"""Match in the browser: paste observables or log lines, or upload a log; share sightings.

The page runs what ``varsel scan`` runs — the same readers (:func:`varsel.matching.scan`) over
the same compiled indicators the access policy lets the reader read
(:func:`varsel.matching.service.matcher_for`) — so the page and the command give the same
matches for the same input (a test compares them).

Nothing of a result is stored between the match and the sharing of its sightings: the results
page carries, in a hidden field, the per-indicator tallies signed with the hub's secret key and
bound to the reader. Sharing checks the signature and the reader, then reads every indicator
again through the policy (an indicator the reader may no longer read is left out), and shares
through ingest like ``varsel scan --share-sightings``. Each sighting's id follows from the
organisation, the input and the indicator, so sharing the same result twice stores it once.

An upload larger than the hub's limit is refused from its declared length, before a byte of it
is read (``varsel.api.limits`` lets this route answer that itself, with the page).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import re
import tempfile
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from varsel.clock import now_us, us_to_rfc3339
from varsel.errors import Forbidden, InvalidInput
from varsel.http.deps import Hub
from varsel.matching import LOG_FORMATS, ReadStats, flows, parse_mapping, scan, service
from varsel.policy.principal import Principal
from varsel.sharing import service as sharing
from varsel.sharing.models import Collection
from varsel.sharing.tlp import TLP
from varsel.web.i18n import Translator, request_lang
from varsel.web.render import render
from varsel.web.sessions import CurrentSession, SignedIn, checked_form

router = APIRouter(prefix="/match")
log = logging.getLogger("varsel.web")

# A multipart body carries its boundaries, part headers and small fields beside the file
# (the same slack varsel.api.limits allows this route).
FORM_SLACK: Final = 64 * 1024
# A gzip log may expand to this many times the upload limit before the page refuses it.
GZIP_FACTOR: Final = 8
# Matches listed one by one on the page; every match still counts and is tallied.
SHOWN: Final = 1000
# Indicators whose sightings one result can share (the signed field stays well under 1 MiB).
MAX_SIGHTINGS: Final = 5000
TOKEN_SECONDS: Final = 8 * 3600
SIGHTING_LEVELS: Final = (TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT)
_SALT: Final = "varsel-match-sightings"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Outcome:
    """What one match run found: counts, the matches shown, and per-indicator tallies."""

    lines: int = 0
    skipped: int = 0
    examples: list[str] = field(default_factory=list)
    matches: int = 0
    shown: list[dict[str, Any]] = field(default_factory=list)
    indicators: list[dict[str, Any]] = field(default_factory=list)
    token: str = ""
    compiled: int = 0
    too_many: bool = False


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.hub.settings.secret_key, salt=_SALT)


def _writable(db: Session, principal: Principal) -> list[Collection]:
    return [c for c, w in sharing.visible_collections(session=db, principal=principal) if w]


def _default_collection(collections: list[Collection]) -> str:
    """Return a collection meant for sightings when there is one, else the first writable."""
    for coll in collections:
        if "sighting" in f"{coll.title} {coll.alias or ''}".lower():
            return coll.id
    return collections[0].id if collections else ""


def _page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    outcome: Outcome | None = None,
    shared: dict[str, Any] | None = None,
) -> Response:
    collections = _writable(db, principal)
    defaults: dict[str, Any] = {
        "text": "",
        "format": "auto",
        "map": "",
        "subdomains": False,
        "collection": _default_collection(collections),
        "tlp": TLP.AMBER.value,
    }
    return render(
        request,
        "match.html",
        status_code=status_code,
        values={**defaults, **(values or {})},
        errors=errors or {},
        formats=LOG_FORMATS,
        collections=collections,
        sighting_levels=SIGHTING_LEVELS,
        outcome=outcome,
        shared=shared,
        upload_limit=request.app.state.hub.settings.max_content_length,
    )


@router.get("")
def match_page(request: Request, state: Hub, principal: SignedIn) -> Response:
    """Show the form: paste observables or log lines, or upload a log."""
    with state.readers() as db:
        return _page(request, db, principal)


def _declared_too_large(request: Request, limit: int) -> bool:
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit + FORM_SLACK


def _values(form: FormData) -> dict[str, Any]:
    return {
        "text": str(form.get("text") or ""),
        "format": str(form.get("format") or "auto"),
        "map": str(form.get("map") or ""),
        "subdomains": form.get("subdomains") == "1",
    }


def _decompressed(data: bytes, cap: int, tr: Translator) -> bytes:
    """Return ``data`` un-gzipped (at most ``cap`` bytes), or as it is when not gzip."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
            plain = handle.read(cap + 1)
    except (OSError, EOFError, zlib.error):
        message = tr.gettext("The file looks like gzip but cannot be decompressed.")
        raise InvalidInput(message) from None
    if len(plain) > cap:
        raise InvalidInput(
            tr.gettext("The log decompresses to more than %(limit)s bytes.", limit=cap)
        )
    return plain


@dataclass(frozen=True)
class _Input:
    name: str
    data: bytes


class _FieldError(InvalidInput):
    """Bad input in one field of the form."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _run(
    db: Session,
    principal: Principal,
    inputs: list[_Input],
    values: dict[str, Any],
    serializer: URLSafeTimedSerializer,
) -> Outcome:
    """Match ``inputs`` as ``varsel scan`` does; raise _FieldError for an unreadable one."""
    fmt = None if values["format"] == "auto" else values["format"]
    if fmt is not None and fmt not in LOG_FORMATS:
        raise _FieldError("format", f"unknown log format {fmt!r}")
    columns = [c for c in re.split(r"[\s,;]+", values["map"]) if c]
    try:
        mapping = parse_mapping(columns) if columns else None
    except ValueError as exc:
        raise _FieldError("map", str(exc)) from None
    compiled = service.matcher_for(
        session=db, principal=principal, subdomains=bool(values["subdomains"])
    )
    at = us_to_rfc3339(now_us())
    stats = ReadStats()
    found = []
    outcome = Outcome(compiled=compiled.report.compiled)
    with tempfile.TemporaryDirectory(prefix="varsel-match-") as directory:
        for item in inputs:
            path = Path(directory) / item.name
            path.write_bytes(item.data)
            try:
                for match in scan(path, compiled, fmt, mapping=mapping, stats=stats):
                    found.append(match)
            except (InvalidInput, ValueError, pa.ArrowException, UnicodeError) as exc:
                # A reader's refusal of what it was given (pyarrow's errors are ValueErrors).
                log.info("match page: %s could not be read: %s", item.name, exc)
                raise _FieldError("format", str(exc)) from None
    if stats.skipped and stats.lines <= stats.skipped:
        # Every line refused: the input is not in this format (varsel scan would report the
        # same lines as skipped; a page says so beside the field).
        example = stats.examples[0] if stats.examples else ""
        raise _FieldError("format", f"no line could be read, e.g. {example!r}")
    outcome.lines, outcome.skipped, outcome.examples = stats.lines, stats.skipped, stats.examples
    outcome.matches = len(found)
    outcome.shown = [
        {
            "value": m.value,
            "field": m.field,
            "file": m.file,
            "line": m.line,
            "time": m.time,
            "indicator_id": m.indicator_id,
        }
        for m in found[:SHOWN]
    ]
    sighted = flows.tally(found, default_time=at)
    levels = flows.readable_indicators(
        session=db, principal=principal, ids=[s.indicator_id for s in sighted]
    )
    names = dict(zip(compiled.ids, compiled.names, strict=True))
    outcome.indicators = [
        {
            "id": s.indicator_id,
            "name": names.get(s.indicator_id),
            "tlp": levels[s.indicator_id].tlp.value if s.indicator_id in levels else None,
            "count": s.count,
            "first_seen": s.first_seen,
            "last_seen": s.last_seen,
        }
        for s in sighted
    ]
    for row in outcome.shown:
        row["name"] = names.get(row["indicator_id"])
        seen = levels.get(row["indicator_id"])
        row["tlp"] = seen.tlp.value if seen is not None else None
    outcome.too_many = len(sighted) > MAX_SIGHTINGS
    if sighted and not outcome.too_many:
        digest = hashlib.sha256()
        for item in inputs:
            digest.update(hashlib.sha256(item.data).digest())
        digest.update(f"|{fmt}|{values['subdomains']}|{mapping}".encode())
        outcome.token = serializer.dumps(
            {
                "u": principal.user_id,
                "k": digest.hexdigest()[:32],
                "at": at,
                "s": [[s.indicator_id, s.count, s.first_seen, s.last_seen] for s in sighted],
            }
        )
    return outcome


@router.post("")
async def match_post(
    request: Request, state: Hub, principal: SignedIn, web: CurrentSession
) -> Response:
    """Match pasted text and an uploaded log against the indicators the reader may read."""
    tr = Translator(request_lang(request))
    limit = state.settings.max_content_length
    if _declared_too_large(request, limit):
        # Answered from the declared length: the body is never read (the connection closes).
        message = tr.gettext(
            "The upload is larger than the hub's limit of %(limit)s bytes. Split the log or "
            "use varsel scan.",
            limit=limit,
        )

        def refuse() -> Response:
            with state.readers() as db:
                return _page(request, db, principal, status_code=413, errors={"file": message})

        return await run_in_threadpool(refuse)

    async with asynccontextmanager(checked_form)(request, web) as form:
        values = _values(form)
        errors: dict[str, str] = {}
        status_code = 400
        inputs: list[_Input] = []
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(limit + 1)
            if len(data) > limit:
                status_code = 413
                errors["file"] = tr.gettext(
                    "The upload is larger than the hub's limit of %(limit)s bytes. Split the log "
                    "or use varsel scan.",
                    limit=limit,
                )
            else:
                name = _SAFE_NAME.sub("_", Path(upload.filename).name).removesuffix(".gz")
                try:
                    data = _decompressed(data, limit * GZIP_FACTOR, tr)
                    inputs.append(_Input(name.strip("._") or "upload.log", data))
                except InvalidInput as exc:
                    errors["file"] = exc.message
    if values["text"].strip():
        suffix = ".csv" if values["format"] == "csv" else ".txt"
        inputs.insert(0, _Input("pasted" + suffix, values["text"].encode("utf-8")))
    if not inputs and not errors:
        errors["text"] = tr.gettext("Paste observables or log lines, or choose a log file.")
    if values["format"] != "auto" and values["format"] not in LOG_FORMATS:
        errors["format"] = tr.gettext("Choose one of the formats offered.")
    serializer = _serializer(request)

    def work() -> Response:
        with state.sessions() as db:
            if errors:
                return _page(
                    request, db, principal, status_code=status_code, values=values, errors=errors
                )
            try:
                outcome = _run(db, principal, inputs, values, serializer)
            except _FieldError as exc:
                db.rollback()
                lead = (
                    tr.gettext("The column mapping is not valid:")
                    if exc.field == "map"
                    else tr.gettext("The input could not be read in this format:")
                )
                return _page(
                    request,
                    db,
                    principal,
                    status_code=400,
                    values=values,
                    errors={exc.field or "text": f"{lead} {exc.message}"},
                )
            db.commit()
            return _page(request, db, principal, values=values, outcome=outcome)

    return await run_in_threadpool(work)


def _sighted(request: Request, principal: Principal, token: str) -> tuple[str, str, list[Any]]:
    """Return the key, time and tallies a results page signed for ``principal``."""
    try:
        data = _serializer(request).loads(token, max_age=TOKEN_SECONDS)
    except BadSignature:  # also SignatureExpired
        raise InvalidInput("expired") from None
    if not isinstance(data, dict) or data.get("u") != principal.user_id:
        raise InvalidInput("not yours")
    return str(data["k"]), str(data["at"]), list(data["s"])


@router.post("/sightings")
async def share_sightings_post(
    request: Request, state: Hub, principal: SignedIn, web: CurrentSession
) -> Response:
    """Share the sightings of a results page into a collection the reader may write."""
    tr = Translator(request_lang(request))
    async with asynccontextmanager(checked_form)(request, web) as form:
        token = str(form.get("token") or "")
        values = {
            "collection": str(form.get("collection") or ""),
            "tlp": str(form.get("tlp") or TLP.AMBER.value),
        }

    def work() -> Response:
        with state.sessions() as db:
            try:
                key, at, rows = _sighted(request, principal, token)
            except InvalidInput:
                return _page(
                    request,
                    db,
                    principal,
                    status_code=400,
                    errors={
                        "share": tr.gettext(
                            "This result has expired or was altered. Match the input again, "
                            "then share its sightings."
                        )
                    },
                )
            sighted = [flows.Sighted(str(i), int(c), str(a), str(b)) for i, c, a, b in rows]
            outcome = _summary(db, principal, sighted, token)
            errors: dict[str, str] = {}
            target = next(
                (c for c in _writable(db, principal) if c.id == values["collection"]), None
            )
            if target is None:
                errors["collection"] = tr.gettext("Choose a collection you may share into.")
            try:
                level = TLP.parse(values["tlp"])
            except ValueError:
                level = TLP.RED
            if level not in SIGHTING_LEVELS:
                errors["tlp"] = tr.gettext("Choose CLEAR, GREEN, AMBER or AMBER+STRICT.")
            if errors or target is None:
                return _page(
                    request,
                    db,
                    principal,
                    status_code=400,
                    values=values,
                    errors=errors,
                    outcome=outcome,
                )
            try:
                result = flows.share_sighted(
                    session=db,
                    principal=principal,
                    sighted=sighted,
                    collection=target,
                    tlp=level,
                    key=key,
                    at=at,
                )
            except (InvalidInput, Forbidden) as exc:
                db.rollback()
                return _page(
                    request,
                    db,
                    principal,
                    status_code=403 if isinstance(exc, Forbidden) else 400,
                    values=values,
                    errors={"share": exc.message},
                    outcome=outcome,
                )
            db.commit()
            shared = {
                "collection": target.title,
                "new": result.shared,
                "present": result.present,
                "unreadable": result.unreadable,
                "failures": [(d.id, d.message) for d in result.failures],
                "levels": {k: v.value for k, v in result.levels.items()},
            }
            return _page(
                request,
                db,
                principal,
                status_code=201 if result.shared else 200,
                values=values,
                shared=shared,
            )

    return await run_in_threadpool(work)


def _summary(db: Session, principal: Principal, sighted: list[Any], token: str) -> Outcome:
    """Return the per-indicator part of a result from its tallies (what the reader may read)."""
    levels = flows.readable_indicators(
        session=db, principal=principal, ids=[s.indicator_id for s in sighted]
    )
    outcome = Outcome(
        token=token, matches=sum(s.count for s in sighted if s.indicator_id in levels)
    )
    outcome.indicators = [
        {
            "id": s.indicator_id,
            "name": levels[s.indicator_id].name,
            "tlp": levels[s.indicator_id].tlp.value,
            "count": s.count,
            "first_seen": s.first_seen,
            "last_seen": s.last_seen,
        }
        for s in sighted
        if s.indicator_id in levels
    ]
    return outcome
