"""Administration: users and roles, API tokens, communities, collections and the audit log.

Org-admins manage their own organisation's users and tokens; hub-admins manage everything.
Which rows a page lists and which a form may change is decided by ``varsel.policy.restrict``
(through :mod:`varsel.web.queries`); the role checks here only decide which forms a page offers.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from varsel.api.deps import DbSession
from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import Forbidden, InvalidInput, VarselError
from varsel.orgs import service as orgs
from varsel.orgs.models import Role
from varsel.orgs.service import Principal
from varsel.sharing import service as sharing
from varsel.web import queries
from varsel.web.pages import done, field, form_page
from varsel.web.render import render
from varsel.web.sessions import Admin, CheckedForm, HubAdmin, SignedIn

router = APIRouter(prefix="/admin")
AUDIT_PAGE = 50
# Notices shown after a redirect; only these keys are ever displayed.
NOTICES = {
    "user_created",
    "role_changed",
    "token_revoked",
    "member_added",
    "member_removed",
    "community_created",
    "collection_created",
}


@router.get("")
def index(request: Request, principal: Admin) -> Response:
    """Show what an administrator can manage."""
    return render(request, "admin_index.html")


# Users and roles ------------------------------------------------------------------------------


def _users_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    organisations = queries.organisations(session=db, principal=principal)
    if principal.role is not Role.HUB_ADMIN:
        organisations = [o for o in organisations if o.id == principal.org_id]
    return form_page(
        request,
        "admin_users.html",
        notices=NOTICES,
        status_code=status_code,
        users=queries.users(session=db, principal=principal),
        roles=queries.grantable_roles(principal),
        organisations=organisations,
        error=error,
    )


@router.get("/users")
def users(request: Request, db: DbSession, principal: Admin) -> Response:
    """List the users I manage, with forms to add one and change roles."""
    return _users_page(request, db, principal)


@router.post("/users")
def add_user(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Create a user (org-admins: in their own organisation only)."""
    org, role = field(form, "org"), field(form, "role")
    try:
        if principal.role is not Role.HUB_ADMIN and org != principal.org_name:
            raise Forbidden("an org-admin adds users to their own organisation only")
        queries.check_grant(principal, role)
        orgs.add_user(
            session=db,
            username=field(form, "username"),
            org=org,
            role=role,
            password=str(form.get("password") or ""),
            actor=principal.label,
        )
    except VarselError as exc:
        db.rollback()
        return _users_page(request, db, principal, status_code=400, error=exc.message)
    db.commit()
    return done("/admin/users", "user_created")


@router.post("/users/role")
def change_role(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Change a user's role, within what I may grant."""
    username, role = field(form, "username"), field(form, "role")
    try:
        user = queries.writable_user(session=db, principal=principal, username=username)
        if user.role == Role.HUB_ADMIN.value:
            queries.check_grant(principal, Role.HUB_ADMIN.value)
        queries.check_grant(principal, role)
        orgs.set_role(session=db, username=username, role=role, actor=principal.label)
    except VarselError as exc:
        db.rollback()
        return _users_page(request, db, principal, status_code=400, error=exc.message)
    db.commit()
    return done("/admin/users", "role_changed")


# API tokens -------------------------------------------------------------------------------------


def _tokens_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
    created: tuple[str, str] | None = None,
) -> Response:
    owners = [u.username for u in queries.users(session=db, principal=principal)]
    if principal.role is Role.ANALYST:
        owners = [principal.username]
    return form_page(
        request,
        "admin_tokens.html",
        notices=NOTICES,
        status_code=status_code,
        tokens=queries.tokens(session=db, principal=principal),
        owners=owners,
        now=utcnow(),
        error=error,
        created=created,
    )


@router.get("/tokens")
def tokens(request: Request, db: DbSession, principal: SignedIn) -> Response:
    """List API tokens (mine, or my organisation's for an admin) with a form for a new one."""
    return _tokens_page(request, db, principal)


@router.post("/tokens")
def add_token(request: Request, db: DbSession, principal: SignedIn, form: CheckedForm) -> Response:
    """Create an API token and show it this once."""
    owner = field(form, "username") or principal.username
    name = field(form, "name") or "api"
    days = field(form, "days")
    try:
        if owner != principal.username:
            queries.writable_user(session=db, principal=principal, username=owner)
        if days and (not days.isdigit() or not 1 <= int(days) <= 3650):
            raise InvalidInput("the lifetime is a whole number of days from 1 to 3650")
        expires = utcnow() + timedelta(days=int(days)) if days else None
        if len(name) > 100:
            raise InvalidInput("a token name is at most 100 characters")
        _, secret = orgs.create_token(
            session=db, username=owner, name=name, expires_at=expires, actor=principal.label
        )
    except VarselError as exc:
        db.rollback()
        return _tokens_page(request, db, principal, status_code=400, error=exc.message)
    db.commit()
    return _tokens_page(request, db, principal, status_code=201, created=(owner, secret))


