"""The affected entity's profile and the impact facts: what the reporting engine reads.

Facts are stored as JSON, one row per change, and the newest value of each wins; times are
kept as ISO 8601 UTC text and returned as aware datetimes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import InvalidInput, NotFound
from varsel.incidents.models import AffectedEntity, EntityProfile, ImpactFact
from varsel.incidents.service._fields import (
    DORA_KINDS,
    ENTITY_TYPES,
    NIS2_CLASSES,
    choice,
    clean_text,
    countries,
)
from varsel.incidents.service._incidents import get, readable
from varsel.orgs import service as orgs
from varsel.policy import Action
from varsel.policy.principal import Principal
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
    row = session.get(EntityProfile, incident_id) or EntityProfile(incident_id=incident_id)
    _fill(
        session,
        row,
        name=name,
        established_in=established_in,
        services_in=services_in,
        main_establishment=main_establishment,
        nis2_class=nis2_class,
        sector=sector,
        entity_type=entity_type,
        nis1_scope=nis1_scope,
        dora_financial=dora_financial,
        dora_entity_kind=dora_entity_kind,
        org=org,
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.profile",
        target=str(incident_id),
        details={"established_in": row.established_in, "entity_type": row.entity_type},
    )
    return row


def _fill(
    session: Session,
    row: EntityProfile | AffectedEntity,
    *,
    name: str,
    established_in: list[str],
    services_in: list[str] | None,
    main_establishment: str | None,
    nis2_class: str | None,
    sector: str | None,
    entity_type: str | None,
    nis1_scope: bool,
    dora_financial: bool,
    dora_entity_kind: str | None,
    org: str | None,
) -> None:
    """Check a profile's values and set them on ``row`` (the first entity or a further one)."""
    established = countries(established_in, "established_in")
    if not established:
        raise InvalidInput("established_in needs at least one country")
    main = main_establishment.strip().upper() if main_establishment else None
    if main is not None and main not in established.split():
        raise InvalidInput(f"main establishment {main} is not among established_in")
    row.name = clean_text(name.strip(), 200, "the entity name") or "unnamed entity"
    row.org_id = orgs.get_org(session=session, name=org).id if org else None
    row.established_in = established
    row.main_establishment = main
    row.services_in = countries(services_in or [], "services_in")
    row.nis2_class = choice(nis2_class, NIS2_CLASSES, "NIS2 class") if nis2_class else None
    row.sector = clean_text(sector.strip().lower(), 100, "the sector") if sector else None
    row.entity_type = choice(entity_type, ENTITY_TYPES, "entity type") if entity_type else None
    row.nis1_scope = nis1_scope
    row.dora_financial = dora_financial
    row.dora_entity_kind = (
        choice(dora_entity_kind, DORA_KINDS, "DORA entity kind") if dora_entity_kind else None
    )
    if row.dora_entity_kind and not dora_financial:
        raise InvalidInput("a DORA entity kind needs dora_financial")
    row.updated_at = utcnow()


_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def set_entity(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    key: str,
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
) -> AffectedEntity:
    """Add a further affected entity under ``key``, or change the one with that key."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    key = key.strip().lower()
    if not _KEY.match(key):
        raise InvalidInput(
            f"an entity key is 1-32 lower-case letters, digits or dashes (e.g. 'fi-sub'), "
            f"got {key[:40]!r}"
        )
    row = session.execute(
        select(AffectedEntity).where(
            AffectedEntity.incident_id == incident_id, AffectedEntity.key == key
        )
    ).scalar_one_or_none() or AffectedEntity(incident_id=incident_id, key=key)
    _fill(
        session,
        row,
        name=name,
        established_in=established_in,
        services_in=services_in,
        main_establishment=main_establishment,
        nis2_class=nis2_class,
        sector=sector,
        entity_type=entity_type,
        nis1_scope=nis1_scope,
        dora_financial=dora_financial,
        dora_entity_kind=dora_entity_kind,
        org=org,
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.entity",
        target=str(incident_id),
        details={"key": key, "established_in": row.established_in, "type": row.entity_type},
    )
    return row


def remove_entity(*, session: Session, principal: Principal, incident_id: int, key: str) -> None:
    """Remove a further affected entity with its own facts (recorded submissions stay)."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    row = _entity_row(session, incident_id, key)
    session.execute(
        delete(ImpactFact).where(ImpactFact.incident_id == incident_id, ImpactFact.entity == key)
    )
    session.delete(row)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.entity.remove",
        target=str(incident_id),
        details={"key": key},
    )


