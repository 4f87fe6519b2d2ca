"""The clock: every due and overdue report across the open incidents the caller may read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from varsel.incidents import service
from varsel.incidents.flows._engine import entity_results, load_incident
from varsel.incidents.models import Incident, Status
from varsel.policy.principal import Principal
from varsel.reporting import obligations as engine
from varsel.reporting.facts import ORDER


def clock(
    *,
    session: Session,
    principal: Principal,
    now: datetime | None = None,
    within_hours: float | None = None,
) -> list[dict[str, Any]]:
    """Return every due and overdue report across the open incidents the caller may read."""
    now = now or datetime.now(UTC)
    rows = []
    for incident in service.list_incidents(session=session, principal=principal):
        if incident.status == Status.CLOSED.value:
            continue
        loaded = load_incident(
            session=session, principal=None, incident_id=incident.id, incident=incident
        )
        if not loaded.affected:
            # Without a profile no deadline can be computed, but the clock still runs.
            rows.append(_no_profile(incident))
            continue
        for obligation in engine.flatten(entity_results(loaded, now)):
            if obligation.status == "unknown" and any(m in ORDER for m in obligation.missing):
                pass  # a clock anchor is missing: listed so that the incident stays in sight
            elif obligation.status not in {"due", "overdue"}:
                continue
            if (
                within_hours is not None
                and obligation.deadline is not None
                and (obligation.deadline - now > timedelta(hours=within_hours))
            ):
                continue
            rows.append(
                {
                    "incident": incident.id,
                    # Not "title": that is the obligation's (the stage's) own title.
                    "incident_title": incident.title,
                    "tlp": incident.tlp,
                    **obligation.as_dict(),
                }
            )
    rows.sort(key=lambda r: r["deadline_utc"] or "9999")
    return rows


def _no_profile(incident: Incident) -> dict[str, Any]:
    return {
        "incident": incident.id,
        "incident_title": incident.title,
        "tlp": incident.tlp,
        "entity": "",
        "entity_name": "",
        "country": "",
        "instrument": "",
        "stage": "entity-profile",
        "title": "Entity profile missing: no deadline can be computed",
        "recipient": "",
        "timezone": "UTC",
        "deadline_utc": None,
        "deadline_local": None,
        "deadline_kind": None,
        "missing_facts": [],
        "rule": "set the affected entity's profile (where it is established, what it is)",
        "status": "unknown",
        "conditional": True,
        "submitted_at": None,
        "required_content": [],
        "verified": True,
        "sources": [],
        "notes": [
            "no entity profile yet: the reports owed and their deadlines follow from it; "
            "the clocks may already be running"
        ],
    }
