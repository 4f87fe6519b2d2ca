"""Who may add versions of an id, and whom an object may say created it.

Versions belong to their producer: the organisation that first shared an id in this hub holds
it (``object_producers``), and nobody else may add versions of it. Two kinds of object are
shared *by value* instead and kept once per producer, with no holder: SCOs, whose ids are
derived from their value (two organisations seeing one address mint one id), and the marking
definitions whose meaning the hub itself defines (TLP, the classification markings and their
extension). Each producer's copy is its own row, so one never changes what another's says.

The outcome an organisation sees depends only on its own rows and on whether an id is held by
someone else; it never depends on the level, content, version or collection of another
organisation's object (docs/access-policy.md, "Who may add versions").
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from varsel.clearances import rules
from varsel.clock import utcnow
from varsel.policy.principal import Principal
from varsel.sharing.ingest.marking import EXTENSION_ID, marking_id
from varsel.sharing.models import ObjectProducer, OrgIdentity
from varsel.sharing.tlp import level_of_marking
from varsel.sharing.validation import SCO_TYPES, ValidatedObject

_CHUNK = 500
_CLAIM_PG = text(
    "INSERT INTO object_producers (stix_id, org_id, created_at) "
    "SELECT unnest(CAST(:ids AS varchar[])), :org, :now "
    "ON CONFLICT (stix_id) DO NOTHING RETURNING stix_id"
)
_HOLDERS_PG = text(
    "SELECT stix_id, org_id FROM object_producers WHERE stix_id = ANY(CAST(:ids AS varchar[]))"
)


@cache
def _hub_defined() -> frozenset[str]:
    """Return the ids of the marking definitions (and extension) the hub itself defines."""
    classification = {marking_id(lvl) for sch in rules.schemes() for lvl in sch.levels}
    return frozenset({*classification, EXTENSION_ID})


def _hub_defines(stix_id: str) -> bool:
    """Return whether the hub itself defines the object with this id (TLP, classification)."""
    return stix_id in _hub_defined() or level_of_marking(stix_id) is not None


def shared_by_value(facts: ValidatedObject) -> bool:
    """Return whether an object is kept once per producer, with no holder of its id."""
    return facts.type in SCO_TYPES or _hub_defines(facts.stix_id)


def not_yours(stix_id: str) -> str:
    """Return the refusal of a version of an id another organisation holds."""
    # Says nothing of the holder, the collection, the level or the versions: only that the
    # id is taken, which is all the decision depends on (and stays so after a deletion).
    return (
        f"{stix_id}: refused: this id was first shared in this hub by another organisation, "
        "and only the organisation that produced an object may add versions of it; share "
        "your own object under a new id (it may reference this one)"
    )


def producer_refusals(
    *, session: Session, principal: Principal, facts: Iterable[ValidatedObject]
) -> dict[str, str]:
    """Claim the unheld ids for the principal's organisation; return refusals for the rest.

    Returns ``{stix_id: reason}`` for each id another organisation holds. The one place that
    decides who may add versions of an id (federation extends the holder to its origin hub).
    Called under the collection's lock; ids are claimed in sorted order, so two envelopes
    claiming the same ids in different collections wait for each other but never deadlock.
    """
    ids = sorted({f.stix_id for f in facts if not shared_by_value(f)})
    if not ids:
        return {}
    # Claim first, then read who holds each id: an id already held, or claimed a moment ago by
    # a concurrent first share in another collection, is left alone (DO NOTHING).
    now = utcnow()
    holders: dict[str, int] = {}
    if session.connection().dialect.name == "postgresql":
        # One array parameter: an executemany of 500 rows measured ~48 ms, this ~9 ms.
        claimed = session.execute(_CLAIM_PG, {"ids": ids, "org": principal.org_id, "now": now})
        holders.update((stix_id, principal.org_id) for stix_id in claimed.scalars())
        rest = [i for i in ids if i not in holders]
        if rest:
            rows = session.execute(_HOLDERS_PG, {"ids": rest})
            holders.update((stix_id, org_id) for stix_id, org_id in rows)
    else:
        # One multi-row INSERT … RETURNING per chunk (SQLite 3.35+): the ids it returns are now
        # the sharer's, and only the others need reading. An executemany through the ORM and
        # a read of every id cost 18 % of a share's time (docs/benchmarks.md).
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores DateTime here
        rest = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            values = ", ".join(["(?, ?, ?)"] * len(chunk))
            params = tuple(v for i in chunk for v in (i, principal.org_id, stamp))
            claimed = session.connection().exec_driver_sql(
                "INSERT INTO object_producers (stix_id, org_id, created_at) VALUES "
                f"{values} ON CONFLICT (stix_id) DO NOTHING RETURNING stix_id",
                params,
            )
            mine = {row[0] for row in claimed}
            holders.update((stix_id, principal.org_id) for stix_id in mine)
            rest += [i for i in chunk if i not in mine]
        for start in range(0, len(rest), _CHUNK):
            rows = session.execute(
                select(ObjectProducer.stix_id, ObjectProducer.org_id).where(
                    ObjectProducer.stix_id.in_(rest[start : start + _CHUNK])
                )
            )
            holders.update((stix_id, org_id) for stix_id, org_id in rows)
    return {i: not_yours(i) for i in ids if holders.get(i) != principal.org_id}


class IdentityCheck:
    """Check ``created_by_ref`` against the identities registered to the sharer's organisation."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self._session = session
        self._principal = principal
        self._mine: frozenset[str] | None = None

    def refusal(self, obj: dict[str, Any], facts: ValidatedObject) -> str | None:
        """Return why the object may not name its ``created_by_ref``, or None if it may."""
        ref = obj.get("created_by_ref")
        if ref is None or _hub_defines(facts.stix_id):
            # The hub's own definitions name the hub's identity, whoever passes them on.
            return None
        if self._mine is None:
            self._mine = frozenset(
                self._session.execute(
                    select(OrgIdentity.identity_id).where(
                        OrgIdentity.org_id == self._principal.org_id
                    )
                ).scalars()
            )
        if ref in self._mine:
            return None
        # Only about the sharer's own registrations: whether another organisation holds the
        # identity is not said.
        return (
            f"{facts.stix_id}: refused: created_by_ref {ref} is not an identity registered to "
            f"your organisation ({self._principal.org_name}); a hub operator registers one with "
            f"'varsel org identity ORG IDENTITY_ID', or leave created_by_ref out"
        )
