"""The MISP mapping (``/admin/misp``).

Where each organisation's events land; sharing groups and distribution ceilings. An org-admin
sees and sets its own organisation's collection (offered only those it may write to); a
hub-admin sets any organisation's, maps sharing groups and narrows the ceilings. Every change
goes through :mod:`varsel.misp.service`, where the policy decides it and the audit log records
it; the role checks here only decide which forms the page offers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from varsel.error_map import status_of
from varsel.errors import VarselError
from varsel.http.deps import DbSession
from varsel.misp import service, sharing
from varsel.orgs.models import Role
from varsel.policy.principal import Principal
from varsel.sharing import service as collections
from varsel.sharing.tlp import TLP
from varsel.web import queries
from varsel.web.pages import done, field, form_page, refusal
from varsel.web.sessions import Admin, CheckedForm, HubAdmin

router = APIRouter(prefix="/admin/misp")
# Notices shown after a redirect; only these keys are ever displayed.
NOTICES = {"misp_collection_set", "misp_group_set", "misp_group_removed", "misp_ceilings_set"}


def _page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    hub_admin = principal.role is Role.HUB_ADMIN
    if hub_admin:
        choices = [
            row for row, _ in collections.visible_collections(session=db, principal=principal)
        ]
    else:
        choices = service.writable_collections(
            session=db, principal=principal, org=principal.org_name
        )
    mapping = service.mapping_of(db)
    ceilings = [
        {
            "n": n,
            "name": sharing.DISTRIBUTIONS[n],
            "current": mapping.ceilings[n],
            "default": default,
            # Only levels at least as restrictive as the default are offered.
            "choices": [level for level in TLP if level.rank >= default.rank],
        }
        for n, default in sharing.DEFAULT_CEILINGS.items()
    ]
    return form_page(
        request,
        "admin_misp.html",
        notices=NOTICES,
        status_code=status_code,
        error=error,
        errors=errors or {},
        values=values or {},
        landing=service.org_collections(session=db, principal=principal),
        choices=choices,
        organisations=queries.organisations(session=db, principal=principal) if hub_admin else [],
        ceilings=ceilings,
        groups=service.sharing_groups(session=db) if hub_admin else [],
    )


def _refused(
    request: Request,
    db: Session,
    principal: Principal,
    exc: VarselError,
    *,
    form: str,
    values: dict[str, Any] | None = None,
) -> Response:
    db.rollback()
    return _page(
        request,
        db,
        principal,
        status_code=status_of(exc),
        values=values,
        **refusal(exc, form=form),
    )


@router.get("")
def misp_admin(request: Request, db: DbSession, principal: Admin) -> Response:
    """Show where MISP events land, and (hub-admins) sharing groups and ceilings."""
    return _page(request, db, principal)


@router.post("/collection")
def set_collection(
    request: Request, db: DbSession, principal: Admin, form: CheckedForm
) -> Response:
    """Set where an organisation's MISP events land (its org-admins, hub-admins)."""
    org = field(form, "org") if principal.role is Role.HUB_ADMIN else principal.org_name
    values = {"landing.org": org, "landing.collection": field(form, "collection")}
    try:
        service.set_collection(
            session=db, principal=principal, org=org, collection=field(form, "collection")
        )
    except VarselError as exc:
        return _refused(request, db, principal, exc, form="landing", values=values)
    db.commit()
    return done("/admin/misp", "misp_collection_set")


@router.post("/groups")
def set_group(request: Request, db: DbSession, principal: HubAdmin, form: CheckedForm) -> Response:
    """Map a MISP sharing group to hub organisations (hub-admins)."""
    recipients = [str(v) for v in form.getlist("recipients")]
    values = {
        "group.uuid": field(form, "uuid"),
        "group.name": field(form, "name"),
        "group.recipients": recipients,
    }
    try:
        service.set_sharing_group(
            session=db,
            principal=principal,
            uuid=field(form, "uuid"),
            name=field(form, "name"),
            recipients=recipients,
        )
    except VarselError as exc:
        return _refused(request, db, principal, exc, form="group", values=values)
    db.commit()
    return done("/admin/misp", "misp_group_set", "#groups")


@router.post("/groups/remove")
def remove_group(
    request: Request, db: DbSession, principal: HubAdmin, form: CheckedForm
) -> Response:
    """Forget a sharing group's mapping (hub-admins)."""
    try:
        service.remove_sharing_group(session=db, principal=principal, uuid=field(form, "uuid"))
    except VarselError as exc:
        db.rollback()
        return _page(request, db, principal, status_code=status_of(exc), error=exc.message)
    db.commit()
    return done("/admin/misp", "misp_group_removed", "#groups")


@router.post("/ceilings")
def set_ceilings(
    request: Request, db: DbSession, principal: HubAdmin, form: CheckedForm
) -> Response:
    """Set the ceilings of distributions 0-3, all or nothing (hub-admins)."""
    current = service.mapping_of(db).ceilings
    for n in sharing.DEFAULT_CEILINGS:
        wanted = field(form, f"ceiling-{n}")
        if not wanted or wanted == current[n].value:
            continue
        try:
            service.set_ceiling(session=db, principal=principal, distribution=n, level=wanted)
        except VarselError as exc:
            db.rollback()
            return _page(
                request,
                db,
                principal,
                status_code=status_of(exc),
                errors={f"ceilings.ceiling-{n}": exc.message},
            )
    db.commit()
    return done("/admin/misp", "misp_ceilings_set", "#ceilings")