@router.post("/tokens/revoke")
def revoke_token(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm
) -> Response:
    """Revoke a token at once."""
    try:
        token_id = int(field(form, "token_id"))
    except ValueError:
        return _tokens_page(request, db, principal, status_code=400, error="no such token")
    try:
        queries.writable_token(session=db, principal=principal, token_id=token_id)
        orgs.revoke_token(session=db, token_id=token_id, actor=principal.label)
    except VarselError as exc:
        db.rollback()
        return _tokens_page(request, db, principal, status_code=400, error=exc.message)
    db.commit()
    return done("/admin/tokens", "token_revoked")


# Communities ------------------------------------------------------------------------------------


def _communities_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    return form_page(
        request,
        "admin_communities.html",
        notices=NOTICES,
        status_code=status_code,
        communities=queries.communities(session=db, principal=principal),
        organisations=queries.organisations(session=db, principal=principal),
        error=error,
    )


@router.get("/communities")
def communities(request: Request, db: DbSession, principal: Admin) -> Response:
    """List communities, their members and collections."""
    return _communities_page(request, db, principal)


@router.post("/communities")
def add_community(
    request: Request, db: DbSession, principal: HubAdmin, form: CheckedForm
) -> Response:
    """Create a community (hub-admins)."""
    try:
        orgs.add_community(
            session=db,
            name=field(form, "name"),
            members=[],
            description=field(form, "description"),
            actor=principal.label,
        )
    except VarselError as exc:
        db.rollback()
        return _communities_page(request, db, principal, status_code=400, error=exc.message)
    db.commit()
    return done("/admin/communities", "community_created")


@router.post("/communities/members")
def change_member(
    request: Request, db: DbSession, principal: HubAdmin, form: CheckedForm
) -> Response:
    """Add an organisation to a community or remove it (hub-admins); effective at once."""
    community, org, op = field(form, "community"), field(form, "org"), field(form, "op")
    try:
        if op == "add":
            orgs.add_member(session=db, community=community, org=org, actor=principal.label)
        elif op == "remove":
            orgs.remove_member(session=db, community=community, org=org, actor=principal.label)
        else:
            raise InvalidInput("unknown membership change")
    except VarselError as exc:
        db.rollback()
        return _communities_page(request, db, principal, status_code=400, error=exc.message)
    db.commit()
    return done("/admin/communities", "member_added" if op == "add" else "member_removed")


# Collections ------------------------------------------------------------------------------------


def _collections_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    return form_page(
        request,
        "admin_collections.html",
        notices=NOTICES,
        status_code=status_code,
        collections=sharing.visible_collections(session=db, principal=principal),
        community_names=queries.community_names(session=db, principal=principal),
        error=error,
    )


@router.get("/collections")
def collections(request: Request, db: DbSession, principal: Admin) -> Response:
    """List collections with their community, default TLP and rights."""
    return _collections_page(request, db, principal)


@router.post("/collections")
def add_collection(
    request: Request, db: DbSession, principal: HubAdmin, form: CheckedForm
) -> Response:
    """Create a collection (hub-admins)."""
    try:
        sharing.add_collection(
            session=db,
            title=field(form, "title"),
            community=field(form, "community"),
            default_tlp=field(form, "default_tlp"),
            description=field(form, "description"),
            alias=field(form, "alias") or None,
            actor=principal.label,
        )
    except VarselError as exc:
        db.rollback()
        return _collections_page(request, db, principal, status_code=400, error=exc.message)
    db.commit()
    return done("/admin/collections", "collection_created")


# Audit log --------------------------------------------------------------------------------------


@router.get("/audit")
def audit_log(
    request: Request, db: DbSession, principal: HubAdmin, before: int | None = None
) -> Response:
    """Show the audit log, newest first, with the hash chain verified."""
    report = audit.verify(session=db)
    events = queries.audit_events(session=db, principal=principal, before=before, limit=AUDIT_PAGE)
    older = events[-1].id if len(events) == AUDIT_PAGE else None
    return render(
        request,
        "admin_audit.html",
        report=report,
        events=events,
        older=older,
        newest=before is not None,
    )
