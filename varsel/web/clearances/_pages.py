"""The register and request pages as rendered, and the unit of work of a form that shows them.

A :class:`Row` is a clearance as the register shows it, on the issuing country's calendar.
A form's change is committed when the service accepts it and rolled back when it refuses,
and the refusal is shown on the page the form came from, with the matching status code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from varsel.clearances import rules
from varsel.clearances import service as register
from varsel.clearances.decision import Decision, local_day
from varsel.clearances.models import (
    Clearance,
    ClearanceState,
    Person,
    RecognitionRequest,
    RecognitionStatus,
    Scope,
)
from varsel.error_map import status_of
from varsel.errors import VarselError
from varsel.orgs.models import Organisation, Role, User
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.web import queries
from varsel.web.clearances._forms import NOTICES
from varsel.web.pages import done, form_page


@dataclass
class Row:
    """A clearance as the register shows it: validity in the issuer's zone, days left."""

    clearance: Clearance
    zone: str
    today: date
    open_requests: list[RecognitionRequest] = field(default_factory=list)
    # Why the reader could not verify or revoke it (None: the action is offered).
    verify_refused: str | None = None
    revoke_refused: str | None = None

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


def row_of(clearance: Clearance, now: datetime) -> Row:
    """Return the register row of ``clearance``, with its country's time zone and day."""
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
        rows.setdefault(clearance.person_id, []).append(row_of(clearance, now))
    pending = register.list_recognitions(
        session=session, principal=principal, status=RecognitionStatus.PENDING.value
    )
    by_id = {r.clearance.id: r for group in rows.values() for r in group}
    for row in by_id.values():
        # Offer only what the service would accept (its own checks, run without writing).
        c = row.clearance
        if c.revoked_at is None:
            row.revoke_refused = register.revoke_refusal(
                session=session, principal=principal, clearance_id=c.id
            )
            if c.state == ClearanceState.DECLARED.value:
                row.verify_refused = register.verify_refusal(
                    session=session, principal=principal, clearance_id=c.id
                )
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


def render_register(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
    checked: tuple[Person, str, Decision] | None = None,
) -> Response:
    """Render the clearance register page."""
    now = datetime.now(UTC)
    organisations = queries.organisations(session=db, principal=principal)
    if principal.role is not Role.HUB_ADMIN:
        organisations = [o for o in organisations if o.id == principal.org_id]
    staff = _staff(db, principal, now)
    return form_page(
        request,
        "clearances.html",
        notices=NOTICES,
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
        **_rules_panel(),
    )


def write_and_redirect(
    request: Request, db: Session, principal: Principal, act: Any, path: str, notice: str
) -> Response:
    """Run ``act`` in this request's unit of work; redirect with ``notice``, or re-render."""
    # One unit of work per request: the service writes and audits, we commit or roll back.
    try:
        act()
    except VarselError as exc:
        db.rollback()
        if path == "/clearances/requests":
            return render_requests(
                request, db, principal, status_code=status_of(exc), error=exc.message
            )
        return render_register(
            request, db, principal, status_code=status_of(exc), error=exc.message
        )
    db.commit()
    return done(path, notice)


def render_requests(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    """Render the recognition requests page."""
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
        row_of(c, now)
        for c in clearances.values()
        if c.scope == Scope.NATIONAL.value
        and c.state != ClearanceState.DECLARED.value
        and c.revoked_at is None
    ]
    return form_page(
        request,
        "clearances_requests.html",
        notices=NOTICES,
        status_code=status_code,
        received=received,
        sent=sent,
        decidable=decidable,
        clearances=clearances,
        persons=persons,
        askable=askable,
        countries=[s.code for s in rules.schemes() if s.kind == "national"],
        error=error,
    )
