"""Request and response bodies of the incidents API (pydantic), apart from the tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentIn(_Body):
    """Open an incident; the caller's organisation becomes its lead."""

    title: str = Field(min_length=1, max_length=300)
    summary: str = Field(default="", max_length=20000)
    severity: str = "medium"
    tlp: str = "amber"
    classification: str | None = Field(
        default=None, description='RSIT machine tag, e.g. rsit:malicious-code="infected-system"'
    )
    notify_emails: list[str] = Field(default_factory=list, max_length=50)
    webhook_url: str | None = Field(default=None, max_length=2000)


class IncidentPatch(_Body):
    """Change some of an incident's fields."""

    title: str | None = Field(default=None, max_length=300)
    summary: str | None = Field(default=None, max_length=20000)
    status: str | None = None
    severity: str | None = None
    tlp: str | None = None
    classification: str | None = None
    notify_emails: list[str] | None = Field(default=None, max_length=50)
    webhook_url: str | None = Field(default=None, max_length=2000)


class ParticipantIn(_Body):
    """Invite an organisation or a user."""

    role: str
    organisation: str | None = None
    user: str | None = None


class EntryIn(_Body):
    """Add a timeline entry."""

    text: str = Field(min_length=1, max_length=20000)
    kind: str = "note"
    at: datetime | None = None


class TaskIn(_Body):
    """Add a task."""

    title: str = Field(min_length=1, max_length=300)
    owner: str | None = None
    due_at: datetime | None = None


class TaskPatch(_Body):
    """Mark a task done or open."""

    done: bool


class LinkIn(_Body):
    """Link a STIX object in a collection."""

    stix_id: str = Field(min_length=3, max_length=300)
    collection: str = Field(min_length=1, max_length=36)
    note: str = Field(default="", max_length=1000)


class ProfileIn(_Body):
    """The affected entity's profile."""

    name: str = Field(min_length=1, max_length=200)
    organisation: str | None = None
    established_in: list[str] = Field(min_length=1, max_length=40)
    main_establishment: str | None = None
    services_in: list[str] = Field(default_factory=list, max_length=40)
    nis2_class: str | None = None
    sector: str | None = Field(default=None, max_length=100)
    entity_type: str | None = None
    nis1_scope: bool = False
    dora_financial: bool = False
    dora_entity_kind: str | None = None


class FactsIn(_Body):
    """Impact facts to record; a null value clears a fact."""

    facts: dict[str, Any] = Field(max_length=100)
    entity: str = Field(
        default="",
        max_length=32,
        description="a further affected entity's key; empty: facts shared by every entity",
    )


class SubmissionIn(_Body):
    """Record that a stage's report was submitted."""

    channel: str = Field(
        min_length=1,
        max_length=100,
        description="how it was sent: web form, e-mail, virk.dk, phone, ...",
    )
    reference: str = Field(default="", max_length=300)
    submitted_at: datetime | None = None
    entity: str = Field(
        default="", max_length=32, description="a further affected entity's key; empty: the first"
    )
