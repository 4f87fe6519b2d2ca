"""The register: my staff's clearances, and the forms to add, verify, revoke and check them."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from varsel.clearances import service as register
from varsel.clearances.models import Scope
from varsel.error_map import status_of
from varsel.errors import VarselError
from varsel.http.deps import DbSession
from varsel.web.clearances._forms import form_day, form_int
from varsel.web.clearances._pages import render_register, write_and_redirect
from varsel.web.pages import field
from varsel.web.sessions import Admin, CheckedForm


def register_page(request: Request, db: DbSession, principal: Admin) -> Response:
    """Show my staff's clearances, with forms to add, verify, revoke and check."""
    return render_register(request, db, principal)


def add_person(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Register a person of my organisation (hub-admins: of any)."""

    def act() -> None:
        register.add_person(
            session=db,
            principal=principal,
            name=field(form, "name"),
            nationality=field(form, "nationality"),
            employer=field(form, "employer"),
            username=field(form, "username") or None,
        )

    return write_and_redirect(request, db, principal, act, "/clearances", "person_added")


def add_clearance(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Register a clearance as declared, its level exactly as written."""

    def act() -> None:
        person_id = form_int(form, "person", "a person")
        register.add_clearance(
            session=db,
            principal=principal,
            person=register.find_person(session=db, principal=principal, ref=person_id),
            country=field(form, "country"),
            level=field(form, "level"),
            authority=field(form, "authority"),
            valid_from=form_day(form, "valid_from", "valid from"),
            valid_until=form_day(form, "valid_until", "valid until"),
            scope=field(form, "scope") or Scope.NATIONAL.value,
        )

    return write_and_redirect(request, db, principal, act, "/clearances", "clearance_added")


def verify(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Record that I checked the clearance certificate."""

    def act() -> None:
        clearance_id = form_int(form, "clearance_id", "a clearance")
        register.verify_clearance(session=db, principal=principal, clearance_id=clearance_id)

    return write_and_redirect(request, db, principal, act, "/clearances", "clearance_verified")


def revoke(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Revoke a clearance at once, with the reason."""

    def act() -> None:
        clearance_id = form_int(form, "clearance_id", "a clearance")
        register.revoke_clearance(
            session=db,
            principal=principal,
            clearance_id=clearance_id,
            reason=field(form, "reason"),
        )

    return write_and_redirect(request, db, principal, act, "/clearances", "clearance_revoked")


def check(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Decide whether a person may see material ``SCHEME:LEVEL`` and show the reasons."""
    try:
        person_id = form_int(form, "person", "a person")
        person = register.find_person(session=db, principal=principal, ref=person_id)
        label = field(form, "level")
        decision = register.check(
            session=db,
            principal=principal,
            person=person,
            label=label,
            community=field(form, "community") or None,
        )
    except VarselError as exc:
        db.rollback()
        return render_register(
            request, db, principal, status_code=status_of(exc), error=exc.message
        )
    db.commit()  # the decision and its reasons are in the audit log: the proof afterwards
    return render_register(request, db, principal, checked=(person, label, decision))
