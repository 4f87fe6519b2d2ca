"""Pages for security officers: the clearance register, recognition requests, expiring soon.

Security officers are the org-admins of a person's employer; hub-admins see every register.
Rows are read through ``varsel.policy.restrict`` (directly or through the clearance service)
and every change goes through :mod:`varsel.clearances.service`, which checks who may make it
and writes the audit log. The equivalence table, the ceiling and the agreements are shown from
:mod:`varsel.clearances.rules`, the same data the decision reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from varsel.api.deps import DbSession
from varsel.clearances import rules
from varsel.clearances import service as register
from varsel.clearances.decision import Decision, local_day
from varsel.clearances.models import (
    Clearance,
    ClearanceState,
    ExpiryNotice,
    Person,
    RecognitionRequest,
    RecognitionStatus,
    Scope,
)
from varsel.clearances.notices import THRESHOLDS
from varsel.errors import Conflict, Forbidden, InvalidInput, NotFound, VarselError
from varsel.orgs.models import Organisation, Role, User
from varsel.orgs.service import Principal
from varsel.policy import Action, restrict
from varsel.web import queries
from varsel.web.render import render
from varsel.web.sessions import Admin, CheckedForm

router = APIRouter(prefix="/clearances")
# Notices shown after a redirect; only these keys are ever displayed.
NOTICES = {
    "person_added",
    "clearance_added",
    "clearance_verified",
    "clearance_revoked",
    "recognition_requested",
    "recognition_approved",
    "recognition_refused",
}
_STATUS = [(Forbidden, 403), (NotFound, 404), (Conflict, 409), (InvalidInput, 400)]


def _status(exc: VarselError) -> int:
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)


def _done(path: str, notice: str) -> Response:
    return RedirectResponse(f"{path}?notice={notice}", status_code=303)


def _notice(request: Request) -> str | None:
    value = request.query_params.get("notice")
    return value if value in NOTICES else None


def _field(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def _int(form: FormData, name: str, what: str) -> int:
    value = _field(form, name)
    if not value.isdigit():
        raise InvalidInput(f"choose {what}")
    return int(value)


def _day(form: FormData, name: str, what: str) -> date:
    value = _field(form, name)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a date written YYYY-MM-DD, got {value!r}") from None


# Reading ------------------------------------------------------------------------------------


@dataclass
class Row:
    """A clearance as the register shows it: validity in the issuer's zone, days left."""

    clearance: Clearance
    zone: str
    today: date
    open_requests: list[RecognitionRequest] = field(default_factory=list)

    @property
    def validity(self) -> str:
        """Return ``valid``, ``expired`` or ``not_yet`` on the issuer's calendar today."""
        if self.today > self.clearance.valid_until:
            return "expired"
        return "not_yet" if self.today < self.clearance.valid_from else "valid"

    @property
    def days_left(self) -> int:
        """Return the days from today (issuer's calendar) to the last valid day."""
        return (self.clearance.valid_until - self.today).days


def _row(clearance: Clearance, now: datetime) -> Row:
    zone = rules.time_zone(clearance.country).key
    return Row(clearance=clearance, zone=zone, today=local_day(clearance.country, now))


def _org_names(session: Session, principal: Principal) -> dict[int, str]:
    query = restrict(select(Organisation.id, Organisation.name), principal, Action.READ)
    return dict(session.execute(query).all())


def _usernames(session: Session, principal: Principal) -> dict[int, str]:
    query = restrict(select(User.id, User.username), principal, Action.READ)
    return dict(session.execute(query).all())


def _staff(session: Session, principal: Principal, now: datetime) -> list[tuple[Person, list[Row]]]:
    # The officer's staff: persons of their organisation (the policy also shows a person
    # their own record, which is the same organisation here); hub-admins see everyone.
    persons = register.list_persons(session=session, principal=principal)
    rows: dict[int, list[Row]] = {p.id: [] for p in persons}
    for clearance in register.list_clearances(session=session, principal=principal):
        rows.setdefault(clearance.person_id, []).append(_row(clearance, now))
    pending = register.list_recognitions(
        session=session, principal=principal, status=RecognitionStatus.PENDING.value
    )
    by_id = {r.clearance.id: r for group in rows.values() for r in group}
    for request in pending:
        if request.clearance_id in by_id:
            by_id[request.clearance_id].open_requests.append(request)
    return [(p, rows[p.id]) for p in persons]


