"""Incidents, who takes part, what happened, and which reports were submitted and notified."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from varsel.db import Base, BigId


class Status(StrEnum):
    """Where an incident is in its handling."""

    OPEN = "open"
    CONTAINED = "contained"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Severity(StrEnum):
    """How bad the incident is, as the lead judges it."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ParticipantRole(StrEnum):
    """What a participant does in the incident."""

    LEAD = "lead"
    AFFECTED = "affected"
    RESPONDER = "responder"
    AUTHORITY = "authority"
    OBSERVER = "observer"


class Incident(Base):
    """A shared incident workspace, read through the access policy under its own TLP."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=Status.OPEN.value)
    severity: Mapped[str] = mapped_column(String(16), default=Severity.MEDIUM.value)
    classification: Mapped[str | None] = mapped_column(String(200))
    tlp: Mapped[str] = mapped_column(String(16), index=True)
    # Who is told before a deadline: comma-separated e-mail addresses and one webhook URL.
    notify_emails: Mapped[str] = mapped_column(String(2000), default="")
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Participant(Base):
    """An organisation or a single user taking part in an incident, with a role."""

    __tablename__ = "incident_participants"
    __table_args__ = (UniqueConstraint("incident_id", "org_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(DateTime)


class TimelineEntry(Base):
    """Something that happened or was done, at a time (kind: note, action, mitigation, ...)."""

    __tablename__ = "incident_timeline"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))


class Task(Base):
    """A task with an owner and a due time."""

    __tablename__ = "incident_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ObjectLink(Base):
    """A link to a STIX object in a hub collection; shown only to those who may read it."""

    __tablename__ = "incident_object_links"
    __table_args__ = (UniqueConstraint("incident_id", "stix_id", "collection_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    stix_id: Mapped[str] = mapped_column(String(300))
    collection_id: Mapped[str] = mapped_column(String(36))
    note: Mapped[str] = mapped_column(String(1000), default="")
    linked_by: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(DateTime)


class EntityProfile(Base):
    """The affected entity as the reporting rules see it (one per incident)."""

    __tablename__ = "incident_entity_profiles"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(200))
    # Space-separated ISO 3166-1 alpha-2 codes, portable across SQLite and PostgreSQL.
    established_in: Mapped[str] = mapped_column(String(200))
    main_establishment: Mapped[str | None] = mapped_column(String(2))
    services_in: Mapped[str] = mapped_column(String(200), default="")
    nis2_class: Mapped[str | None] = mapped_column(String(16))
    sector: Mapped[str | None] = mapped_column(String(100))
    entity_type: Mapped[str | None] = mapped_column(String(32))
    nis1_scope: Mapped[bool] = mapped_column(Boolean, default=False)
    dora_financial: Mapped[bool] = mapped_column(Boolean, default=False)
    dora_entity_kind: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class AffectedEntity(Base):
    """A further entity the incident affects (a subsidiary, a customer), with its own profile.

    The incident's first entity is its :class:`EntityProfile`; each further one has a short
    key, unique within the incident, by which its facts, reports and submissions are told apart.
    """

    __tablename__ = "incident_entities"
    __table_args__ = (UniqueConstraint("incident_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(200))
    established_in: Mapped[str] = mapped_column(String(200))
    main_establishment: Mapped[str | None] = mapped_column(String(2))
    services_in: Mapped[str] = mapped_column(String(200), default="")
    nis2_class: Mapped[str | None] = mapped_column(String(16))
    sector: Mapped[str | None] = mapped_column(String(100))
    entity_type: Mapped[str | None] = mapped_column(String(32))
    nis1_scope: Mapped[bool] = mapped_column(Boolean, default=False)
    dora_financial: Mapped[bool] = mapped_column(Boolean, default=False)
    dora_entity_kind: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class ImpactFact(Base):
    """One recorded value of one impact fact; the newest row per name is current.

    ``entity`` is empty for a fact shared by every affected entity (entered once), or the key
    of the one :class:`AffectedEntity` it belongs to, whose value then wins over the shared one.
    """

    __tablename__ = "incident_facts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    entity: Mapped[str] = mapped_column(String(32), default="", server_default="")
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)  # JSON; times as ISO 8601 UTC
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))


class ReportSubmission(Base):
    """A stage's report as submitted to an authority: when, how, by whom, and what it said."""

    __tablename__ = "incident_report_submissions"
    # One per entity (empty: the first entity), country and stage.
    __table_args__ = (UniqueConstraint("incident_id", "entity", "country", "stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    entity: Mapped[str] = mapped_column(String(32), default="", server_default="")
    country: Mapped[str] = mapped_column(String(2))
    stage: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    channel: Mapped[str] = mapped_column(String(100))
    reference: Mapped[str] = mapped_column(String(300), default="")
    submitted_by: Mapped[str] = mapped_column(String(200))
    snapshot: Mapped[str] = mapped_column(Text)  # JSON of the report as generated


class NotificationLog(Base):
    """One notification about one deadline to one target; the key makes it happen once."""

    __tablename__ = "incident_notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    entity: Mapped[str] = mapped_column(String(32), default="", server_default="")
    country: Mapped[str] = mapped_column(String(2))
    stage: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # reminder, overdue
    channel: Mapped[str] = mapped_column(String(16))  # email, webhook
    target: Mapped[str] = mapped_column(String(2000))
    deadline: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
