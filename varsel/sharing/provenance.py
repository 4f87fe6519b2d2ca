"""Seal the versions stored before federation: give each its provenance, one seal per batch.

Every share is sealed as it is stored (``varsel.sharing.ingest._store``); versions stored before
migration 0014 have neither provenance nor seal, and a peer cannot verify what it cannot trace to
this hub's key. ``varsel init`` runs :func:`seal_unsealed`, which treats such a version as first
stored here (origin: this hub, producer: its producing organisation, its TLP, its recipients
qualified with their hub and its classification) exactly as a share would have
(docs/federation.md, "Signatures").
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from varsel.orgs.models import Organisation
from varsel.provenance import seal
from varsel.provenance.keys import HubKey
from varsel.sharing.ingest import Addressee, keep_seal, qualified_recipients
from varsel.sharing.models import Recipient, StixObject


def seal_unsealed(*, session: Session, key: HubKey, batch: int = 1000) -> int:
    """Give every stored version without a seal its provenance and seal; return how many.

    One Ed25519 signature per ``batch`` versions. Versions received from another hub always
    carry their origin's seal, so only versions first stored here are touched. Flushed batch by
    batch in the caller's transaction.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    done = 0
    after = 0
    while True:
        rows = session.execute(
            select(
                StixObject.id,
                StixObject.tlp,
                StixObject.raw,
                StixObject.class_country,
                StixObject.class_grade,
                StixObject.class_level,
                Organisation.name,
            )
            .join(Organisation, Organisation.id == StixObject.producer_org_id)
            .where(StixObject.seal_id.is_(None), StixObject.id > after)
            .order_by(StixObject.id)
            .limit(batch)
        ).all()
        if not rows:
            return done
        pks = [row.id for row in rows]
        addressed: dict[int, list[Addressee]] = {}
        for pk, org_id, user_id, remote in session.execute(
            select(Recipient.object_pk, Recipient.org_id, Recipient.user_id, Recipient.remote)
            .where(Recipient.object_pk.in_(pks))
            .order_by(Recipient.id)
        ):
            addressed.setdefault(pk, []).append(Addressee(org_id, user_id, remote))
        names = qualified_recipients(session, addressed, key.name)
        seal_id = f"{key.name}/{uuid.uuid4()}"
        changes = []
        digests = []
        for row in rows:
            classification = (
                [row.class_country, row.class_grade, row.class_level]
                if row.class_grade is not None
                else None
            )
            text = seal.provenance(
                origin=key.name,
                producer=row.name,
                tlp=row.tlp,
                recipients=names.get(row.id, ()),
                classification=classification,
            )
            digests.append(seal.digest(text, row.raw))
            changes.append({"id": row.id, "seal_id": seal_id, "provenance": text})
        keep_seal(session, seal.make_seal(key, seal_id, digests))
        # An UPDATE by primary key per row, in one executemany.
        session.execute(update(StixObject), changes)
        done += len(rows)
        after = pks[-1]
