"""Work that crosses domains: scan matches into STIX sightings shared through ingest; audit.

Handing out an export that holds TLP:RED indicators is a read of those objects, and is
recorded in the audit log each time a body is delivered (not for a ``304 Not Modified``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import now_us, us_to_rfc3339
from varsel.errors import InvalidInput
from varsel.matching._scan import Match
from varsel.matching.exports import Export
from varsel.policy.principal import Principal
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.envelope import Envelope
from varsel.sharing.tlp import TLP

# Identities of member organisations get stable ids, so sightings from one organisation all
# point at the same identity object however many times it shares.
_IDENTITY_NAMESPACE = uuid.UUID("6f1c1a52-8d3e-4f0e-9a53-5d2b6c1d7e01")


@dataclass
class _Tally:
    count: int = 0
    first: str | None = None
    last: str | None = None

    def add(self, moment: str) -> None:
        self.count += 1
        self.first = moment if self.first is None or moment < self.first else self.first
        self.last = moment if self.last is None or moment > self.last else self.last


def identity_id(org_name: str) -> str:
    """Return the stable STIX identity id of an organisation."""
    return f"identity--{uuid.uuid5(_IDENTITY_NAMESPACE, 'varsel-org:' + org_name)}"


def sightings_from(
    matches: Iterable[Match], *, principal: Principal, tlp: TLP
) -> list[dict[str, Any]]:
    """Return the identity of the principal's organisation and one sighting per indicator."""
    now = us_to_rfc3339(now_us())
    tallies: dict[str, _Tally] = {}
    for match in matches:
        tallies.setdefault(match.indicator_id, _Tally()).add(match.time or now)
    if not tallies:
        return []
    marking = [tlp.stix_id]
    identity = {
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id(principal.org_name),
        "created": "2020-01-01T00:00:00.000Z",
        "modified": "2020-01-01T00:00:00.000Z",
        "name": principal.org_name,
        "identity_class": "organization",
        "object_marking_refs": marking,
    }
    objects: list[dict[str, Any]] = [identity]
    for indicator_id, tally in sorted(tallies.items()):
        objects.append(
            {
                "type": "sighting",
                "spec_version": "2.1",
                "id": f"sighting--{uuid.uuid4()}",
                "created": now,
                "modified": now,
                "sighting_of_ref": indicator_id,
                "count": tally.count,
                "first_seen": tally.first,
                "last_seen": tally.last,
                "where_sighted_refs": [identity["id"]],
                "object_marking_refs": marking,
            }
        )
    return objects


def share_sightings(
    *,
    session: Session,
    principal: Principal,
    matches: Iterable[Match],
    collection: str,
    tlp: str = "amber",
    recipients: list[str] | None = None,
) -> ingesting.IngestResult | None:
    """Share the sightings of ``matches`` into ``collection`` under ``tlp``; None if no match."""
    try:
        level = TLP.parse(tlp)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    objects = sightings_from(matches, principal=principal, tlp=level)
    if not objects:
        return None
    target = sharing.find_collection(session=session, principal=principal, ref=collection)
    raws = [(json.dumps(o, separators=(",", ":")), o) for o in objects]
    envelope = Envelope(objects=raws, properties={})
    return ingesting.ingest(
        session=session,
        collection=target,
        principal=principal,
        body=envelope,
        recipients=recipients,
    )


def record_export_delivery(*, session: Session, principal: Principal, result: Export) -> None:
    """Audit the delivery of an export body that holds TLP:RED indicators."""
    if result.red:
        audit.record(
            session=session,
            actor=principal.label,
            action="objects.read.red",
            target=f"export:{result.filename}",
            details={"objects": list(result.red)},
        )
