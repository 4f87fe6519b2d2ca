"""What the incident pages share: form fields, times, notices, choices, the write check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Path, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from varsel.errors import Forbidden, InvalidInput, NotFound
from varsel.incidents import service, taxonomy
from varsel.incidents.models import ParticipantRole, Severity, Status
from varsel.policy import Action
from varsel.policy.principal import Principal
from varsel.web import pages

# Ids beyond a 32-bit integer cannot exist and would overflow PostgreSQL's INTEGER.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
TIMELINE_KINDS = ("note", "action", "mitigation", "communication", "finding")
CLOCK_DAYS = 7
# Notices shown after a redirect; only these keys are ever displayed.
NOTICES = {
    "incident_created",
    "incident_updated",
    "participant_added",
    "participant_removed",
    "entry_added",
    "task_added",
    "task_changed",
    "object_linked",
    "profile_saved",
    "facts_saved",
    "submission_recorded",
}


def done(path: str, key: str, anchor: str = "") -> Response:
    """Return the redirect after a successful form, with the notice to show."""
    return pages.done(path, key, anchor)


def notice(request: Request) -> str | None:
    """Return the notice key in the address if it is one of ours (never echo free text)."""
    return pages.notice(request, NOTICES)


field = pages.field


def parse_when(text: str, what: str, field: str | None = None) -> datetime | None:
    """Return an aware time from a form field (UTC unless it carries an offset); '' is None."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise InvalidInput(
            f"{what}: {text[:40]!r} is not a time like 2026-03-27T14:00Z", field=field
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def utc_text(moment: datetime | None) -> str:
    """Return a time as ``2026-03-28 14:00 UTC`` (empty for None)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def local_text(moment: datetime | None, zone: str) -> str:
    """Return a time on the recipient's wall clock, e.g. ``2026-03-28 16:00 EET``."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def from_iso(value: str | None) -> datetime | None:
    """Return an aware time from the engine's ISO 8601 text (None stays None)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def may_change(db: Session, principal: Principal, incident_id: int) -> bool:
    """Return whether the policy lets ``principal`` change the incident (to offer forms)."""
    try:
        service.get(session=db, principal=principal, incident_id=incident_id, action=Action.WRITE)
    except (Forbidden, NotFound):
        return False
    return True


def rsit_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """Return the RSIT choices grouped by class: ("Malicious code", [(tag, "Infected System")])."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for choice in taxonomy.choices():
        kind, _, value = choice["label"].partition("=")
        groups.setdefault(kind.replace("-", " ").capitalize(), []).append(
            (choice["tag"], value.strip('"') or kind)
        )
    return list(groups.items())


def choices() -> dict[str, Any]:
    """Return the choices the incident forms offer (severity, status, roles, RSIT)."""
    groups = rsit_groups()
    return {
        "severities": [s.value for s in Severity],
        "statuses": [s.value for s in Status],
        "roles": [r.value for r in ParticipantRole],
        "rsit": groups,
        "rsit_labels": {
            tag: f"{group}: {label}" for group, items in groups for tag, label in items
        },
    }
