"""Ingest STIX objects into a collection: validate one by one, store versions, never half-write.

Ordering guarantee (what makes ``added_after`` polling exact): a writer first takes the lock of
its collection's row, then hands out ``date_added`` values strictly greater than every value
handed out before, then commits and releases the lock. So in each collection the committed
objects are always a prefix in ``date_added`` order; a reader that polls with the last
``date_added`` it saw can neither miss a later commit nor see one twice.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clearances.marking import UNCLASSIFIED, Classifier
from varsel.clock import now_us, us_to_rfc3339
from varsel.errors import Forbidden, InvalidInput
from varsel.matching import warninglists
from varsel.matching.settings import warninglist_mode
from varsel.orgs.models import Organisation, User
from varsel.orgs.service import Principal
from varsel.policy import Action, restrict
from varsel.sharing.envelope import Envelope, split
from varsel.sharing.models import Collection, IngestStatus, Recipient, StixObject
from varsel.sharing.tlp import TLP, effective_tlp
from varsel.sharing.validation import InvalidStixObject, ValidatedObject, validate_object

RECIPIENTS_PROPERTY = "x_varsel_recipients"
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one object of an envelope (a TAXII status-details entry)."""

    id: str | None
    version: str | None
    message: str | None = None

    def as_taxii(self) -> dict[str, Any]:
        """Return the TAXII 2.1 status-details form."""
        out: dict[str, Any] = {"id": self.id or "", "version": self.version or ""}
        if self.message:
            out["message"] = self.message
        return out


@dataclass
class IngestResult:
    """The outcome of one envelope: the TAXII status resource's content."""

    status_id: str
    request_timestamp: str
    successes: list[Outcome] = field(default_factory=list)
    failures: list[Outcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Return how many objects the envelope held."""
        return len(self.successes) + len(self.failures)


@dataclass(slots=True)
class _Candidate:
    raw: str
    obj: dict[str, Any]
    facts: ValidatedObject
    tlp: TLP
    recipients: tuple[tuple[int | None, int | None], ...] = ()
    classification: dict[str, Any] = field(default_factory=lambda: dict(UNCLASSIFIED))
    warnings: tuple[str, ...] = ()


# Any indicator will do: checking one builds every kind's index of the lists.
_PROBE = {
    "type": "indicator",
    "pattern_type": "stix",
    "pattern": "[domain-name:value = 'example.org']",
}


def preload_warning_lists() -> None:
    """Load the MISP warning lists now, so that no share pays for it (about 3 s, once)."""
    warninglists.check_indicators([_PROBE])


def _recipient_names(obj: dict[str, Any], envelope_default: Any) -> Any:
    return obj.get(RECIPIENTS_PROPERTY, envelope_default)


class _RecipientResolver:
    """Resolve recipient names ('ORG NAME', 'org:ORG NAME', 'user:USERNAME') to ids, cached."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._cache: dict[str, tuple[int | None, int | None] | None] = {}

    def resolve(self, name: str) -> tuple[int | None, int | None] | None:
        if name not in self._cache:
            self._cache[name] = None if "\x00" in name else self._lookup(name)
        return self._cache[name]

    def _lookup(self, name: str) -> tuple[int | None, int | None] | None:
        if name.startswith("user:"):
            uid = self._session.execute(
                select(User.id).where(User.username == name[5:])
            ).scalar_one_or_none()
            return None if uid is None else (None, uid)
        org_name = name[4:] if name.startswith("org:") else name
        oid = self._session.execute(
            select(Organisation.id).where(Organisation.name == org_name)
        ).scalar_one_or_none()
        return None if oid is None else (oid, None)


def _all_marking_refs(obj: dict[str, Any], facts: ValidatedObject) -> list[str]:
    refs = list(facts.marking_refs)
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        refs.extend(
            g["marking_ref"]
            for g in granular
            if isinstance(g, dict) and isinstance(g.get("marking_ref"), str)
        )
    return refs


def ingest(
    *,
    session: Session,
    collection: Collection,
    principal: Principal,
    body: str | Envelope,
    recipients: list[str] | None = None,
    stamp_us: int | None = None,
) -> IngestResult:
    """Validate and store the objects of an envelope; bad objects fail one by one.

    ``recipients`` name the recipients of TLP:RED objects that carry no ``x_varsel_recipients``
    of their own (see docs/access-policy.md). ``stamp_us`` replaces the clock for date_added
    when seeding history (the demo); the ordering guarantee holds either way, since a stamp is
    never below what the collection already handed out. Everything is written in the caller's
    transaction.
    """
    writable = session.execute(
        restrict(
            select(Collection.id).where(Collection.id == collection.id), principal, Action.WRITE
        )
    ).first()
    if writable is None:
        raise Forbidden(f"you may not add objects to collection {collection.id}")
    envelope = split(body) if isinstance(body, str) else body
    if envelope.properties.get("objects") is not None:
        raise InvalidInput("'objects' must be a list of STIX objects")
    default_recipients = envelope.properties.get(RECIPIENTS_PROPERTY, recipients)
    default_tlp = TLP(collection.default_tlp)
    result = IngestResult(status_id=str(uuid.uuid4()), request_timestamp="")
    resolver = _RecipientResolver(session)
    classifier = Classifier(session, envelope.objects)

    valid: list[tuple[str, Any, ValidatedObject]] = []
    for raw, obj in envelope.objects:
        try:
            valid.append((raw, obj, validate_object(obj)))
        except InvalidStixObject as exc:
            oid = (
                obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str) else None
            )
            result.failures.append(Outcome(oid, None, exc.reason))

    # Warning lists, checked once for the whole envelope (each distinct value once). A
    # revocation always gets through, or a flagged indicator could never be withdrawn. The
    # server loads the lists at start-up (preload_warning_lists); elsewhere they load on the
    # first indicator a process sees, never for envelopes without one.
    checked = [i for i, (_, _, f) in enumerate(valid) if f.type == "indicator" and not f.revoked]
    warned: dict[int, list[str]] = {}
    mode = warninglist_mode() if checked else None
    if checked:
        found = warninglists.check_indicators([valid[i][1] for i in checked])
        warned = {i: w for i, w in zip(checked, found, strict=True) if w}

    candidates: list[_Candidate] = []
    for index, (raw, obj, facts) in enumerate(valid):
        warnings = warned.get(index, [])
        if warnings:
            if mode is warninglists.Mode.REFUSE:
                result.failures.append(
                    Outcome(
                        facts.stix_id,
                        facts.modified or facts.created,
                        _refusal(facts.stix_id, warnings),
                    )
                )
                continue
        refs = _all_marking_refs(obj, facts)
        classification, refused = classifier.classify(obj, refs)
        if refused:
            result.failures.append(Outcome(facts.stix_id, facts.modified or facts.created, refused))
            continue
        tlp = effective_tlp(refs, default_tlp)
        cand = _Candidate(
            raw=raw,
            obj=obj,
            facts=facts,
            tlp=tlp,
            classification=classification,
            warnings=tuple(warnings),
        )
        if tlp is TLP.RED:
            failure = _attach_recipients(cand, _recipient_names(obj, default_recipients), resolver)
            if failure:
                result.failures.append(
                    Outcome(facts.stix_id, facts.modified or facts.created, failure)
                )
                continue
        candidates.append(cand)

    _store(
        session=session,
        collection=collection,
        principal=principal,
        candidates=candidates,
        result=result,
        stamp_us=stamp_us,
    )
    result.request_timestamp = us_to_rfc3339(now_us())
    session.add(
        IngestStatus(
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
    red = [c.facts.stix_id for c in candidates if c.tlp is TLP.RED]
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
        },
    )
    return result