def _entity_row(session: Session, incident_id: int, key: str) -> AffectedEntity:
    row = session.execute(
        select(AffectedEntity).where(
            AffectedEntity.incident_id == incident_id, AffectedEntity.key == key
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"incident {incident_id} has no affected entity {key[:40]!r}")
    return row


def _as_profile(row: EntityProfile | AffectedEntity) -> factreg.Profile:
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


def entities(*, session: Session, incident_id: int) -> list[tuple[str, factreg.Profile]]:
    """Return every affected entity as (key, profile): the first one (key '') leads."""
    first = session.get(EntityProfile, incident_id)
    out = [("", _as_profile(first))] if first is not None else []
    rows = session.execute(
        select(AffectedEntity)
        .where(AffectedEntity.incident_id == incident_id)
        .order_by(AffectedEntity.key)
    ).scalars()
    return out + [(row.key, _as_profile(row)) for row in rows]


def profile(*, session: Session, incident_id: int) -> factreg.Profile | None:
    """Return the engine's view of the entity profile, or None when none was set."""
    row = session.get(EntityProfile, incident_id)
    return _as_profile(row) if row is not None else None


def _encode(value: Any) -> str:
    if isinstance(value, datetime):
        return json.dumps(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))
    return json.dumps(value)


def set_facts(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    values: Mapping[str, Any],
    entity: str = "",
) -> dict[str, Any]:
    """Record impact facts (None clears one); return the current facts. All or nothing.

    Without ``entity`` the facts are shared by every affected entity; with a further entity's
    key they are that entity's own and win over the shared ones for it.
    """
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    if entity:
        _entity_row(session, incident_id, entity)
    parsed = {name: factreg.parse_value(name, value) for name, value in values.items()}
    merged = {**current_facts(session=session, incident_id=incident_id, entity=entity), **parsed}
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
                entity=entity,
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
        details={"facts": sorted(parsed), **({"entity": entity} if entity else {})},
    )
    return {k: v for k, v in merged.items() if v is not None}


def current_facts(*, session: Session, incident_id: int, entity: str = "") -> dict[str, Any]:
    """Return the newest value of each fact (times as aware UTC): shared, then the entity's."""
    shared: dict[str, Any] = {}
    own: dict[str, Any] = {}
    rows = session.execute(
        select(ImpactFact)
        .where(ImpactFact.incident_id == incident_id, ImpactFact.entity.in_({"", entity}))
        .order_by(ImpactFact.id)
    ).scalars()
    for row in rows:
        value = json.loads(row.value)
        if value is not None and factreg.FACTS[row.name][0] == factreg.TIME:
            value = factreg.parse_time(value, row.name)
        (own if row.entity else shared)[row.name] = value
    # A fact the entity cleared (None) falls back to the shared value.
    merged = {**shared, **{k: v for k, v in own.items() if v is not None}}
    return {k: v for k, v in merged.items() if v is not None}


def own_facts(*, session: Session, incident_id: int, entity: str) -> dict[str, Any]:
    """Return only the facts recorded for one further entity (its differences)."""
    everything = current_facts(session=session, incident_id=incident_id, entity=entity)
    shared = current_facts(session=session, incident_id=incident_id)
    return {k: v for k, v in everything.items() if shared.get(k) != v}