def _rules_panel() -> dict[str, Any]:
    today = datetime.now(UTC).date()
    problem = None
    try:
        agreements = [ag for ag in rules.agreements() if ag.in_force <= today]
    except rules.AgreementsFileError as exc:
        agreements, problem = [], str(exc)
    return {
        "schemes": rules.schemes(),
        "grades": sorted(rules.GRADE_NAMES.items(), reverse=True),
        "ceiling": rules.ceiling(),
        "agreements": agreements,
        "agreements_problem": problem,
    }


def _register_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
    checked: tuple[Person, str, Decision] | None = None,
) -> Response:
    now = datetime.now(UTC)
    organisations = queries.organisations(session=db, principal=principal)
    if principal.role is not Role.HUB_ADMIN:
        organisations = [o for o in organisations if o.id == principal.org_id]
    staff = _staff(db, principal, now)
    return render(
        request,
        "clearances.html",
        status_code=status_code,
        staff=staff,
        employers=_org_names(db, principal),
        usernames=_usernames(db, principal),
        organisations=organisations,
        countries=rules.issuing_countries(),
        scopes=[s.value for s in Scope],
        labels=[lvl.label for s in rules.schemes() for lvl in s.levels],
        community_names=sorted(queries.community_names(session=db, principal=principal).values()),
        checked=checked,
        error=error,
        notice=_notice(request),
        **_rules_panel(),
    )


@router.get("")
def register_page(request: Request, db: DbSession, principal: Admin) -> Response:
    """Show my staff's clearances, with forms to add, verify, revoke and check."""
    return _register_page(request, db, principal)


# Writing ------------------------------------------------------------------------------------


def _write(
    request: Request, db: Session, principal: Principal, act: Any, path: str, notice: str
) -> Response:
    # One unit of work per request: the service writes and audits, we commit or roll back.
    try:
        act()
    except VarselError as exc:
        db.rollback()
        if path == "/clearances/requests":
            return _requests_page(
                request, db, principal, status_code=_status(exc), error=exc.message
            )
        return _register_page(request, db, principal, status_code=_status(exc), error=exc.message)
    db.commit()
    return _done(path, notice)


