"""My notifications, where they go besides this page, my watchlist and my saved filters.

Everything here is the signed-in user's own (the policy's owner rule on the alert tables);
every form carries the CSRF token. A notification about an object is shown only while I may
still read that object: otherwise it reads "an object you cannot see", with neither its id nor
its type. Changing where alerts are sent is audited by the service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from varsel.alerts import flows as alert_flows
from varsel.alerts import service as alerts
from varsel.alerts.models import AlertKind, Notification
from varsel.error_map import status_of
from varsel.errors import VarselError
from varsel.http.deps import DbSession
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import StixObject
from varsel.web.pages import field, form_page
from varsel.web.sessions import CheckedForm, SignedIn

router = APIRouter(prefix="/notifications")
PAGE = 50
NOTICES = {"prefs_saved", "watch_added", "watch_removed", "filter_saved", "filter_removed"}


@dataclass(frozen=True)
class Shown:
    """A notification as the page shows it: hidden when its subject is no longer readable."""

    row: Notification
    params: dict[str, Any]
    visible: bool


def _shown(db: Session, principal: Principal, rows: list[Notification]) -> list[Shown]:
    ids = {r.object_id for r in rows if r.object_id}
    readable = (
        set(
            db.execute(
                restrict(
                    select(StixObject.stix_id).where(StixObject.stix_id.in_(ids)),
                    principal,
                    Action.READ,
                ).distinct()
            ).scalars()
        )
        if ids
        else set()
    )
    shown = []
    for row in rows:
        if row.object_id is not None:
            visible = row.object_id in readable
        elif row.kind in (AlertKind.DEADLINE.value, AlertKind.CLEARANCE.value, AlertKind.LAG.value):
            visible = alert_flows.still_readable(db, principal, row)
        else:
            visible = False
        shown.append(Shown(row, json.loads(row.params) if visible else {}, visible))
    return shown


@router.get("")
def notification_list(
    request: Request, db: DbSession, principal: SignedIn, before: int | None = None
) -> Response:
    """List my notifications, newest first, with the unread ones marked."""
    rows = alerts.notifications(session=db, principal=principal, limit=PAGE + 1, before=before)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    shown = _shown(db, principal, rows)
    unread = alerts.unread_count(session=db, principal=principal)
    db.rollback()  # read only
    return form_page(
        request,
        "notifications.html",
        notices=NOTICES,
        shown=shown,
        unread_here=unread,
        older_url=f"/notifications?before={rows[-1].id}" if more and rows else None,
    )


def _back(form: Any) -> str:
    # Only a path of this area, never a URL from the form: no open redirect.
    target = str(form.get("back") or "")
    return (
        target if target.startswith("/notifications") and "//" not in target else "/notifications"
    )


@router.post("/{notification_id}/read")
def read_one(
    db: DbSession, principal: SignedIn, notification_id: int, form: CheckedForm
) -> Response:
    """Mark one of my notifications read and open it (or go back to the list)."""
    alerts.mark_read(session=db, principal=principal, notification_id=notification_id)
    db.commit()
    return RedirectResponse(_back(form), status_code=303)


@router.post("/read-all")
def read_all(db: DbSession, principal: SignedIn, form: CheckedForm) -> Response:
    """Mark every notification of mine read."""
    alerts.mark_read(session=db, principal=principal, notification_id=None)
    db.commit()
    return RedirectResponse("/notifications", status_code=303)


def _settings_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    prefs = alerts.preferences(session=db, principal=principal)
    typed = {
        "email": (prefs.email if prefs else None) or "",
        "webhook_url": (prefs.webhook_url if prefs else None) or "",
        "value": "",
        "name": "",
        "query": "",
        **(values or {}),
    }
    watches = alerts.watches(session=db, principal=principal)
    filters = alerts.saved_filters(session=db, principal=principal)
    db.rollback()
    return form_page(
        request,
        "notification_settings.html",
        notices=NOTICES,
        status_code=status_code,
        errors=errors or {},
        values=typed,
        watches=watches,
        filters=filters,
    )


@router.get("/settings")
def settings(request: Request, db: DbSession, principal: SignedIn) -> Response:
    """Show where my alerts go, my watchlist and my saved filters."""
    return _settings_page(request, db, principal)


def _refused(
    request: Request,
    db: Session,
    principal: Principal,
    exc: VarselError,
    form_field: str,
    values: dict[str, str],
) -> Response:
    db.rollback()
    where = (exc.field or form_field) if isinstance(exc, alerts.FieldError) else form_field
    return _settings_page(
        request,
        db,
        principal,
        status_code=status_of(exc),
        errors={where: exc.message},
        values=values,
    )


@router.post("/settings")
def save_settings(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm
) -> Response:
    """Set the e-mail address and webhook my alerts are copied to (empty: none)."""
    values = {"email": field(form, "email"), "webhook_url": field(form, "webhook_url")}
    try:
        alerts.set_preferences(session=db, principal=principal, **values)
    except VarselError as exc:
        return _refused(request, db, principal, exc, "email", values)
    db.commit()
    return RedirectResponse("/notifications/settings?notice=prefs_saved", status_code=303)


@router.post("/watches")
def add_watch(request: Request, db: DbSession, principal: SignedIn, form: CheckedForm) -> Response:
    """Watch a value: alert me when an object about it is shared."""
    values = {"value": field(form, "value")}
    try:
        alerts.add_watch(session=db, principal=principal, text=values["value"])
    except VarselError as exc:
        return _refused(request, db, principal, exc, "value", values)
    db.commit()
    return RedirectResponse("/notifications/settings?notice=watch_added#watches", status_code=303)


@router.post("/watches/{watch_id}/delete")
def remove_watch(
    request: Request, db: DbSession, principal: SignedIn, watch_id: int, form: CheckedForm
) -> Response:
    """Stop watching a value."""
    alerts.remove_watch(session=db, principal=principal, watch_id=watch_id)
    db.commit()
    return RedirectResponse("/notifications/settings?notice=watch_removed#watches", status_code=303)


@router.post("/filters")
def save_filter(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm
) -> Response:
    """Save an /objects filter under a name (the object list's "Save this filter" form)."""
    values = {"name": field(form, "name"), "query": field(form, "query")}
    try:
        alerts.save_filter(session=db, principal=principal, **values)
    except VarselError as exc:
        return _refused(request, db, principal, exc, "name", values)
    db.commit()
    return RedirectResponse("/notifications/settings?notice=filter_saved#filters", status_code=303)


@router.post("/filters/{filter_id}/delete")
def remove_filter(
    request: Request, db: DbSession, principal: SignedIn, filter_id: int, form: CheckedForm
) -> Response:
    """Delete one of my saved filters."""
    alerts.remove_filter(session=db, principal=principal, filter_id=filter_id)
    db.commit()
    return RedirectResponse(
        "/notifications/settings?notice=filter_removed#filters", status_code=303
    )