def _refusal(stix_id: str, warnings: list[str]) -> str:
    return (
        f"{stix_id}: refused by this hub's warning-list policy (known-benign values are not "
        "shared): " + "; ".join(warnings)
    )


def _warned(warnings: tuple[str, ...]) -> str | None:
    return "warning: " + "; ".join(warnings) if warnings else None


def _attach_recipients(cand: _Candidate, names: Any, resolver: _RecipientResolver) -> str | None:
    if names is None or names == []:
        return (
            f"{cand.facts.stix_id}: a TLP:RED object must name its recipients in "
            f"'{RECIPIENTS_PROPERTY}' (organisation names or 'user:USERNAME')"
        )
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return f"{cand.facts.stix_id}: '{RECIPIENTS_PROPERTY}' must be a list of strings"
    resolved = []
    for name in names:
        target = resolver.resolve(name)
        if target is None:
            return f"{cand.facts.stix_id}: unknown recipient {name!r}"
        resolved.append(target)
    cand.recipients = tuple(dict.fromkeys(resolved))
    return None


_COPY_COLUMNS = (
    "collection_id", "stix_id", "type", "spec_version", "version", "version_key",
    "date_added_us", "is_latest", "is_first", "tlp", "producer_org_id", "shared_by_user_id",
    "name", "revoked", "raw", "class_country", "class_grade", "class_level",
)  # fmt: skip


