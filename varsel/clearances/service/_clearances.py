"""Clearances: register one as declared, verify, revoke, read and list, and those expiring.

The level is kept exactly as written beside the scheme level it resolves to; the employer's
officers (or a hub-admin) revoke; they, or the issuing country's security authority, verify,
and only someone independent of the holder and the registrar (``_independence``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clearances import rules
from varsel.clearances.models import Clearance, ClearanceState, Person, Scope
from varsel.clearances.service._common import actor_label, country_code, is_officer
from varsel.clearances.service._independence import check_independent
from varsel.clock import utcnow
from varsel.errors import Conflict, Forbidden, InvalidInput, NotFound, VarselError
from varsel.orgs.models import Organisation, OrgKind, Role
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal


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
    country = country_code(country, "the issuing country")
    if country not in rules.issuing_countries():
        raise InvalidInput(
            f"clearances issued by {country} cannot be read: the classification "
            f"table has no scheme for it"
        )
    try:
        scope_v = Scope(scope.strip().lower())
    except ValueError:
        raise InvalidInput(f"scope must be national, nato or eu, got {scope!r}") from None
    if scope_v is not Scope.NATIONAL:
        covers = scope_v.value.upper()
        if not any(ag.covers == covers and country in ag.parties for ag in rules.agreements()):
            raise InvalidInput(
                f"{'an' if covers == 'EU' else 'a'} {covers} clearance issued by {country} can "
                f"never count: {country} is not a "
                f"party to any {covers} security agreement known to this hub (register one in "
                f"{rules.AGREEMENTS_ENV} if it exists)"
            )
    resolved = _resolve_level(country, scope_v, level)
    authority = authority.strip()
    if not authority or len(authority) > 200:
        raise InvalidInput("name the issuing authority (1-200 characters)")
    if valid_until < valid_from:
        raise InvalidInput(f"valid until ({valid_until}) is before valid from ({valid_from})")
    own = principal is not None and person.user_id == principal.user_id
    if not (own or is_officer(principal, person.employer_org_id)):
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
        declared_by=actor_label(principal),
        declared_at=now,
    )
    session.add(clearance)
    session.flush()
    audit.record(
        session=session,
        actor=actor_label(principal),
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


def officer_clearance(
    session: Session, principal: Principal | None, clearance_id: int
) -> tuple[Clearance, Person]:
    """Return a clearance and its person if ``principal`` is the employer's officer."""
    clearance = get_clearance(session=session, principal=principal, clearance_id=clearance_id)
    person = session.get(Person, clearance.person_id)
    assert person is not None  # the foreign key guarantees it
    if not is_officer(principal, person.employer_org_id):
        raise Forbidden(
            "only a security officer of the person's employer or a hub-admin may do this"
        )
    return clearance, person


def _verifier_clearance(
    session: Session, principal: Principal | None, clearance_id: int
) -> tuple[Clearance, Person, str]:
    """Return the clearance, its person and the route by which ``principal`` may verify it.

    The routes: the local operator; the employer's security officer (or a hub-admin); or an
    org-admin of a security authority of the issuing country, which confirms a clearance it
    issued as NATO and EU practice confirms one to a foreign party.
    """
    if principal is not None and principal.role is Role.ORG_ADMIN:
        clearance = session.get(Clearance, clearance_id)
        kind = session.execute(
            select(Organisation.kind).where(Organisation.id == principal.org_id)
        ).scalar_one_or_none()
        if (
            clearance is not None
            and kind == OrgKind.AUTHORITY.value
            and clearance.country == principal.country
        ):
            person = session.get(Person, clearance.person_id)
            assert person is not None  # the foreign key guarantees it
            if person.employer_org_id != principal.org_id:
                return clearance, person, "issuing authority"
    clearance, person = officer_clearance(session, principal, clearance_id)
    return clearance, person, "operator" if principal is None else "security officer"


def _verifiable(
    session: Session, principal: Principal | None, clearance_id: int
) -> tuple[Clearance, Person, str]:
    """Return what ``verify_clearance`` needs, or raise why ``principal`` may not verify."""
    clearance, person, route = _verifier_clearance(session, principal, clearance_id)
    if principal is not None and person.user_id == principal.user_id:
        raise Forbidden("nobody verifies their own clearance")
    if clearance.revoked_at is not None:
        raise Conflict(f"clearance {clearance_id} is revoked")
    if clearance.state != ClearanceState.DECLARED.value:
        raise Conflict(f"clearance {clearance_id} is already {clearance.state}")
    if principal is not None:
        # The local operator holds the database itself and is outside the rule; every account
        # is held to it.
        check_independent(
            session=session,
            verifier_id=principal.user_id,
            holder_id=person.user_id,
            registrar_label=clearance.declared_by,
        )
    return clearance, person, route


def verify_refusal(
    *, session: Session, principal: Principal | None, clearance_id: int
) -> str | None:
    """Return why ``principal`` could not verify the clearance now (None: it could).

    The same checks as ``verify_clearance``, without writing, so a page offers the action only
    where it can succeed.
    """
    try:
        _verifiable(session, principal, clearance_id)
    except VarselError as exc:
        return exc.message
    return None


def verify_clearance(
    *, session: Session, principal: Principal | None, clearance_id: int
) -> Clearance:
    """Record that a second person checked the clearance certificate (see the independence rule)."""
    clearance, person, route = _verifiable(session, principal, clearance_id)
    clearance.state = ClearanceState.VERIFIED.value
    clearance.verified_by = actor_label(principal)
    clearance.verified_at = utcnow()
    session.flush()
    audit.record(
        session=session,
        actor=actor_label(principal),
        action="clearance.verify",
        target=f"clearance:{clearance.id}",
        details={"person": person.id, "route": route, "registered_by": clearance.declared_by},
    )
    return clearance


def revoke_refusal(
    *, session: Session, principal: Principal | None, clearance_id: int
) -> str | None:
    """Return why ``principal`` could not revoke the clearance now (None: it could)."""
    try:
        clearance, _ = officer_clearance(session, principal, clearance_id)
    except VarselError as exc:
        return exc.message
    return f"clearance {clearance_id} is already revoked" if clearance.revoked_at else None


def revoke_clearance(
    *, session: Session, principal: Principal | None, clearance_id: int, reason: str
) -> Clearance:
    """Revoke a clearance at once: from the next request on it grants nothing."""
    clearance, person = officer_clearance(session, principal, clearance_id)
    if not reason.strip():
        raise InvalidInput("say why the clearance is revoked")
    if clearance.revoked_at is not None:
        raise Conflict(f"clearance {clearance_id} is already revoked")
    clearance.revoked_at = utcnow()
    clearance.revoked_by = actor_label(principal)
    clearance.revoke_reason = reason.strip()[:500]
    session.flush()
    audit.record(
        session=session,
        actor=actor_label(principal),
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
