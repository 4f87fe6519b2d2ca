"""REST API of the clearance register: ``/api/v1/persons``, ``/api/v1/clearances``, …"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from varsel.clearances import service
from varsel.clearances.schemas import (
    CheckOut,
    ClearanceIn,
    ClearanceOut,
    PersonIn,
    PersonOut,
    RecognitionDecisionIn,
    RecognitionIn,
    RecognitionOut,
    RevokeIn,
)
from varsel.errors import InvalidInput
from varsel.http.deps import CurrentPrincipal, DbSession

router = APIRouter(prefix="/api/v1", tags=["clearances"])


@router.get("/persons")
def list_persons(session: DbSession, principal: CurrentPrincipal) -> list[PersonOut]:
    """List the persons the caller may see (their own record, or their staff as officer)."""
    return [PersonOut.of(p) for p in service.list_persons(session=session, principal=principal)]


@router.post("/persons", status_code=201)
def add_person(body: PersonIn, session: DbSession, principal: CurrentPrincipal) -> PersonOut:
    """Register a person (security officers of the employer and hub-admins)."""
    person = service.add_person(
        session=session,
        principal=principal,
        name=body.name,
        nationality=body.nationality,
        employer=body.employer,
        username=body.username,
    )
    session.commit()
    return PersonOut.of(person)


@router.get("/persons/{person_id}/check")
def check(
    person_id: int,
    level: str,
    session: DbSession,
    principal: CurrentPrincipal,
    community: str | None = None,
    at: datetime | None = None,
) -> CheckOut:
    """Decide whether the person may see material classified ``level`` (``NO:HEMMELIG``)."""
    person = service.find_person(session=session, principal=principal, ref=person_id)
    if at is not None and at.tzinfo is None:
        raise InvalidInput("'at' needs a time zone offset, e.g. 2026-05-01T12:00:00+02:00")
    decision = service.check(
        session=session, principal=principal, person=person, label=level, at=at, community=community
    )
    session.commit()
    return CheckOut(
        person=person.id,
        material=level,
        allowed=decision.allowed,
        grade=decision.grade,
        reasons=decision.reasons,
    )


@router.get("/clearances")
def list_clearances(
    session: DbSession, principal: CurrentPrincipal, person: int | None = None
) -> list[ClearanceOut]:
    """List the clearances the caller may see."""
    who = (
        service.find_person(session=session, principal=principal, ref=person)
        if person is not None
        else None
    )
    return [
        ClearanceOut.of(c)
        for c in service.list_clearances(session=session, principal=principal, person=who)
    ]


@router.get("/clearances/expiring")
def expiring(session: DbSession, principal: CurrentPrincipal, days: int = 60) -> list[ClearanceOut]:
    """List clearances whose last valid day is within ``days`` days."""
    if not 0 <= days <= 3660:
        raise InvalidInput("days must be between 0 and 3660")
    return [
        ClearanceOut.of(c)
        for c in service.expiring(session=session, principal=principal, within_days=days)
    ]


@router.post("/clearances", status_code=201)
def add_clearance(
    body: ClearanceIn, session: DbSession, principal: CurrentPrincipal
) -> ClearanceOut:
    """Register a clearance as declared."""
    person = service.find_person(session=session, principal=principal, ref=body.person)
    clearance = service.add_clearance(
        session=session,
        principal=principal,
        person=person,
        country=body.country,
        level=body.level,
        authority=body.authority,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        scope=body.scope,
    )
    session.commit()
    return ClearanceOut.of(clearance)


@router.get("/clearances/{clearance_id}")
def get_clearance(
    clearance_id: int, session: DbSession, principal: CurrentPrincipal
) -> ClearanceOut:
    """Return one clearance."""
    return ClearanceOut.of(
        service.get_clearance(session=session, principal=principal, clearance_id=clearance_id)
    )


@router.post("/clearances/{clearance_id}/verify")
def verify(clearance_id: int, session: DbSession, principal: CurrentPrincipal) -> ClearanceOut:
    """Record that the employer's security officer verified the clearance."""
    clearance = service.verify_clearance(
        session=session, principal=principal, clearance_id=clearance_id
    )
    session.commit()
    return ClearanceOut.of(clearance)


@router.post("/clearances/{clearance_id}/revoke")
def revoke(
    clearance_id: int, body: RevokeIn, session: DbSession, principal: CurrentPrincipal
) -> ClearanceOut:
    """Revoke a clearance; it grants nothing from the next request on."""
    clearance = service.revoke_clearance(
        session=session, principal=principal, clearance_id=clearance_id, reason=body.reason
    )
    session.commit()
    return ClearanceOut.of(clearance)


@router.post("/clearances/{clearance_id}/recognitions", status_code=201)
def request_recognition(
    clearance_id: int, body: RecognitionIn, session: DbSession, principal: CurrentPrincipal
) -> RecognitionOut:
    """Ask another country's authority to recognise the clearance."""
    request = service.request_recognition(
        session=session,
        principal=principal,
        clearance_id=clearance_id,
        country=body.country,
        note=body.note,
    )
    session.commit()
    return RecognitionOut.of(request)


@router.get("/recognitions")
def list_recognitions(
    session: DbSession, principal: CurrentPrincipal, status: str | None = None
) -> list[RecognitionOut]:
    """List the recognition requests the caller may see."""
    return [
        RecognitionOut.of(r)
        for r in service.list_recognitions(session=session, principal=principal, status=status)
    ]


@router.post("/recognitions/{request_id}/decision")
def decide_recognition(
    request_id: int, body: RecognitionDecisionIn, session: DbSession, principal: CurrentPrincipal
) -> RecognitionOut:
    """Approve or refuse a recognition request (the recognising country's authority)."""
    request = service.decide_recognition(
        session=session,
        principal=principal,
        request_id=request_id,
        approve=body.approve,
        reason=body.reason,
    )
    session.commit()
    return RecognitionOut.of(request)
