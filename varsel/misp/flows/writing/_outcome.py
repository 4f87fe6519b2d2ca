"""What became of one MISP event, and of each of its items not stored as sent."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Status(enum.Enum):
    """What became of one event."""

    NEW = "new"
    VERSION = "version"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


class Refusal(enum.Enum):
    """Why an event was refused whole: its content, its version, or the hub's rules."""

    INVALID = "invalid"
    """Not an event the hub can read (malformed, no uuid, nothing convertible)."""
    STALE = "stale"
    """An older version than the one already here."""
    DENIED = "denied"
    """The hub's rules refused it (another organisation's event, every item refused, …)."""


class NoteKind(enum.Enum):
    """Why an item of an event is named in the report."""

    LOSS = "not converted"
    REFUSED = "refused"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Note:
    """One item of an event not converted, refused, or stored with a warning, and why."""

    kind: NoteKind
    item: str | None
    """The attribute's, object's, report's or sighting's uuid; None for the event itself."""
    what: str
    reason: str


@dataclass
class EventOutcome:
    """What became of one MISP event, with a note for every item not stored as sent."""

    uuid: str
    info: str
    status: Status
    reason: str | None = None
    """Why the event was refused (or left unchanged); None when it was stored."""
    refusal: Refusal | None = None
    """What kind of refusal, when the event was refused."""
    attributes: int = 0
    """How many attributes the event held (object attributes included)."""
    stored: int = 0
    """How many objects were newly stored (the grouping included)."""
    notes: list[Note] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        """Return whether the event, or any item of it, was refused."""
        return self.status is Status.REFUSED or any(n.kind is NoteKind.REFUSED for n in self.notes)

    def as_json(self) -> dict[str, Any]:
        """Return the outcome as plain JSON (the import report, the MISP API's ``errors``)."""
        return {
            "uuid": self.uuid,
            "info": self.info,
            "status": self.status.value,
            "reason": self.reason,
            "refusal": self.refusal.value if self.refusal is not None else None,
            "attributes": self.attributes,
            "stored": self.stored,
            "notes": [
                {"kind": n.kind.value, "item": n.item, "what": n.what, "reason": n.reason}
                for n in self.notes
            ],
        }


def event_body(event: Any) -> Mapping[str, Any] | None:
    """Return the event object of ``{"Event": {…}}`` or of a bare event; None if neither."""
    if isinstance(event, Mapping) and isinstance(event.get("Event"), Mapping):
        inner: Mapping[str, Any] = event["Event"]
        return inner
    return event if isinstance(event, Mapping) else None


def describe(event: Any) -> tuple[str, str]:
    """Return an event's uuid and info as far as they can be read ("?" where not)."""
    body = event_body(event)
    if body is None:
        return "?", ""
    uid, info = body.get("uuid"), body.get("info")
    return (uid if isinstance(uid, str) and uid else "?"), (info if isinstance(info, str) else "")
