"""What the engine answers with: one :class:`Obligation` per report owed, grouped in a
:class:`JurisdictionResult` per country, both convertible to JSON-ready data.

Times are written as ISO 8601 UTC with a Z (:func:`iso`); each obligation keeps the sources
of the rules behind it, so it can say whether they are all verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from varsel.reporting.significance import Significance


@dataclass
class Obligation:
    """One report owed to one authority, with its deadline and status."""

    country: str
    instrument: str
    stage: str
    title: str
    recipient: str
    timezone: str
    deadline: datetime | None
    rule: str
    content: list[dict[str, str]]
    status: str  # due, overdue, submitted, on-request, unknown
    conditional: bool  # owed only if the undetermined significance turns out yes
    submitted_at: datetime | None
    sources: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    # Unknown anchor facts replaced by a later known one: the deadline is the latest permissible.
    bounded: list[str] = field(default_factory=list)
    # Facts whose absence leaves the deadline unknown.
    missing: list[str] = field(default_factory=list)
    # The deadline before weekend or holiday relief moved it, and the relief in words.
    nominal_deadline: datetime | None = None
    relief: str | None = None
    # Things to do that are not reports, e.g. telling the authority before a deadline is missed.
    prompts: list[dict[str, Any]] = field(default_factory=list)
    # Which affected entity owes it: '' for an incident's first entity, else its key.
    entity: str = ""
    entity_name: str = ""

    @property
    def late_by(self) -> timedelta | None:
        """Return how long after its deadline the report was submitted, or None if on time."""
        if self.submitted_at is None or self.deadline is None:
            return None
        late = self.submitted_at - self.deadline
        return late if late > timedelta(0) else None

    @property
    def verified(self) -> bool:
        """Return whether every rule behind this obligation is verified."""
        return all(s["verified"] for s in self.sources)

    def as_dict(self) -> dict[str, Any]:
        """Return the obligation as JSON-ready data, deadline in UTC and local time."""
        local = self.deadline.astimezone(ZoneInfo(self.timezone)) if self.deadline else None
        return {
            "entity": self.entity,
            "entity_name": self.entity_name,
            "country": self.country,
            "instrument": self.instrument,
            "stage": self.stage,
            "title": self.title,
            "recipient": self.recipient,
            "timezone": self.timezone,
            "deadline_utc": iso(self.deadline),
            "deadline_local": local.isoformat() if local else None,
            "deadline_kind": (
                None if self.deadline is None else "latest" if self.bounded else "exact"
            ),
            "missing_facts": [*self.bounded, *(m for m in self.missing if m not in self.bounded)],
            "nominal_deadline_utc": iso(self.nominal_deadline),
            "relief": self.relief,
            "rule": self.rule,
            "status": self.status,
            "late": self.late_by is not None,
            "late_by_minutes": (
                None if self.late_by is None else int(self.late_by.total_seconds() // 60)
            ),
            "late_by": duration_text(self.late_by) if self.late_by else None,
            "prompts": self.prompts,
            "conditional": self.conditional,
            "submitted_at": iso(self.submitted_at),
            "required_content": self.content,
            "verified": self.verified,
            "sources": self.sources,
            "notes": self.notes,
        }


@dataclass
class JurisdictionResult:
    """What one country (or DORA in that country) requires of this incident."""

    country: str
    instrument: str
    title: str
    owed: bool | None
    reason: str
    significance: Significance | None
    obligations: list[Obligation]
    notes: list[dict[str, Any]]
    entity: str = ""
    entity_name: str = ""

    def for_entity(self, key: str, name: str) -> JurisdictionResult:
        """Return this result marked as owed by the affected entity ``key`` (named ``name``)."""
        self.entity, self.entity_name = key, name
        for o in self.obligations:
            o.entity, o.entity_name = key, name
        return self

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "entity": self.entity,
            "entity_name": self.entity_name,
            "country": self.country,
            "instrument": self.instrument,
            "title": self.title,
            "owed": self.owed,
            "reason": self.reason,
            "significance": self.significance.as_dict() if self.significance else None,
            "obligations": [o.as_dict() for o in self.obligations],
            "notes": self.notes,
        }


def duration_text(span: timedelta) -> str:
    """Return a span as '12 h 5 min' (or '3 d 2 h'), rounded down to minutes."""
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def iso(moment: datetime | None) -> str | None:
    """Return ``moment`` as ISO 8601 UTC with a Z, or None."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def source_of(what: str, node: Mapping[str, Any]) -> dict[str, Any]:
    """Return the citation of ``node`` (its source and whether it was verified)."""
    return {"what": what, "source": node["source"], "verified": bool(node["verified"])}
