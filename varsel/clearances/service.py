"""The clearance register: persons, clearances, verification, recognition; every act audited.

Who may do what (``principal`` None is the local operator on the command line):
register persons and clearances, verify and revoke — the security officers of the person's
employer (its org-admins) and hub-admins; a person may declare a clearance of their own but
never verify it. Recognition is asked for by the employer's officers and decided by an org-admin
of an *authority* of the recognising country (or a hub-admin recording that authority's answer).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clearances import rules
from varsel.clearances.decision import Context, Decision, decide
from varsel.clearances.models import (
    Clearance,
    ClearanceState,
    Person,
    RecognitionRequest,
    RecognitionStatus,
    Scope,
)
from varsel.clock import utcnow
from varsel.errors import Conflict, Forbidden, InvalidInput, NotFound
from varsel.orgs import service as orgs
from varsel.orgs.models import Organisation, Role, User
from varsel.orgs.service import Principal
from varsel.policy import Action, restrict

_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _actor(principal: Principal | None) -> str:
    return principal.label if principal else "cli"


def _country(text: str, what: str) -> str:
    code = text.strip().upper()
    if not _COUNTRY.match(code):
        raise InvalidInput(f"{what} must be an ISO 3166-1 alpha-2 code such as NO, got {text!r}")
    return code


def _is_officer(principal: Principal | None, employer_org_id: int) -> bool:
    if principal is None or principal.role is Role.HUB_ADMIN:
        return True
    return principal.role is Role.ORG_ADMIN and principal.org_id == employer_org_id


# Persons --------------------------------------------------------------------------------


def add_person(
    *,
    session: Session,
    principal: Principal | None,
    name: str,
    nationality: str,
    employer: str,
    username: str | None = None,
) -> Person:
    """Register a person employed by ``employer``, linked to hub user ``username`` if given."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a person needs a name of 1-200 characters")
    nationality = _country(nationality, "nationality")
    org = orgs.get_org(session=session, name=employer)
    if not _is_officer(principal, org.id):
        raise Forbidden(
            f"only a security officer of {employer} or a hub-admin registers its personnel"
        )
    user_id = None
    if username:
        user = orgs.get_user(session=session, username=username)
        if user.org_id != org.id:
            raise InvalidInput(
                f"user {username!r} belongs to another organisation than "
                f"{employer}; a person's user must work for the employer"
            )
        if session.execute(select(Person.id).where(Person.user_id == user.id)).first():
            raise Conflict(f"user {username!r} is already linked to a person")
        user_id = user.id
    person = Person(
        name=name,
        nationality=nationality,
        employer_org_id=org.id,
        user_id=user_id,
        created_at=utcnow(),
    )
    session.add(person)
    session.flush()
    audit.record(
        session=session,
        actor=_actor(principal),
        action="clearance.person.add",
        target=f"person:{person.id}",
        details={"name": name, "employer": employer, "user": username},
    )
    return person


def find_person(*, session: Session, principal: Principal | None, ref: str | int) -> Person:
    """Return the person ``ref`` names (id, linked username, or unique name) that may be seen."""
    query = select(Person)
    if isinstance(ref, int) or str(ref).isdigit():
        query = query.where(Person.id == int(ref))
    else:
        by_user = select(User.id).where(User.username == ref)
        candidates = select(Person.id).where(Person.user_id.in_(by_user))
        if session.execute(candidates).first() is not None:
            query = query.where(Person.id.in_(candidates))
        else:
            query = query.where(Person.name == ref)
    if principal is not None:
        query = restrict(query, principal, Action.READ)
    found = session.execute(query.limit(2)).scalars().all()
    if not found:
        raise NotFound(f"no person {ref!r} in the clearance register")
    if len(found) > 1:
        raise InvalidInput(f"more than one person is called {ref!r}; use the person's id")
    return found[0]


def person_for_user(*, session: Session, user_id: int) -> Person | None:
    """Return the person linked to hub user ``user_id``, if any."""
    return session.execute(select(Person).where(Person.user_id == user_id)).scalar_one_or_none()


