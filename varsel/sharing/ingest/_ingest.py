"""The ingest itself: check the writer's right, validate and check each object, store, record.

Bad objects fail one by one and are reported in the status; the good ones are stored, the
status and an audit event written, all in the caller's transaction.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import now_us, us_to_rfc3339
from varsel.errors import Forbidden, InvalidInput
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.envelope import Envelope, split
from varsel.sharing.ingest import warninglists
from varsel.sharing.ingest._checks import (
    RECIPIENTS_PROPERTY,
    RecipientResolver,
    all_marking_refs,
    attach_recipients,
    recipient_names,
    warninglist_refusal,
)
from varsel.sharing.ingest._producers import IdentityCheck
from varsel.sharing.ingest._results import Candidate, IngestResult, StatusDetail
from varsel.sharing.ingest._store import store
from varsel.sharing.ingest.helper import Pending, WarningListHelper
from varsel.sharing.ingest.marking import Classifier
from varsel.sharing.ingest.warninglists import warninglist_mode
from varsel.sharing.models import Collection, IngestStatus
from varsel.sharing.tlp import TLP, effective_tlp
from varsel.sharing.validation import InvalidStixObject, ValidatedObject, validate_object

# Levels whose versions may name recipients (RED must): docs/access-policy.md.
_ADDRESSED = (TLP.RED, TLP.AMBER_STRICT)

# The status table itself, for an insert that needs no ORM unit of work.
_STATUS = cast(Table, IngestStatus.__table__)


def ingest(
    *,
    session: Session,
    collection: Collection,
    principal: Principal,
    body: str | Envelope,
    recipients: list[str] | None = None,
    stamp_us: int | None = None,
    warnings_helper: WarningListHelper | None = None,
) -> IngestResult:
    """Validate and store the objects of an envelope; bad objects fail one by one.

    ``recipients`` name the recipients of TLP:RED and TLP:AMBER+STRICT objects that carry no
    ``x_varsel_recipients`` of their own (see docs/access-policy.md). ``stamp_us`` replaces the
    clock for date_added when seeding history (the demo); the ordering guarantee holds either
    way, since a stamp is never below what the collection already handed out.
    ``warnings_helper`` is the server's helper process (varsel.sharing.ingest.helper), which
    checks the envelope against the warning lists while this validates it; without it, or when
    it cannot help, the check runs here.
    Everything is written in the caller's transaction.
    """
    writable = session.execute(
        restrict(
            select(Collection.id).where(Collection.id == collection.id), principal, Action.WRITE
        )
    ).first()
    if writable is None:
        raise Forbidden(f"you may not add objects to collection {collection.id}")
    # Handed to the helper only after that first query: submitted before it, the helper's
    # start delayed the query by more than the head start was worth (docs/benchmarks.md).
    pending = (
        warnings_helper.submit(body)
        if warnings_helper is not None and isinstance(body, str)
        else None
    )
    try:
        return _checked_and_stored(
            session=session,
            collection=collection,
            principal=principal,
            body=body,
            recipients=recipients,
            stamp_us=stamp_us,
            warnings_pending=pending,
        )
    finally:
        if pending is not None:
            pending.close()


def _checked_and_stored(
    *,
    session: Session,
    collection: Collection,
    principal: Principal,
    body: str | Envelope,
    recipients: list[str] | None,
    stamp_us: int | None,
    warnings_pending: Pending | None,
) -> IngestResult:
    envelope = split(body) if isinstance(body, str) else body
    if envelope.properties.get("objects") is not None:
        raise InvalidInput("'objects' must be a list of STIX objects")
    default_recipients = envelope.properties.get(RECIPIENTS_PROPERTY, recipients)
    default_tlp = TLP(collection.default_tlp)
    result = IngestResult(status_id=str(uuid.uuid4()), request_timestamp="")
    resolver = RecipientResolver(session, principal)
    classifier = Classifier(session, envelope.objects)
    identities = IdentityCheck(session, principal)

    valid: list[tuple[str, Any, ValidatedObject]] = []
    positions: list[int] = []  # of each valid object in the envelope
    for position, (raw, obj) in enumerate(envelope.objects):
        try:
            valid.append((raw, obj, validate_object(obj)))
            positions.append(position)
        except InvalidStixObject as exc:
            oid = (
                obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str) else None
            )
            result.failures.append(StatusDetail(oid, None, exc.reason))

    # Warning lists, checked once for the whole envelope (each distinct value once). A
    # revocation always gets through, or a flagged indicator could never be withdrawn. The
    # server loads the lists at start-up (preload_warning_lists); elsewhere they load on the
    # first indicator a process sees, never for envelopes without one.
    checked = [i for i, (_, _, f) in enumerate(valid) if f.type == "indicator" and not f.revoked]
    warned: dict[int, list[str]] = {}
    mode = warninglist_mode() if checked else None
    by_position = warnings_pending.result(len(envelope.objects)) if warnings_pending else None
    if checked and by_position is not None:
        warned = {i: by_position[positions[i]] for i in checked if positions[i] in by_position}
    elif checked:
        found = warninglists.check_indicators([valid[i][1] for i in checked])
        warned = {i: w for i, w in zip(checked, found, strict=True) if w}

    candidates: list[Candidate] = []
    for index, (raw, obj, facts) in enumerate(valid):
        warnings = warned.get(index, [])
        if warnings:
            if mode is warninglists.Mode.REFUSE:
                result.failures.append(
                    StatusDetail(
                        facts.stix_id,
                        facts.modified or facts.created,
                        warninglist_refusal(facts.stix_id, warnings),
                    )
                )
                continue
        impostor = identities.refusal(obj, facts)
        if impostor:
            result.failures.append(
                StatusDetail(facts.stix_id, facts.modified or facts.created, impostor)
            )
            continue
        refs = all_marking_refs(obj, facts)
        classification, refused = classifier.classify(obj, refs)
        if refused:
            result.failures.append(
                StatusDetail(facts.stix_id, facts.modified or facts.created, refused)
            )
            continue
        tlp = effective_tlp(refs, default_tlp)
        cand = Candidate(
            raw=raw,
            obj=obj,
            facts=facts,
            tlp=tlp,
            classification=classification,
            warnings=tuple(warnings),
        )
        if tlp in _ADDRESSED:
            failure = attach_recipients(
                cand,
                recipient_names(obj, default_recipients),
                resolver,
                required=tlp is TLP.RED,
            )
            if failure:
                result.failures.append(
                    StatusDetail(facts.stix_id, facts.modified or facts.created, failure)
                )
                continue
        candidates.append(cand)

    not_ours = store(
        session=session,
        collection=collection,
        principal=principal,
        candidates=candidates,
        result=result,
        stamp_us=stamp_us,
    )
    result.request_timestamp = us_to_rfc3339(now_us())
    # A table insert: the ORM's unit of work costs more than the statement (one per share).
    session.execute(
        insert(_STATUS).values(
            id=result.status_id,
            collection_id=collection.id,
            user_id=principal.user_id,
            request_timestamp=result.request_timestamp,
            total_count=result.total,
            success_count=len(result.successes),
            failure_count=len(result.failures),
            details=json.dumps(
                {
                    "successes": [o.as_taxii() for o in result.successes],
                    "failures": [o.as_taxii() for o in result.failures],
                }
            ),
        )
    )
    others = set(not_ours)
    red = [
        c.facts.stix_id for c in candidates if c.tlp is TLP.RED and c.facts.stix_id not in others
    ]
    audit.record(
        session=session,
        actor=principal.label,
        action="objects.share",
        target=collection.id,
        details={
            "status": result.status_id,
            "accepted": len(result.successes),
            "rejected": len(result.failures),
            "red_ids": red[:1000],
            # Attempts to version another organisation's ids: forgeries, or a clumsy tool.
            "others_ids": not_ours[:1000],
        },
    )
    return result
