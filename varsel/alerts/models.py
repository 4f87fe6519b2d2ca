"""Alerts: notifications, each user's delivery preferences, watchlists, saved filters, cursors."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from varsel.db import Base, BigId


class AlertKind(StrEnum):
    """What a notification is about (docs/alerts.md)."""

    RED = "red"  # a new TLP:RED object naming me or my organisation as a recipient
    WATCH = "watch"  # a new object whose values match one of my watches
    SIGHTING = "sighting"  # a new sighting of an indicator my organisation produced
    DEADLINE = "deadline"  # a report of an incident I take part in is due within hours
    CLEARANCE = "clearance"  # a clearance (mine, or one I am security officer for) expires
    LAG = "lag"  # a federation link lags (hub-admins)


class DeliveryState(StrEnum):
    """Where an e-mail or webhook copy of a notification stands (None: not wanted)."""

    PENDING = "pending"
    SENDING = "sending"  # claimed by one process; never sent twice
    SENT = "sent"
    FAILED = "failed"  # retried by later runs up to the attempt limit
    WITHHELD = "withheld"  # the object is no longer readable by the user at delivery time


class Notification(Base):
    """One alert for one user, kept once: ``dedupe_key`` is unique across every process."""

    __tablename__ = "alert_notifications"
    __table_args__ = (
        Index("ix_alert_notifications_user_created", "user_id", "created_at"),
        Index("ix_alert_notifications_user_read", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    # JSON of the message's parameters; the page translates the kind's message with them.
    params: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(500))
    # The STIX object the alert is about, if any: re-checked against the policy when shown
    # and when delivered, so a re-marked object is never named to someone who lost it.
    object_id: Mapped[str | None] = mapped_column(String(300))
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
    email_state: Mapped[str | None] = mapped_column(String(16))
    webhook_state: Mapped[str | None] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivery_error: Mapped[str | None] = mapped_column(String(300))


class AlertPreference(Base):
    """How a user wants alerts beyond the notifications page: an e-mail address, a webhook."""

    __tablename__ = "alert_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str | None] = mapped_column(String(254))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Watch(Base):
    """A value a user watches: an address, CIDR block, domain (with subdomains), URL, e-mail
    address or hash, in canonical form (varsel.observables.normalize)."""

    __tablename__ = "alert_watches"
    __table_args__ = (UniqueConstraint("user_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class SavedFilter(Base):
    """A named filter of the object list: the ``/objects`` query string it stands for."""

    __tablename__ = "alert_saved_filters"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class AlertCursor(Base):
    """How far the evaluator has read a source, e.g. ``objects:<collection id>`` (µs added)."""

    __tablename__ = "alert_cursors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
