"""Work that crosses domains: scan matches into STIX sightings shared through ingest; audit.

The web page's sightings (:func:`share_sighted`) are keyed: each sighting's id is derived from
the organisation, a key naming the matched input and the indicator, and its timestamps are
those of the match, so sharing the same result again stores nothing new ("already present").

Handing out an export that holds TLP:RED indicators is a read of those objects, and is
recorded in the audit log each time a body is delivered (not for a ``304 Not Modified``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import now_us, us_to_rfc3339
from varsel.errors import InvalidInput
from varsel.matching._scan import Match
from varsel.matching.exports import Export
from varsel.orgs.models import Organisation
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.envelope import Envelope
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP

# Identities of member organisations get stable ids, so sightings from one organisation all
# point at the same identity object however many times it shares.
_IDENTITY_NAMESPACE = uuid.UUID("6f1c1a52-8d3e-4f0e-9a53-5d2b6c1d7e01")
_SIGHTING_NAMESPACE = uuid.UUID("0d7f4b8e-5c1a-4f55-b0a4-6a3e2f9c8d17")


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


@dataclass(frozen=True, slots=True)
class Sighted:
    """What one match run saw of one indicator: how often, first and last (RFC 3339)."""

    indicator_id: str
    count: int
    first_seen: str
    last_seen: str


@dataclass
class SharedSightings:
    """The outcome of :func:`share_sighted`."""

    shared: list[str] = field(default_factory=list)  # sighting ids stored now
    present: list[str] = field(default_factory=list)  # shared before: nothing new stored
    unreadable: int = 0  # indicators the sharer may no longer read: left out
    failures: list[ingesting.StatusDetail] = field(default_factory=list)
    levels: dict[str, TLP] = field(default_factory=dict)  # sighting id -> its TLP


def tally(matches: Iterable[Match], *, default_time: str) -> list[Sighted]:
    """Return one :class:`Sighted` per indicator of ``matches`` (``default_time`` when untimed)."""
    tallies: dict[str, _Tally] = {}
    for match in matches:
        tallies.setdefault(match.indicator_id, _Tally()).add(match.time or default_time)
    return [
        Sighted(i, t.count, t.first or default_time, t.last or default_time)
        for i, t in sorted(tallies.items())
    ]


@dataclass(frozen=True, slots=True)
class Readable:
    """An indicator the principal may read: its TLP (strictest readable copy), name, producer."""

    tlp: TLP
    name: str | None
    producer: str


def readable_indicators(
    *, session: Session, principal: Principal, ids: list[str]
) -> dict[str, Readable]:
    """Return, of the indicator ids ``ids``, those ``principal`` may read (latest versions)."""
    found: dict[str, Readable] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            restrict(
                select(StixObject.stix_id, StixObject.tlp, StixObject.name, Organisation.name)
                .join(Organisation, Organisation.id == StixObject.producer_org_id)
                .where(
                    StixObject.stix_id.in_(ids[start : start + 500]),
                    StixObject.type == "indicator",
                    StixObject.is_latest.is_(True),
                ),
                principal,
                Action.READ,
            )
        ).all()
        for stix_id, tlp, name, producer in rows:
            level = TLP(tlp)
            if stix_id not in found or level.rank > found[stix_id].tlp.rank:
                found[stix_id] = Readable(level, name, producer)
    return found


def sighting_id(*, org_name: str, key: str, indicator_id: str) -> str:
    """Return the id of the sighting an organisation shares of ``indicator_id`` for ``key``."""
    name = f"{identity_id(org_name)}|{key}|{indicator_id}"
    return f"sighting--{uuid.uuid5(_SIGHTING_NAMESPACE, name)}"


def share_sighted(
    *,
    session: Session,
    principal: Principal,
    sighted: list[Sighted],
    collection: Collection,
    tlp: TLP,
    key: str,
    at: str,
) -> SharedSightings:
    """Share one sighting per indicator of ``sighted`` the principal may still read.

    A sighting is never marked less restrictive than the indicator it sights (it names the
    indicator's id): its TLP is the stricter of ``tlp`` and the indicator's. A sighting of a
    TLP:RED indicator is addressed to the sharer's organisation and the indicator's producer.
    Ids and timestamps follow from ``key`` and ``at``, so the same result shared twice is
    stored once. Ingest checks the write right and records ``objects.share`` in the audit log.
    """
    if tlp is TLP.RED:
        raise InvalidInput("choose CLEAR, GREEN, AMBER or AMBER+STRICT for sightings")
    readable = readable_indicators(
        session=session, principal=principal, ids=[s.indicator_id for s in sighted]
    )
    outcome = SharedSightings(unreadable=sum(1 for s in sighted if s.indicator_id not in readable))
    kept = [s for s in sighted if s.indicator_id in readable]
    if not kept:
        return outcome
    identity = {
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id(principal.org_name),
        "created": "2020-01-01T00:00:00.000Z",
        "modified": "2020-01-01T00:00:00.000Z",
        "name": principal.org_name,
        "identity_class": "organization",
        "object_marking_refs": [tlp.stix_id],
    }
    objects: list[dict[str, Any]] = [identity]
    for seen in kept:
        indicator = readable[seen.indicator_id]
        level = indicator.tlp if indicator.tlp.rank > tlp.rank else tlp
        obj: dict[str, Any] = {
            "type": "sighting",
            "spec_version": "2.1",
            "id": sighting_id(org_name=principal.org_name, key=key, indicator_id=seen.indicator_id),
            "created": at,
            "modified": at,
            "sighting_of_ref": seen.indicator_id,
            "count": seen.count,
            "first_seen": seen.first_seen,
            "last_seen": seen.last_seen,
            "where_sighted_refs": [identity["id"]],
            "object_marking_refs": [level.stix_id],
        }
        if level is TLP.RED:
            obj[ingesting.RECIPIENTS_PROPERTY] = list(
                dict.fromkeys([f"org:{principal.org_name}", f"org:{indicator.producer}"])
            )
        outcome.levels[obj["id"]] = level
        objects.append(obj)
    raws = [(json.dumps(o, separators=(",", ":")), o) for o in objects]
    result = ingesting.ingest(
        session=session,
        collection=collection,
        principal=principal,
        body=Envelope(objects=raws, properties={}),
    )
    for detail in result.successes:
        if (detail.id or "").startswith("sighting--"):
            target = outcome.present if detail.message == "already present" else outcome.shared
            target.append(detail.id or "")
    outcome.failures = [d for d in result.failures if (d.id or "").startswith("sighting--")]
    return outcome


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