def list_persons(*, session: Session, principal: Principal | None) -> list[Person]:
    """Return the persons ``principal`` may see, by name."""
    query = select(Person).order_by(Person.name, Person.id)
    if principal is not None:
        query = restrict(query, principal, Action.READ)
    return list(session.execute(query).scalars())


# Clearances -----------------------------------------------------------------------------


def _resolve_level(country: str, scope: Scope, level: str) -> rules.Level:
    scheme_code = country if scope is Scope.NATIONAL else scope.value.upper()
    try:
        return rules.level(scheme_code, level)
    except rules.UnknownLevel as exc:
        raise InvalidInput(str(exc)) from None


def add_clearance(
    *,
    session: Session,
    principal: Principal | None,
    person: Person,
    country: str,
    level: str,
    authority: str,
    valid_from: date,
    valid_until: date,
    scope: str = "national",
) -> Clearance:
    """Register a clearance as declared; the level is kept exactly as written."""
    country = _country(country, "the issuing country")
    if country not in rules.issuing_countries():
        raise InvalidInput(
            f"clearances issued by {country} cannot be read: the classification "
            f"table has no scheme for it"
        )
    try:
        scope_v = Scope(scope.strip().lower())
    except ValueError:
        raise InvalidInput(f"scope must be national, nato or eu, got {scope!r}") from None
    resolved = _resolve_level(country, scope_v, level)
    authority = authority.strip()
    if not authority or len(authority) > 200:
        raise InvalidInput("name the issuing authority (1-200 characters)")
    if valid_until < valid_from:
        raise InvalidInput(f"valid until ({valid_until}) is before valid from ({valid_from})")
    own = principal is not None and person.user_id == principal.user_id
    if not (own or _is_officer(principal, person.employer_org_id)):
        raise Forbidden(
            "only the person, their security officer or a hub-admin registers a clearance"
        )
    now = utcnow()
    clearance = Clearance(
        person_id=person.id,
        country=country,
        scope=scope_v.value,
        level=level.strip()[:60],
        scheme=resolved.scheme,
        level_name=resolved.name,
        authority=authority,
        valid_from=valid_from,
        valid_until=valid_until,
        state=ClearanceState.DECLARED.value,
        declared_by=_actor(principal),
        declared_at=now,
    )
    session.add(clearance)
    session.flush()
    audit.record(
        session=session,
        actor=_actor(principal),
        action="clearance.add",
        target=f"clearance:{clearance.id}",
        details={
            "person": person.id,
            "country": country,
            "scope": scope_v.value,
            "level": clearance.level,
            "grade": resolved.grade,
            "valid_from": valid_from,
            "valid_until": valid_until,
        },
    )
    return clearance


def get_clearance(*, session: Session, principal: Principal | None, clearance_id: int) -> Clearance:
    """Return the clearance ``clearance_id`` if ``principal`` may see it."""
    query = select(Clearance).where(Clearance.id == clearance_id)
    if principal is not None:
        query = restrict(query, principal, Action.READ)
    found = session.execute(query).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no clearance {clearance_id}")
    return found


def list_clearances(
    *, session: Session, principal: Principal | None, person: Person | None = None
) -> list[Clearance]:
    """Return the clearances ``principal`` may see (of one person if given)."""
    query = select(Clearance).order_by(Clearance.person_id, Clearance.id)
    if person is not None:
        query = query.where(Clearance.person_id == person.id)
    if principal is not None:
        query = restrict(query, principal, Action.READ)
    return list(session.execute(query).scalars())


def _officer_clearance(
    session: Session, principal: Principal | None, clearance_id: int
) -> tuple[Clearance, Person]:
    clearance = get_clearance(session=session, principal=principal, clearance_id=clearance_id)
    person = session.get(Person, clearance.person_id)
    assert person is not None  # the foreign key guarantees it
    if not _is_officer(principal, person.employer_org_id):
        raise Forbidden(
            "only a security officer of the person's employer or a hub-admin may do this"
        )
    return clearance, person