def _insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert object rows: COPY on PostgreSQL, one DBAPI executemany on SQLite."""
    connection = session.connection()
    columns = ", ".join(_COPY_COLUMNS)
    if connection.dialect.name == "sqlite":
        # One DBAPI executemany of plain tuples: the ORM's bulk insert spends more time
        # preparing each row's parameters than SQLite spends inserting it.
        marks = ", ".join("?" for _ in _COPY_COLUMNS)
        connection.exec_driver_sql(
            f"INSERT INTO stix_objects ({columns}) VALUES ({marks})",
            [tuple(row.get(name) for name in _COPY_COLUMNS) for row in rows],
        )
        return
    if connection.dialect.name != "postgresql":
        session.execute(insert(StixObject), rows)
        return
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY stix_objects ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(tuple(row.get(name) for name in _COPY_COLUMNS))


def _store(
    *,
    session: Session,
    collection: Collection,
    principal: Principal,
    candidates: list[_Candidate],
    result: IngestResult,
    stamp_us: int | None,
) -> None:
    # Take the collection's lock before reading anything the ordering depends on.
    session.execute(
        update(Collection)
        .where(Collection.id == collection.id)
        .values(last_added_us=Collection.last_added_us)
    )
    last = session.execute(
        select(Collection.last_added_us).where(Collection.id == collection.id)
    ).scalar_one()
    if not candidates:
        return
    # Read after the lock, so date_added is the time the object became part of the collection.
    clock = now_us() if stamp_us is None else stamp_us

    ids = list({c.facts.stix_id for c in candidates})
    # stix_id -> {version_key: (pk, is_latest, is_first)}
    existing: dict[str, dict[str, tuple[int, bool, bool]]] = {}
    on_postgresql = session.connection().dialect.name == "postgresql"
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        # One array parameter on PostgreSQL: planning an IN of 500 parameters costs more
        # than the lookup itself.
        id_match = (
            StixObject.stix_id == any_(bindparam("ids", chunk, type_=ARRAY(String)))
            if on_postgresql
            else StixObject.stix_id.in_(chunk)
        )
        rows = session.execute(
            select(
                StixObject.stix_id,
                StixObject.version_key,
                StixObject.id,
                StixObject.is_latest,
                StixObject.is_first,
            ).where(
                # Written so that no index serves the collection term: the stix_id-led one must
                # (a planner without fresh statistics would walk the whole collection).
                (StixObject.collection_id + "") == collection.id,
                id_match,
            )
        )
        for stix_id, vkey, pk, is_latest, is_first in rows:
            existing.setdefault(stix_id, {})[vkey] = (pk, is_latest, is_first)

    new_rows: list[dict[str, Any]] = []
    red_recipients: list[tuple[int, tuple[tuple[int | None, int | None], ...]]] = []
    demote_latest: set[int] = set()
    demote_first: set[int] = set()
    # Versions added in this batch: stix_id -> {version_key: index in new_rows}
    batch: dict[str, dict[str, int]] = {}
    for cand in candidates:
        facts = cand.facts
        version = facts.modified or facts.created or ""
        known = existing.get(facts.stix_id, {})
        mine = batch.setdefault(facts.stix_id, {})
        if facts.version_key in known or facts.version_key in mine:
            result.successes.append(Outcome(facts.stix_id, version, "already present"))
            continue
        keys = list(known) + list(mine)
        is_latest = all(facts.version_key > k for k in keys)
        is_first = all(facts.version_key < k for k in keys)
        if is_latest:
            demote_latest.update(pk for pk, latest, _ in known.values() if latest)
            for idx in mine.values():
                new_rows[idx]["is_latest"] = False
        if is_first:
            demote_first.update(pk for pk, _, first in known.values() if first)
            for idx in mine.values():
                new_rows[idx]["is_first"] = False
        last = max(clock, last + 1)
        if not version:
            # TAXII 2.1 §3.x: an object with neither modified nor created is versioned by
            # date_added; its version_key stays "" so that sending it again is idempotent.
            version = us_to_rfc3339(last)
        mine[facts.version_key] = len(new_rows)
        new_rows.append(
            {
                "collection_id": collection.id,
                "stix_id": facts.stix_id,
                "type": facts.type,
                "spec_version": facts.spec_version,
                "version": version,
                "version_key": facts.version_key,
                "date_added_us": last,
                "is_latest": is_latest,
                "is_first": is_first,
                "tlp": cand.tlp.value,
                "producer_org_id": principal.org_id,
                "shared_by_user_id": principal.user_id,
                # PostgreSQL text cannot hold NUL; the raw JSON keeps the escape intact.
                "name": (facts.name or None) and facts.name[:500].replace("\x00", "\ufffd"),
                "revoked": facts.revoked,
                "raw": cand.raw,
                **cand.classification,
            }
        )
        red_recipients.append((len(new_rows) - 1, cand.recipients))
        result.successes.append(Outcome(facts.stix_id, version, _warned(cand.warnings)))

    for pks, column in ((demote_latest, StixObject.is_latest), (demote_first, StixObject.is_first)):
        if pks:
            session.execute(
                update(StixObject).where(StixObject.id.in_(sorted(pks))).values({column: False})
            )
    if new_rows:
        # Only TLP:RED rows need their keys back (for their recipients); everything else goes
        # in one executemany, which is much cheaper than INSERT … RETURNING for 500 rows.
        keyed = {idx: targets for idx, targets in red_recipients if targets}
        plain = [row for idx, row in enumerate(new_rows) if idx not in keyed]
        if plain:
            _insert_rows(session, plain)
        recipient_rows: list[dict[str, int | None]] = []
        for idx, targets in keyed.items():
            pk = session.execute(
                insert(StixObject).values(**new_rows[idx]).returning(StixObject.id)
            ).scalar_one()
            recipient_rows.extend(
                {"object_pk": pk, "org_id": org_id, "user_id": user_id}
                for org_id, user_id in targets
            )
        if recipient_rows:
            session.execute(insert(Recipient), recipient_rows)
        session.execute(
            update(Collection).where(Collection.id == collection.id).values(last_added_us=last)
        )
