"""MISP sightings shared as hub sightings of the indicators a principal may read."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.clock import us_to_rfc3339
from varsel.errors import Forbidden, InvalidInput, NotFound
from varsel.matching import flows as matching
from varsel.observables.extract import extract
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import search
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP


@dataclass(frozen=True, slots=True)
class SightingOutcome:
    """A MISP sighting stored as a hub sighting: its id, the indicator's and when."""

    sighting_id: str
    indicator_id: str
    attribute_uuid: str
    at: str
    stored: bool
    """False when the same sighting was shared before (nothing new stored)."""


def share_sighting(
    *,
    session: Session,
    principal: Principal,
    collection: Collection | None,
    attribute_uuid: str | None,
    value: str | None = None,
    key: str,
    seen_at: int | None,
) -> list[SightingOutcome]:
    """Share a MISP sighting of an attribute, or of a value, as hub sightings of indicators.

    By ``attribute_uuid``: the indicator ``indicator--<attribute uuid>`` (as the converter
    names an attribute with ``to_ids``, or its object's). By ``value`` (MISP's sighting of every
    attribute with that value): each indicator that names it exactly. Only indicators
    ``principal`` may read are sighted. Sightings go into ``collection`` (the organisation's
    MISP collection), or else into each indicator's own collection where the principal may
    write, through the matching domain's share of sightings (never less restrictive than the
    indicator; ``objects.share`` audited). ``key`` (the MISP sighting's uuid) makes sending the
    same sighting twice store it once. Raises NotFound, Forbidden or InvalidInput.
    """
    if attribute_uuid is not None:
        ids = [f"indicator--{attribute_uuid}"]
        wanted = f"attribute {attribute_uuid}"
    else:
        ids = _indicators_naming(session, principal, value or "")
        wanted = f"value {value!r}"
    readable = matching.readable_indicators(session=session, principal=principal, ids=ids)
    if not readable:
        raise NotFound(
            f"no attribute with to_ids that you may read has the {wanted}: a sighting is "
            "shared of an indicator"
        )
    at = us_to_rfc3339((seen_at if seen_at is not None else int(time.time())) * 1_000_000)
    out: list[SightingOutcome] = []
    for indicator_id in sorted(readable):
        target = collection or _writable_home(session, principal, indicator_id)
        level = TLP(target.default_tlp)
        if level is TLP.RED:
            # A sighting of a RED indicator is RED anyway (share_sighted); of any other, the
            # strictest level a sighting may take unaddressed.
            level = TLP.AMBER_STRICT
        shared = matching.share_sighted(
            session=session,
            principal=principal,
            sighted=[matching.Sighted(indicator_id, 1, at, at)],
            collection=target,
            tlp=level,
            key=f"misp:{key}",
            at=at,
        )
        if shared.failures:
            raise Forbidden(shared.failures[0].message or "the hub refused the sighting")
        for sid in shared.shared or shared.present:
            uid = indicator_id.partition("--")[2]
            out.append(SightingOutcome(sid, indicator_id, uid, at, bool(shared.shared)))
    if not out:
        raise NotFound(f"no attribute with to_ids that you may read has the {wanted}")
    return out


def _writable_home(session: Session, principal: Principal, indicator_id: str) -> Collection:
    """Return a collection holding the indicator that ``principal`` may write to."""
    home = session.execute(
        restrict(select(Collection), principal, Action.WRITE)
        .join(StixObject, StixObject.collection_id == Collection.id)
        .where(StixObject.stix_id == indicator_id, StixObject.is_latest.is_(True))
        .limit(1)
    ).scalar()
    if home is None:
        raise Forbidden(
            "no collection is set for your organisation's MISP events (a hub administrator "
            "sets one with 'varsel misp set-collection ORG COLLECTION'), and you may not "
            "write where the indicator is"
        )
    return home


def _indicators_naming(session: Session, principal: Principal, value: str) -> list[str]:
    """Return the readable indicators that name ``value`` exactly (the hub's look-up)."""
    found = extract(value)
    if len(found) != 1:
        raise InvalidInput(
            f"{value!r} is not one address, domain, URL, e-mail address or file hash; name the "
            "sighted attribute by its uuid instead"
        )
    (known,) = search.lookup(session=session, principal=principal, found=found)
    return sorted(
        {m.hit.stix_id for m in known.mentions if m.via is None and m.hit.type == "indicator"}
    )