def verify_clearance(
    *, session: Session, principal: Principal | None, clearance_id: int
) -> Clearance:
    """Record that the employer's security officer checked the clearance certificate."""
    clearance, person = _officer_clearance(session, principal, clearance_id)
    if principal is not None and person.user_id == principal.user_id:
        raise Forbidden("nobody verifies their own clearance")
    if clearance.revoked_at is not None:
        raise Conflict(f"clearance {clearance_id} is revoked")
    if clearance.state != ClearanceState.DECLARED.value:
        raise Conflict(f"clearance {clearance_id} is already {clearance.state}")
    clearance.state = ClearanceState.VERIFIED.value
    clearance.verified_by = _actor(principal)
    clearance.verified_at = utcnow()
    session.flush()
    audit.record(
        session=session,
        actor=_actor(principal),
        action="clearance.verify",
        target=f"clearance:{clearance.id}",
        details={"person": person.id},
    )
    return clearance


def revoke_clearance(
    *, session: Session, principal: Principal | None, clearance_id: int, reason: str
) -> Clearance:
    """Revoke a clearance at once: from the next request on it grants nothing."""
    clearance, person = _officer_clearance(session, principal, clearance_id)
    if not reason.strip():
        raise InvalidInput("say why the clearance is revoked")
    if clearance.revoked_at is not None:
        raise Conflict(f"clearance {clearance_id} is already revoked")
    clearance.revoked_at = utcnow()
    clearance.revoked_by = _actor(principal)
    clearance.revoke_reason = reason.strip()[:500]
    session.flush()
    audit.record(
        session=session,
        actor=_actor(principal),
        action="clearance.revoke",
        target=f"clearance:{clearance.id}",
        details={"person": person.id, "reason": clearance.revoke_reason},
    )
    return clearance


def expiring(
    *, session: Session, principal: Principal | None, within_days: int, today: date | None = None
) -> list[Clearance]:
    """Return unrevoked clearances whose last valid day falls within ``within_days``."""
    today = today or datetime.now(UTC).date()
    query = (
        select(Clearance)
        .where(
            Clearance.revoked_at.is_(None),
            Clearance.valid_until >= today,
            Clearance.valid_until <= today + timedelta(days=within_days),
        )
        .order_by(Clearance.valid_until, Clearance.id)
    )
    if principal is not None:
        query = restrict(query, principal, Action.READ)
    return list(session.execute(query).scalars())


# Recognition ----------------------------------------------------------------------------


def request_recognition(
    *,
    session: Session,
    principal: Principal | None,
    clearance_id: int,
    country: str,
    note: str = "",
) -> RecognitionRequest:
    """Ask ``country``'s authority to recognise a verified clearance for its material."""
    clearance, person = _officer_clearance(session, principal, clearance_id)
    country = _country(country, "the recognising country")
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
        requested_by=_actor(principal),
        requested_at=utcnow(),
        note=note.strip()[:1000],
    )
    session.add(request)
    session.flush()
    audit.record(
        session=session,
        actor=_actor(principal),
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
    request.decided_by = _actor(principal)
    request.decided_at = now
    request.reason = reason.strip()[:1000] or None
    if approve:
        clearance.state = ClearanceState.RECOGNISED.value
        clearance.recognised_by = _actor(principal)
        clearance.recognised_at = now
    session.flush()
    audit.record(
        session=session,
        actor=_actor(principal),
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


# Decisions ------------------------------------------------------------------------------


def check(
    *,
    session: Session,
    principal: Principal | None,
    person: Person,
    label: str,
    at: datetime | None = None,
    community: str | None = None,
) -> Decision:
    """Decide whether ``person`` may see material ``label`` (``NO:KONFIDENSIELT``); audited."""
    try:
        material = rules.parse_label(label)
    except rules.UnknownLevel as exc:
        raise InvalidInput(str(exc)) from None
    context = None
    if community:
        found = orgs.get_community(session=session, name=community)
        context = Context(community_id=found.id, community_name=found.name)
    at = at or datetime.now(UTC)
    decision = decide(
        session=session,
        person=person,
        country=material.scheme,
        level=material.name,
        at=at,
        context=context,
    )
    employer = session.get(Organisation, person.employer_org_id)
    audit.record(
        session=session,
        actor=_actor(principal),
        action="clearance.check",
        target=f"person:{person.id}",
        details={
            "material": material.label,
            "allowed": decision.allowed,
            "employer": employer.name if employer else None,
            "at": at.isoformat(),
            "reasons": decision.reasons,
        },
    )
    return decision
