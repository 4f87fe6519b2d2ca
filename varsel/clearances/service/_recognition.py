"""Recognition of a verified national clearance by another country's authority.

The employer's officers ask; an org-admin of an authority of the recognising country (or a
hub-admin recording that authority's answer) approves or refuses. A request needs a
security agreement in force between the two countries.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clearances import rules
from varsel.clearances.models import (
    Clearance,
    ClearanceState,
    RecognitionRequest,
    RecognitionStatus,
    Scope,
)
from varsel.clearances.service._clearances import officer_clearance
from varsel.clearances.service._common import actor_label, country_code
from varsel.clock import utcnow
from varsel.errors import Conflict, Forbidden, InvalidInput, NotFound
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal


def request_recognition(
    *,
    session: Session,
    principal: Principal | None,
    clearance_id: int,
    country: str,
    note: str = "",
) -> RecognitionRequest:
    """Ask ``country``'s authority to recognise a verified clearance for its material."""
    clearance, person = officer_clearance(session, principal, clearance_id)
    country = country_code(country, "the recognising country")
    if clearance.state == ClearanceState.DECLARED.value:
        raise Conflict("verify the clearance before asking another country to recognise it")
    if clearance.revoked_at is not None:
        raise Conflict(f"clearance {clearance_id} is revoked")
    if clearance.scope != Scope.NATIONAL.value:
        raise InvalidInput("NATO and EU clearances need no recognition between parties")
    if country == clearance.country:
        raise InvalidInput(f"the clearance was issued by {country} itself")
    if country not in {s.code for s in rules.schemes()}:
        raise InvalidInput(f"{country} has no classification scheme in the table")
    today = datetime.now(UTC).date()
    if rules.agreement_between(clearance.country, country, today) is None:
        raise Conflict(
            f"no security agreement in force binds {clearance.country} and "
            f"{country}; register one before asking for recognition"
        )
    open_or_done = session.execute(
        select(RecognitionRequest.id).where(
            RecognitionRequest.clearance_id == clearance.id,
            RecognitionRequest.country == country,
            RecognitionRequest.status.in_(
                [RecognitionStatus.PENDING.value, RecognitionStatus.APPROVED.value]
            ),
        )
    ).first()
    if open_or_done is not None:
        raise Conflict(
            f"recognition by {country} is already pending or approved (request {open_or_done[0]})"
        )
    request = RecognitionRequest(
        clearance_id=clearance.id,
        country=country,
        status=RecognitionStatus.PENDING.value,
        requested_by=actor_label(principal),
        requested_at=utcnow(),
        note=note.strip()[:1000],
    )
    session.add(request)
    session.flush()
    audit.record(
        session=session,
        actor=actor_label(principal),
        action="clearance.recognition.request",
        target=f"recognition:{request.id}",
        details={"clearance": clearance.id, "person": person.id, "country": country},
    )
    return request


def decide_recognition(
    *,
    session: Session,
    principal: Principal | None,
    request_id: int,
    approve: bool,
    reason: str = "",
) -> RecognitionRequest:
    """Approve or refuse a pending recognition request, as the recognising authority."""
    query = select(RecognitionRequest).where(RecognitionRequest.id == request_id)
    if principal is not None:
        if session.execute(restrict(query, principal, Action.READ)).first() is None:
            raise NotFound(f"no recognition request {request_id}")
        query = restrict(query, principal, Action.WRITE)
    request = session.execute(query).scalar_one_or_none()
    if request is None:
        raise Forbidden(
            f"only an authority of the recognising country decides request {request_id}"
        )
    if request.status != RecognitionStatus.PENDING.value:
        raise Conflict(f"request {request_id} is already {request.status}")
    if not approve and not reason.strip():
        raise InvalidInput("a refusal needs a reason")
    clearance = session.get(Clearance, request.clearance_id)
    assert clearance is not None
    now = utcnow()
    request.status = (RecognitionStatus.APPROVED if approve else RecognitionStatus.REFUSED).value
    request.decided_by = actor_label(principal)
    request.decided_at = now
    request.reason = reason.strip()[:1000] or None
    if approve:
        clearance.state = ClearanceState.RECOGNISED.value
        clearance.recognised_by = actor_label(principal)
        clearance.recognised_at = now
    session.flush()
    audit.record(
        session=session,
        actor=actor_label(principal),
        action="clearance.recognition." + ("approve" if approve else "refuse"),
        target=f"recognition:{request.id}",
        details={"clearance": clearance.id, "country": request.country, "reason": request.reason},
    )
    return request


def list_recognitions(
    *, session: Session, principal: Principal | None, status: str | None = None
) -> list[RecognitionRequest]:
    """Return the recognition requests ``principal`` may see, newest first."""
    query = select(RecognitionRequest).order_by(RecognitionRequest.id.desc())
    if status:
        query = query.where(RecognitionRequest.status == status)
    if principal is not None:
        query = restrict(query, principal, Action.READ)
    return list(session.execute(query).scalars())