@router.post("/persons")
def add_person(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Register a person of my organisation (hub-admins: of any)."""

    def act() -> None:
        register.add_person(
            session=db,
            principal=principal,
            name=_field(form, "name"),
            nationality=_field(form, "nationality"),
            employer=_field(form, "employer"),
            username=_field(form, "username") or None,
        )

    return _write(request, db, principal, act, "/clearances", "person_added")


@router.post("/add")
def add_clearance(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Register a clearance as declared, its level exactly as written."""

    def act() -> None:
        person_id = _int(form, "person", "a person")
        register.add_clearance(
            session=db,
            principal=principal,
            person=register.find_person(session=db, principal=principal, ref=person_id),
            country=_field(form, "country"),
            level=_field(form, "level"),
            authority=_field(form, "authority"),
            valid_from=_day(form, "valid_from", "valid from"),
            valid_until=_day(form, "valid_until", "valid until"),
            scope=_field(form, "scope") or Scope.NATIONAL.value,
        )

    return _write(request, db, principal, act, "/clearances", "clearance_added")


@router.post("/verify")
def verify(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Record that I checked the clearance certificate."""

    def act() -> None:
        clearance_id = _int(form, "clearance_id", "a clearance")
        register.verify_clearance(session=db, principal=principal, clearance_id=clearance_id)

    return _write(request, db, principal, act, "/clearances", "clearance_verified")


@router.post("/revoke")
def revoke(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Revoke a clearance at once, with the reason."""

    def act() -> None:
        clearance_id = _int(form, "clearance_id", "a clearance")
        register.revoke_clearance(
            session=db,
            principal=principal,
            clearance_id=clearance_id,
            reason=_field(form, "reason"),
        )

    return _write(request, db, principal, act, "/clearances", "clearance_revoked")


@router.post("/check")
def check(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Decide whether a person may see material ``SCHEME:LEVEL`` and show the reasons."""
    try:
        person_id = _int(form, "person", "a person")
        person = register.find_person(session=db, principal=principal, ref=person_id)
        label = _field(form, "level")
        decision = register.check(
            session=db,
            principal=principal,
            person=person,
            label=label,
            community=_field(form, "community") or None,
        )
    except VarselError as exc:
        db.rollback()
        return _register_page(request, db, principal, status_code=_status(exc), error=exc.message)
    db.commit()  # the decision and its reasons are in the audit log: the proof afterwards
    return _register_page(request, db, principal, checked=(person, label, decision))


# Recognition requests ---------------------------------------------------------------------


def _requests_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    visible = register.list_recognitions(session=db, principal=principal)
    decidable = set(
        db.execute(restrict(select(RecognitionRequest.id), principal, Action.WRITE)).scalars()
    )
    # Clearances are shown only where the policy lets me read them (my own staff's); an
    # authority sees the request itself, not the person's register entry.
    clearances = {c.id: c for c in register.list_clearances(session=db, principal=principal)}
    persons = {p.id: p for p in register.list_persons(session=db, principal=principal)}
    hub = principal.role is Role.HUB_ADMIN
    received = [r for r in visible if hub or r.id in decidable]
    sent = [] if hub else [r for r in visible if r.clearance_id in clearances]
    now = datetime.now(UTC)
    askable = [
        _row(c, now)
        for c in clearances.values()
        if c.scope == Scope.NATIONAL.value
        and c.state != ClearanceState.DECLARED.value
        and c.revoked_at is None
    ]
    return render(
        request,
        "clearances_requests.html",
        status_code=status_code,
        received=received,
        sent=sent,
        decidable=decidable,
        clearances=clearances,
        persons=persons,
        askable=askable,
        countries=[s.code for s in rules.schemes() if s.kind == "national"],
        error=error,
        notice=_notice(request),
    )


@router.get("/requests")
def requests_page(request: Request, db: DbSession, principal: Admin) -> Response:
    """List the recognition requests my organisation sent and those it must decide."""
    return _requests_page(request, db, principal)


@router.post("/requests")
def request_recognition(
    request: Request, db: DbSession, principal: Admin, form: CheckedForm
) -> Response:
    """Ask another country's authority to recognise a verified clearance."""

    def act() -> None:
        register.request_recognition(
            session=db,
            principal=principal,
            clearance_id=_int(form, "clearance_id", "a clearance"),
            country=_field(form, "country"),
            note=_field(form, "note"),
        )

    return _write(request, db, principal, act, "/clearances/requests", "recognition_requested")


@router.post("/requests/decide")
def decide_request(
    request: Request, db: DbSession, principal: Admin, form: CheckedForm
) -> Response:
    """Approve or refuse a recognition request; a refusal needs a reason."""
    verdict = _field(form, "decision")

    def act() -> None:
        if verdict not in {"approve", "refuse"}:
            raise InvalidInput("choose approve or refuse")
        register.decide_recognition(
            session=db,
            principal=principal,
            request_id=_int(form, "request_id", "a request"),
            approve=verdict == "approve",
            reason=_field(form, "reason"),
        )

    notice = "recognition_approved" if verdict == "approve" else "recognition_refused"
    return _write(request, db, principal, act, "/clearances/requests", notice)


# Expiring soon ----------------------------------------------------------------------------


@router.get("/expiring")
def expiring_page(request: Request, db: DbSession, principal: Admin) -> Response:
    """List clearances ending within 60, 30 and 7 days, and the warnings already sent."""
    now = datetime.now(UTC)
    rows = [
        _row(c, now)
        for c in register.expiring(session=db, principal=principal, within_days=max(THRESHOLDS))
    ]
    buckets = []
    for days in sorted(THRESHOLDS):
        lower = max([t for t in THRESHOLDS if t < days], default=-1)
        buckets.append((days, [r for r in rows if lower < r.days_left <= days]))
    notices = list(
        db.execute(
            restrict(select(ExpiryNotice), principal, Action.READ).order_by(
                ExpiryNotice.created_at.desc(), ExpiryNotice.id.desc()
            )
        ).scalars()
    )
    return render(
        request,
        "clearances_expiring.html",
        buckets=buckets,
        notices=notices,
        clearances={c.id: c for c in register.list_clearances(session=db, principal=principal)},
        persons={p.id: p for p in register.list_persons(session=db, principal=principal)},
    )
