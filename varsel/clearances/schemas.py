"""Request and response bodies of the clearance API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from varsel.clearances.models import Clearance, Person, RecognitionRequest


class PersonIn(BaseModel):
    """Register a person employed by an organisation, optionally linked to a hub user."""

    name: str = Field(min_length=1, max_length=200)
    nationality: str = Field(min_length=2, max_length=2)
    employer: str
    username: str | None = None


class PersonOut(BaseModel):
    """A person in the register."""

    id: int
    name: str
    nationality: str
    employer_org_id: int
    user_id: int | None

    @classmethod
    def of(cls, person: Person) -> PersonOut:
        """Return the response form of ``person``."""
        return cls(
            id=person.id,
            name=person.name,
            nationality=person.nationality,
            employer_org_id=person.employer_org_id,
            user_id=person.user_id,
        )


class ClearanceIn(BaseModel):
    """Register a clearance as the issuing country wrote it."""

    person: int
    country: str = Field(min_length=2, max_length=2, description="issuing country, e.g. SE")
    level: str = Field(min_length=1, max_length=60, description="as written, e.g. HEMLIG")
    authority: str = Field(min_length=1, max_length=200)
    valid_from: date
    valid_until: date
    scope: str = Field(default="national", description="national, nato or eu")


class ClearanceOut(BaseModel):
    """A clearance and the state of its checks."""

    id: int
    person: int
    country: str
    scope: str
    level: str
    scheme: str
    level_name: str
    authority: str
    valid_from: date
    valid_until: date
    state: str
    verified_by: str | None
    verified_at: datetime | None
    recognised_by: str | None
    recognised_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None

    @classmethod
    def of(cls, c: Clearance) -> ClearanceOut:
        """Return the response form of ``c``."""
        return cls(
            id=c.id,
            person=c.person_id,
            country=c.country,
            scope=c.scope,
            level=c.level,
            scheme=c.scheme,
            level_name=c.level_name,
            authority=c.authority,
            valid_from=c.valid_from,
            valid_until=c.valid_until,
            state=c.state,
            verified_by=c.verified_by,
            verified_at=c.verified_at,
            recognised_by=c.recognised_by,
            recognised_at=c.recognised_at,
            revoked_at=c.revoked_at,
            revoke_reason=c.revoke_reason,
        )


class RevokeIn(BaseModel):
    """Revoke a clearance, with the reason."""

    reason: str = Field(min_length=1, max_length=500)


class RecognitionIn(BaseModel):
    """Ask a country's authority to recognise a clearance."""

    country: str = Field(min_length=2, max_length=2)
    note: str = Field(default="", max_length=1000)


class RecognitionDecisionIn(BaseModel):
    """Approve or refuse a recognition request; a refusal needs a reason."""

    approve: bool
    reason: str = Field(default="", max_length=1000)


class RecognitionOut(BaseModel):
    """A recognition request and its outcome."""

    id: int
    clearance: int
    country: str
    status: str
    requested_by: str
    requested_at: datetime
    note: str
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None

    @classmethod
    def of(cls, r: RecognitionRequest) -> RecognitionOut:
        """Return the response form of ``r``."""
        return cls(
            id=r.id,
            clearance=r.clearance_id,
            country=r.country,
            status=r.status,
            requested_by=r.requested_by,
            requested_at=r.requested_at,
            note=r.note,
            decided_by=r.decided_by,
            decided_at=r.decided_at,
            reason=r.reason,
        )


class CheckOut(BaseModel):
    """A decision with its reasons."""

    person: int
    material: str
    allowed: bool
    grade: int | None
    reasons: list[str]
