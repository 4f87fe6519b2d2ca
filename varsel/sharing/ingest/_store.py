"""Store the checked objects of one envelope under the collection's lock.

This is where the ordering guarantee is kept: the collection's row is locked before anything
the ordering depends on is read, every ``date_added`` is above the last one handed out, and
earlier versions of an object lose their latest/first flags in the same transaction. It is also
where versions are held to their producer (``_producers``): only the sharer's own rows are
looked at, so a version is new, or "already present", by the sharer's own series alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import String, any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from varsel import config
from varsel.clock import now_us, us_to_rfc3339, utcnow
from varsel.orgs.models import Organisation, User
from varsel.policy.principal import Principal
from varsel.provenance import keys, seal
from varsel.sharing import terms, tombstones
from varsel.sharing.feed import announce
from varsel.sharing.ingest._producers import producer_refusals
from varsel.sharing.ingest._results import Addressee, Candidate, IngestResult, StatusDetail
from varsel.sharing.models import Collection, Recipient, Seal, StixObject

_CHUNK = 500
_K = TypeVar("_K")


def _warned(warnings: tuple[str, ...]) -> str | None:
    return "warning: " + "; ".join(warnings) if warnings else None


_COPY_COLUMNS = (
    "collection_id", "stix_id", "type", "spec_version", "version", "version_key",
    "date_added_us", "is_latest", "is_first", "tlp", "producer_org_id", "shared_by_user_id",
    "name", "revoked", "raw", "class_country", "class_grade", "class_level",
    "origin_hub", "seal_id", "provenance",
)  # fmt: skip


# Positions in a row of the columns that later versions in the same envelope may clear.
_IS_LATEST = _COPY_COLUMNS.index("is_latest")
_IS_FIRST = _COPY_COLUMNS.index("is_first")
_SEAL_ID = _COPY_COLUMNS.index("seal_id")
_PROVENANCE = _COPY_COLUMNS.index("provenance")
_RAW = _COPY_COLUMNS.index("raw")
_TLP = _COPY_COLUMNS.index("tlp")
_ADDED = _COPY_COLUMNS.index("date_added_us")
_CLASS = _COPY_COLUMNS.index("class_country")  # then class_grade, class_level


def qualified_recipients(
    session: Session, addressed: Mapping[_K, Sequence[Addressee]], hub_name: str
) -> dict[_K, list[str]]:
    """Return, per key, the recipients as the provenance names them: ``ORG@hub`` and
    ``user:NAME@hub``; two queries for all of them.

    A local organisation or user is qualified with ``hub_name`` (this hub); someone at a peer
    hub is named as the producer wrote it, qualified with that hub's organisation's name.
    """
    targets = [t for group in addressed.values() for t in group]
    org_ids = sorted({t.org_id for t in targets if t.org_id is not None})
    user_ids = sorted({t.user_id for t in targets if t.user_id is not None})
    org_names: dict[int, str] = {}
    for start in range(0, len(org_ids), _CHUNK):
        chunk = org_ids[start : start + _CHUNK]
        org_names.update(
            session.execute(
                select(Organisation.id, Organisation.name).where(Organisation.id.in_(chunk))
            ).all()
        )
    user_names: dict[int, str] = {}
    for start in range(0, len(user_ids), _CHUNK):
        chunk = user_ids[start : start + _CHUNK]
        user_names.update(
            session.execute(select(User.id, User.username).where(User.id.in_(chunk))).all()
        )

    def qualified(target: Addressee) -> list[str]:
        names = []
        if target.org_id is not None and target.remote is not None:
            names.append(f"{target.remote}@{org_names[target.org_id]}")
        elif target.org_id is not None:
            names.append(f"{org_names[target.org_id]}@{hub_name}")
        if target.user_id is not None:
            names.append(f"user:{user_names[target.user_id]}@{hub_name}")
        return names

    return {key: [n for t in group for n in qualified(t)] for key, group in addressed.items()}


def _seal_local_rows(
    session: Session,
    principal: Principal,
    rows: list[list[Any]],
    local: list[int],
    addressed: dict[int, list[str]],
) -> None:
    """Give the rows at ``local`` (first stored here) their provenance, and sign one seal.

    One Ed25519 signature per share, over the digests of its versions (varsel.provenance.seal):
    signing each version would cost a third of the ingest.
    """
    settings = config.current()
    key = keys.current(settings.data_dir, settings.hub_name)
    seal_id = f"{key.name}/{uuid.uuid4()}"
    digests = []
    for idx in local:
        row = rows[idx]
        classification = (
            [row[_CLASS], row[_CLASS + 1], row[_CLASS + 2]] if row[_CLASS + 1] else None
        )
        text = seal.provenance(
            origin=key.name,
            producer=principal.org_name,
            tlp=row[_TLP],
            recipients=addressed.get(idx, ()),
            classification=classification,
        )
        row[_PROVENANCE] = text
        row[_SEAL_ID] = seal_id
        digests.append(seal.digest(text, row[_RAW]))
    keep_seal(session, seal.make_seal(key, seal_id, digests))


def keep_seal(session: Session, signed: seal.Seal) -> None:
    """Store ``signed`` (this hub's, or an origin's a version arrived with) in ``seals``."""
    session.execute(
        insert(Seal).values(
            id=signed.id,
            origin_hub=signed.origin,
            manifest=signed.manifest,
            signature=signed.signature,
            created_at=utcnow(),
        )
    )


def _insert_rows(session: Session, rows: list[list[Any]]) -> None:
    """Insert object rows (values in ``_COPY_COLUMNS`` order): COPY on PostgreSQL, one DBAPI
    executemany on SQLite."""
    connection = session.connection()
    columns = ", ".join(_COPY_COLUMNS)
    if connection.dialect.name == "sqlite":
        # One DBAPI executemany of plain rows: the ORM's bulk insert spends more time
        # preparing each row's parameters than SQLite spends inserting it.
        marks = ", ".join("?" for _ in _COPY_COLUMNS)
        connection.exec_driver_sql(
            f"INSERT INTO stix_objects ({columns}) VALUES ({marks})", list(map(tuple, rows))
        )
        return
    if connection.dialect.name != "postgresql":
        session.execute(
            insert(StixObject), [dict(zip(_COPY_COLUMNS, r, strict=True)) for r in rows]
        )
        return
    statement = f"COPY stix_objects ({columns}) FROM STDIN"
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi_error as exc:
        # The driver's own cursor: raise what SQLAlchemy would (IntegrityError and so on).
        raise DBAPIError.instance(statement, None, exc, dbapi_error) from exc


def _write_terms(
    session: Session,
    collection_id: str,
    rows: list[list[Any]],
    objects: list[dict[str, Any]],
    pks: dict[int, int],
) -> None:
    """Write the search terms of the versions just stored (varsel.sharing.terms).

    The plain rows went in without RETURNING; their ids are read back by ``date_added_us``,
    which is unique in the collection and above everything stored before (see ``store``): one
    range scan of the collection's date_added index.
    """
    missing = [row[_ADDED] for row in rows if row[_ADDED] not in pks]
    if missing:
        pks.update(
            session.execute(
                select(StixObject.date_added_us, StixObject.id).where(
                    StixObject.collection_id == collection_id,
                    StixObject.date_added_us >= min(missing),
                    StixObject.date_added_us <= max(missing),
                )
            ).all()
        )
    terms.write(
        session.connection(),
        ((pks[row[_ADDED]], obj) for row, obj in zip(rows, objects, strict=True)),
    )


def store(
    *,
    session: Session,
    collection: Collection,
    principal: Principal,
    candidates: list[Candidate],
    result: IngestResult,
    stamp_us: int | None,
) -> list[str]:
    """Store the candidates that are the principal's to store; return the ids refused as
    another organisation's."""
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
        return []
    refused = producer_refusals(
        session=session, principal=principal, facts=(c.facts for c in candidates)
    )
    if refused:
        for cand in candidates:
            if cand.facts.stix_id in refused:
                version = cand.facts.modified or cand.facts.created
                result.failures.append(
                    StatusDetail(cand.facts.stix_id, version, refused[cand.facts.stix_id])
                )
        candidates = [c for c in candidates if c.facts.stix_id not in refused]
    # Read after the lock, so date_added is the time the object became part of the collection.
    clock = now_us() if stamp_us is None else stamp_us

    ids = list({c.facts.stix_id for c in candidates})
    # The principal's own series only: stix_id -> {version_key: (pk, is_latest, is_first)}
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
                # Likewise unindexable: the producer's index would walk all its objects.
                (StixObject.producer_org_id + 0) == principal.org_id,
                id_match,
            )
        )
        for stix_id, vkey, pk, is_latest, is_first in rows:
            existing.setdefault(stix_id, {})[vkey] = (pk, is_latest, is_first)

    new_rows: list[list[Any]] = []
    new_objects: list[dict[str, Any]] = []  # parallel to new_rows, for the search terms
    collection_id, producer_org_id, shared_by_user_id = (
        collection.id,
        principal.org_id,
        principal.user_id,
    )
    # Rows that name recipients (TLP:RED, addressed AMBER+STRICT): index in new_rows -> whom.
    named: list[tuple[int, tuple[Addressee, ...]]] = []
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
            result.successes.append(StatusDetail(facts.stix_id, version, "already present"))
            continue
        keys = list(known) + list(mine)
        is_latest = all(facts.version_key > k for k in keys)
        is_first = all(facts.version_key < k for k in keys)
        if is_latest:
            demote_latest.update(pk for pk, latest, _ in known.values() if latest)
            for idx in mine.values():
                new_rows[idx][_IS_LATEST] = False
        if is_first:
            demote_first.update(pk for pk, _, first in known.values() if first)
            for idx in mine.values():
                new_rows[idx][_IS_FIRST] = False
        last = max(clock, last + 1)
        if not version:
            # TAXII 2.1 §3.x: an object with neither modified nor created is versioned by
            # date_added; its version_key stays "" so that sending it again is idempotent.
            version = us_to_rfc3339(last)
        mine[facts.version_key] = len(new_rows)
        classification = cand.classification
        # In _COPY_COLUMNS order.
        new_rows.append(
            [
                collection_id,
                facts.stix_id,
                facts.type,
                facts.spec_version,
                version,
                facts.version_key,
                last,
                is_latest,
                is_first,
                cand.tlp.value,
                producer_org_id,
                # A version received from another hub was shared by no user of this one.
                None if cand.origin_hub is not None else shared_by_user_id,
                # PostgreSQL text cannot hold NUL; the raw JSON keeps the escape intact.
                (facts.name or None) and facts.name[:500].replace("\x00", "\ufffd"),
                facts.revoked,
                cand.raw,
                classification["class_country"],
                classification["class_grade"],
                classification["class_level"],
                cand.origin_hub,
                cand.seal_id,
                cand.provenance,
            ]
        )
        new_objects.append(cand.obj)
        named.append((len(new_rows) - 1, cand.recipients))
        result.successes.append(StatusDetail(facts.stix_id, version, _warned(cand.warnings)))

    # Peer hubs that read the latest versions about to be replaced: a new version that they
    # may not read withdraws the older ones from them (docs/federation.md, "Tombstones").
    narrowing = (
        tombstones.Narrowing.watch(session, latest_pks=demote_latest)
        if demote_latest and any(c.origin_hub is None for c in candidates)
        else None
    )
    for pks, column in ((demote_latest, StixObject.is_latest), (demote_first, StixObject.is_first)):
        if pks:
            session.execute(
                update(StixObject).where(StixObject.id.in_(sorted(pks))).values({column: False})
            )
    if new_rows:
        local = [i for i, row in enumerate(new_rows) if row[_PROVENANCE] is None]
        if local:
            hub_name = config.current().hub_name
            addressed = qualified_recipients(
                session,
                {
                    idx: targets
                    for idx, targets in named
                    if targets and new_rows[idx][_PROVENANCE] is None
                },
                hub_name,
            )
            _seal_local_rows(session, principal, new_rows, local, addressed)
        # Only rows that name recipients need their keys back; everything else goes in one
        # executemany, which is much cheaper than INSERT … RETURNING for 500 rows.
        keyed = {idx: targets for idx, targets in named if targets}
        plain = [row for idx, row in enumerate(new_rows) if idx not in keyed]
        if plain:
            _insert_rows(session, plain)
        recipient_rows: list[dict[str, int | str | None]] = []
        added_pks: dict[int, int] = {}  # date_added_us -> row id, for the search terms
        for idx, targets in keyed.items():
            pk = session.execute(
                insert(StixObject)
                .values(dict(zip(_COPY_COLUMNS, new_rows[idx], strict=True)))
                .returning(StixObject.id)
            ).scalar_one()
            added_pks[new_rows[idx][_ADDED]] = pk
            recipient_rows.extend(
                {"object_pk": pk, "org_id": t.org_id, "user_id": t.user_id, "remote": t.remote}
                for t in targets
            )
        if recipient_rows:
            session.execute(insert(Recipient), recipient_rows)
        _write_terms(session, collection.id, new_rows, new_objects, added_pks)
        session.execute(
            update(Collection).where(Collection.id == collection.id).values(last_added_us=last)
        )
        # The collection's streams wake when this commits (docs/federation.md, "The stream").
        announce(session, collection.id)
        if narrowing is not None:
            narrowing.withdraw(
                session, collection_id=collection.id, producer_org_id=principal.org_id
            )
    return sorted(refused)
