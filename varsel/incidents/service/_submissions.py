"""Report submissions: record that a stage's report went to an authority, and list them.

Each (country, stage) is recorded once, with the snapshot of the report as it was sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import naive
from varsel.errors import Conflict, InvalidInput
from varsel.incidents.models import ReportSubmission
from varsel.incidents.service._fields import clean_text, not_future
from varsel.incidents.service._incidents import get
from varsel.policy import Action
from varsel.policy.principal import Principal


def submissions(*, session: Session, incident_id: int) -> list[ReportSubmission]:
    """Return the report submissions recorded for an incident."""
    return list(
        session.execute(
            select(ReportSubmission)
            .where(ReportSubmission.incident_id == incident_id)
            .order_by(ReportSubmission.submitted_at)
        ).scalars()
    )


def record_submission(
    *,
    session: Session,
    principal: Principal,
    incident_id: int,
    country: str,
    stage: str,
    channel: str,
    reference: str,
    submitted_at: datetime,
    snapshot: Mapping[str, Any],
    entity: str = "",
) -> ReportSubmission:
    """Record that a stage's report was submitted (once per entity, country and stage)."""
    get(session=session, principal=principal, incident_id=incident_id, action=Action.WRITE)
    not_future(submitted_at, "the submission time")
    if not channel.strip():
        raise InvalidInput("say how the report was submitted (channel), e.g. 'web form'")
    clean_text(channel.strip(), 100, "the channel")
    clean_text(reference.strip(), 300, "the reference")
    exists_ = session.execute(
        select(ReportSubmission.id).where(
            ReportSubmission.incident_id == incident_id,
            ReportSubmission.entity == entity,
            ReportSubmission.country == country,
            ReportSubmission.stage == stage,
        )
    ).first()
    if exists_:
        whose = f" of entity {entity}" if entity else ""
        raise Conflict(f"the {stage} for {country}{whose} was already recorded as submitted")
    row = ReportSubmission(
        incident_id=incident_id,
        entity=entity,
        country=country,
        stage=stage,
        submitted_at=naive(submitted_at),
        channel=channel.strip(),
        reference=reference.strip(),
        submitted_by=principal.label,
        snapshot=json.dumps(snapshot, sort_keys=True, default=str),
    )
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="incident.report.submit",
        target=str(incident_id),
        details={
            **({"entity": entity} if entity else {}),
            "country": country,
            "stage": stage,
            "channel": row.channel,
            "reference": row.reference,
            "submitted_at": submitted_at.astimezone(UTC).isoformat(),
        },
    )
    return row
