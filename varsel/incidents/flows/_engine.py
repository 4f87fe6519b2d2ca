"""The reporting engine over one incident: load it, list its obligations, build and submit reports.

The incident is read through the policy, or handed in by a caller that already read it (the
clock through the policy, the reminder job directly); a report is pre-filled only with the
linked objects the viewer may read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from varsel.clock import aware
from varsel.errors import InvalidInput, NotFound
from varsel.incidents import service
from varsel.incidents.flows._links import visible_links
from varsel.incidents.models import Incident
from varsel.policy.principal import Principal
from varsel.reporting import obligations as engine
from varsel.reporting import reports
from varsel.reporting.facts import Profile
from varsel.reporting.rules import load


@dataclass
class Affected:
    """One affected entity of an incident: its profile, its facts, its submitted reports."""

    key: str  # '' for the incident's first entity
    profile: Profile
    facts: dict[str, Any]
    submitted: dict[tuple[str, str], datetime]
    snapshots: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


@dataclass
class Loaded:
    """An incident readable by the caller with what the engine needs."""

    incident: Incident
    profile: Profile | None
    facts: dict[str, Any]
    submitted: dict[tuple[str, str], datetime]
    snapshots: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Every affected entity, the first one (``profile``) leading.
    affected: list[Affected] = field(default_factory=list)

    def entity(self, key: str) -> Affected:
        """Return the affected entity ``key`` ('' for the first), or NotFound."""
        for item in self.affected:
            if item.key == key:
                return item
        keys = ", ".join(repr(a.key or "(first)") for a in self.affected) or "none"
        raise NotFound(f"incident {self.incident.id} has no affected entity {key!r}; it has {keys}")


def load_incident(
    *,
    session: Session,
    principal: Principal | None,
    incident_id: int,
    incident: Incident | None = None,
) -> Loaded:
    """Return the incident (read through the policy unless given) with its entities and facts."""
    if incident is None:
        assert principal is not None
        incident = service.get(session=session, principal=principal, incident_id=incident_id)
    subs = service.submissions(session=session, incident_id=incident.id)
    affected = [
        Affected(
            key=key,
            profile=prof,
            facts=service.current_facts(session=session, incident_id=incident.id, entity=key),
            submitted={
                (s.country, s.stage): s.submitted_at.replace(tzinfo=UTC)
                for s in subs
                if s.entity == key
            },
            snapshots={
                (s.country, s.stage): json.loads(s.snapshot) for s in subs if s.entity == key
            },
        )
        for key, prof in service.entities(session=session, incident_id=incident.id)
    ]
    first = next((a for a in affected if a.key == ""), None)
    return Loaded(
        incident=incident,
        profile=first.profile if first else None,
        facts=service.current_facts(session=session, incident_id=incident.id),
        submitted=first.submitted if first else {},
        snapshots=first.snapshots if first else {},
        affected=affected,
    )


def obligations_of(
    *, session: Session, principal: Principal, incident_id: int, now: datetime | None = None
) -> tuple[Loaded, list[engine.JurisdictionResult]]:
    """Return the incident and, country by country, its reporting obligations."""
    loaded = load_incident(session=session, principal=principal, incident_id=incident_id)
    return loaded, entity_results(loaded, now)


def entity_results(loaded: Loaded, now: datetime | None) -> list[engine.JurisdictionResult]:
    """Return the obligations of each affected entity in each of its jurisdictions."""
    if not loaded.affected:
        raise InvalidInput(
            f"incident {loaded.incident.id} has no entity profile yet; set one "
            "(established_in, entity type, NIS2 class, DORA) first"
        )
    # Each affected entity owes its own reports in each of its jurisdictions.
    return [
        result.for_entity(item.key, item.profile.name)
        for item in loaded.affected
        for result in engine.assess(
            profile=item.profile,
            facts=item.facts,
            now=now or datetime.now(UTC),
            submitted=item.submitted,
        )
    ]


def _find(
    results: list[engine.JurisdictionResult], country: str, stage: str, entity: str = ""
) -> tuple[engine.JurisdictionResult, engine.Obligation, str | None]:
    for result in results:
        if result.country != country or result.entity != entity:
            continue
        if not result.obligations:
            raise NotFound(f"no reports are owed in {country}: {result.reason}")
        previous = None
        for obligation in result.obligations:
            if obligation.stage == stage:
                return result, obligation, previous
            if obligation.deadline is not None or obligation.status == "submitted":
                previous = obligation.stage
        stages = ", ".join(o.stage for o in result.obligations) or "none"
        raise NotFound(f"no {stage!r} report is owed in {country}; owed there: {stages}")
    owed = (
        ", ".join(sorted({r.country for r in results if r.obligations and r.entity == entity}))
        or "none"
    )
    raise NotFound(f"no reports are owed in {country}; countries with reports: {owed}")


def report(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    country: str,
    stage: str,
    now: datetime | None = None,
    entity: str = "",
) -> dict[str, Any]:
    """Return the stage's report for ``country`` (and affected ``entity``), pre-filled."""
    now = now or datetime.now(UTC)
    loaded, results = obligations_of(
        session=session, principal=principal, incident_id=incident_id, now=now
    )
    affected = loaded.entity(entity)
    result, obligation, previous = _find(results, country.upper(), stage, entity)
    rules = load()
    jurisdiction = (
        rules.dora if result.instrument == "dora" else rules.jurisdictions[result.country]
    )
    incident = loaded.incident
    entries = service.timeline(session=session, incident_id=incident.id)
    timeline: list[dict[str, Any]] = [
        {"at": aware(e.at), "kind": e.kind, "text": e.text} for e in entries
    ]
    sig = result.significance
    context = {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "summary": incident.summary,
            "status": incident.status,
            "severity": incident.severity,
            "classification": incident.classification,
            "tlp": incident.tlp,
        },
        "entity": affected.profile.__dict__,
        "facts": affected.facts,
        "assessment": (
            [*sig.explanation, *(f"unknown: {m}" for m in sig.as_dict()["missing"])] if sig else []
        ),
        "indicators": [
            link.get("pattern") or link["stix_id"]
            for link in visible_links(session=session, principal=principal, incident_id=incident.id)
        ],
        "timeline": [f"{e['at'].isoformat()} {e['text']}" for e in timeline],
        "timeline_entries": [{"at": e["at"], "text": e["text"]} for e in timeline],
        "mitigation": [e["text"] for e in timeline if e["kind"] == "mitigation"],
        "times": {
            k: affected.facts.get(k)
            for k in ("detected_at", "aware_at", "classified_major_at", "resolved_at")
        },
    }
    return reports.build(
        obligation=obligation,
        jurisdiction=jurisdiction,
        context=context,
        previous=affected.snapshots.get((result.country, previous)) if previous else None,
        previous_stage=previous,
        generated_at=now,
    )


def submit(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    country: str,
    stage: str,
    channel: str,
    reference: str = "",
    submitted_at: datetime | None = None,
    entity: str = "",
) -> dict[str, Any]:
    """Record the stage's report as submitted now (or at ``submitted_at``), with its snapshot."""
    when = submitted_at or datetime.now(UTC)
    if when.tzinfo is None:
        raise InvalidInput("submitted_at needs a UTC offset")
    built = report(
        session=session,
        principal=principal,
        incident_id=incident_id,
        country=country,
        stage=stage,
        now=when,
        entity=entity,
    )
    row = service.record_submission(
        session=session,
        principal=principal,
        incident_id=incident_id,
        country=country.upper(),
        stage=stage,
        channel=channel,
        reference=reference,
        submitted_at=when,
        snapshot=built["snapshot"],
        entity=entity,
    )
    return {
        "entity": row.entity,
        "country": row.country,
        "stage": row.stage,
        "channel": row.channel,
        "reference": row.reference,
        "submitted_by": row.submitted_by,
        "submitted_at": engine.iso(when),
    }
