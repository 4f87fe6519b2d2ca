"""The affected entity's profile and the impact facts: what the reporting engine reads.

Facts are stored as JSON, one row per change, and the newest value of each wins; times are
kept as ISO 8601 UTC text and returned as aware datetimes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import InvalidInput
from varsel.incidents.models import EntityProfile, ImpactFact
from varsel.incidents.service._fields import (
    DORA_KINDS,
    ENTITY_TYPES,
    NIS2_CLASSES,
    _choice,
    _countries,
    _text,
)
from varsel.incidents.service._incidents import get, readable
from varsel.orgs import service as orgs
from varsel.orgs.service import Principal
from varsel.policy import Action
from varsel.reporting import facts as factreg


def set_profile(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    name: str,
    established_in: list[str],
    services_in: list[str] | None = None,
    main_establishment: str | None = None,
    nis2_class: str | None = None,
    sector: str | None = None,
    entity_type: str | None = None,
    nis1_scope: bool = False,
    dora_financial: bool = False,
    dora_entity_kind: str | None = None,
    org: str | None = None,
) -> EntityProfile:
    """Set the affected entity's profile, which decides the jurisdictions and rules."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    established = _countries(established_in, "established_in")
    if not established:
        raise InvalidInput("established_in needs at least one country")
    main = main_establishment.strip().upper() if main_establishment else None
    if main is not None and main not in established.split():
        raise InvalidInput(f"main establishment {main} is not among established_in")
    row = session.get(EntityProfile, incident_id) or EntityProfile(incident_id=incident_id)
    row.name = _text(name.strip(), 200, "the entity name") or "unnamed entity"
    row.org_id = orgs.get_org(session=session, name=org).id if org else None
    row.established_in = established
    row.main_establishment = main
    row.services_in = _countries(services_in or [], "services_in")
    row.nis2_class = _choice(nis2_class, NIS2_CLASSES, "NIS2 class") if nis2_class else None
    row.sector = _text(sector.strip().lower(), 100, "the sector") if sector else None
    row.entity_type = _choice(entity_type, ENTITY_TYPES, "entity type") if entity_type else None
    row.nis1_scope = nis1_scope
    row.dora_financial = dora_financial
    row.dora_entity_kind = (
        _choice(dora_entity_kind, DORA_KINDS, "DORA entity kind") if dora_entity_kind else None
    )
    if row.dora_entity_kind and not dora_financial:
        raise InvalidInput("a DORA entity kind needs dora_financial")
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.profile",
        target=str(incident_id),
        details={"established_in": established, "entity_type": row.entity_type},
    )
    return row


def profile(*, session: Session, incident_id: int) -> factreg.Profile | None:
    """Return the engine's view of the entity profile, or None when none was set."""
    row = session.get(EntityProfile, incident_id)
    if row is None:
        return None
    return factreg.Profile(
        name=row.name,
        established_in=tuple(row.established_in.split()),
        main_establishment=row.main_establishment,
        services_in=tuple(row.services_in.split()),
        nis2_class=row.nis2_class,
        sector=row.sector,
        entity_type=row.entity_type,
        nis1_scope=row.nis1_scope,
        dora_financial=row.dora_financial,
        dora_entity_kind=row.dora_entity_kind,
    )


def _encode(value: Any) -> str:
    if isinstance(value, datetime):
        return json.dumps(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))
    return json.dumps(value)


def set_facts(
    *, session: Session, principal: Principal, incident_id: int, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Record impact facts (None clears one); return the current facts. All or nothing."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    parsed = {name: factreg.parse_value(name, value) for name, value in values.items()}
    merged = {**current_facts(session=session, incident_id=incident_id), **parsed}
    try:
        factreg.check_order({k: v for k, v in merged.items() if v is not None})
    except InvalidInput:
        if readable(session=session, principal=principal, incident_id=incident_id):
            raise
        # The message would quote recorded times a writer who may not read must not see.
        raise InvalidInput(
            "the times are in an impossible order with the incident's recorded times "
            "(detection, then awareness, then classification)"
        ) from None
    now = utcnow()
    for name, value in parsed.items():
        session.add(
            ImpactFact(
                incident_id=incident_id,
                name=name,
                value=_encode(value),
                recorded_at=now,
                recorded_by=principal.label,
            )
        )
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.facts",
        target=str(incident_id),
        details={"facts": sorted(parsed)},
    )
    return {k: v for k, v in merged.items() if v is not None}


def current_facts(*, session: Session, incident_id: int) -> dict[str, Any]:
    """Return the newest value of each fact of an incident (times as aware UTC)."""
    out: dict[str, Any] = {}
    rows = session.execute(
        select(ImpactFact).where(ImpactFact.incident_id == incident_id).order_by(ImpactFact.id)
    ).scalars()
    for row in rows:
        value = json.loads(row.value)
        if value is not None and factreg.FACTS[row.name][0] == factreg.TIME:
            value = factreg.parse_time(value, row.name)
        out[row.name] = value
    return {k: v for k, v in out.items() if v is not None}
