"""The clock: every due and overdue report across the open incidents the caller may read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from varsel.incidents import service
from varsel.incidents.flows._engine import _assess, load_incident
from varsel.incidents.models import Status
from varsel.orgs.service import Principal
from varsel.reporting import obligations as engine


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
        if loaded.profile is None:
            continue
        for obligation in engine.flatten(_assess(loaded, now)):
            if obligation.status not in {"due", "overdue"}:
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
