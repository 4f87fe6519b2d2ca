"""The clearance register: persons, their clearances, recognition requests and expiry notices."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from varsel.db import Base


class Scope(StrEnum):
    """What material a clearance is for: the issuing country's own, NATO's or the EU's."""

    NATIONAL = "national"
    NATO = "nato"
    EU = "eu"


class ClearanceState(StrEnum):
    """How far a clearance has been checked."""

    DECLARED = "declared"  # entered, not yet checked by anyone
    VERIFIED = "verified"  # the employer's security officer saw the certificate
    RECOGNISED = "recognised"  # another country's authority recognised it (see requests)


class RecognitionStatus(StrEnum):
    """Where a recognition request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class Person(Base):
    """A person who may hold clearances; linked to a hub user where one exists."""

    __tablename__ = "clearance_persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    nationality: Mapped[str] = mapped_column(String(2))
    employer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Clearance(Base):
    """A personnel security clearance as the issuing country wrote it, and its checks."""

    __tablename__ = "clearances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("clearance_persons.id", ondelete="CASCADE"), index=True
    )
    country: Mapped[str] = mapped_column(String(2))
    scope: Mapped[str] = mapped_column(String(16))
    # The level exactly as the certificate writes it; the scheme whose names it uses (the
    # issuing country's, or NATO's/EU's for those scopes) and its canonical spelling.
    level: Mapped[str] = mapped_column(String(60))
    scheme: Mapped[str] = mapped_column(String(8))
    level_name: Mapped[str] = mapped_column(String(60))
    authority: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default=ClearanceState.DECLARED.value)
    declared_by: Mapped[str] = mapped_column(String(200))
    declared_at: Mapped[datetime] = mapped_column(DateTime)
    verified_by: Mapped[str | None] = mapped_column(String(200))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime)
    recognised_by: Mapped[str | None] = mapped_column(String(200))
    recognised_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoke_reason: Mapped[str | None] = mapped_column(String(500))


class RecognitionRequest(Base):
    """A request that ``country``'s authority recognise a clearance for its material."""

    __tablename__ = "clearance_recognitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clearance_id: Mapped[int] = mapped_column(
        ForeignKey("clearances.id", ondelete="CASCADE"), index=True
    )
    country: Mapped[str] = mapped_column(String(2), index=True)
    status: Mapped[str] = mapped_column(String(16), default=RecognitionStatus.PENDING.value)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    note: Mapped[str] = mapped_column(String(1000), default="")
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(String(1000))


class ExpiryNotice(Base):
    """One expiry warning sent (or recorded) to one security officer; never sent twice."""

    __tablename__ = "clearance_expiry_notices"
    __table_args__ = (UniqueConstraint("clearance_id", "days_ahead", "recipient_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clearance_id: Mapped[int] = mapped_column(
        ForeignKey("clearances.id", ondelete="CASCADE"), index=True
    )
    days_ahead: Mapped[int] = mapped_column(Integer)
    recipient_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))  # email | outbox
    status: Mapped[str] = mapped_column(String(16))  # sent | recorded | failed
    subject: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime)
