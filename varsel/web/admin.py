"""Administration: users and roles, API tokens, communities, collections and the audit log.

Which rows a page lists is decided by ``varsel.policy.restrict`` (through
:mod:`varsel.web.queries`); every change goes through :mod:`varsel.orgs.flows`, where the policy
decides it. The role checks here only decide which forms a page offers.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.error_map import status_of
from varsel.errors import InvalidInput, VarselError
from varsel.http.deps import DbSession
from varsel.orgs import flows
from varsel.orgs import service as orgs
from varsel.orgs.models import Role, TokenScope
from varsel.policy import Change, Target, authorize
from varsel.policy.principal import Principal
from varsel.sharing import service as sharing
from varsel.web import queries
from varsel.web.pages import done, field, form_page, refusal
from varsel.web.render import render
from varsel.web.sessions import Admin, CheckedForm, HubAdmin, SignedIn

router = APIRouter(prefix="/admin")
AUDIT_PAGE = 50
# Notices shown after a redirect; only these keys are ever displayed.
NOTICES = {
    "user_created",
    "role_changed",
    "user_disabled",
    "user_enabled",
    "member_requested",
    "request_approved",
    "request_refused",
    "token_revoked",
    "member_added",
    "member_removed",
    "community_created",
    "visibility_changed",
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
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
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
        roles=queries.grantable_roles(session=db, principal=principal),
        organisations=organisations,
        error=error,
        errors=errors or {},
        values=values or {},
    )


@router.get("/users")
def users(request: Request, db: DbSession, principal: Admin) -> Response:
    """List the users I manage, with forms to add one and change roles."""
    return _users_page(request, db, principal)


@router.post("/users")
def add_user(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Create a user (org-admins: in their own organisation only)."""
    values = {name: field(form, name) for name in ("username", "org", "role")}
    try:
        flows.create_user(
            session=db,
            principal=principal,
            username=values["username"],
            org=values["org"],
            role=values["role"],
            password=str(form.get("password") or ""),
        )
    except VarselError as exc:
        db.rollback()
        return _users_page(
            request, db, principal, status_code=status_of(exc), values=values, **refusal(exc)
        )
    db.commit()
    return done("/admin/users", "user_created")


@router.post("/users/role")
def change_role(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Change a user's role, within what I may grant."""
    try:
        flows.change_role(
            session=db,
            principal=principal,
            username=field(form, "username"),
            role=field(form, "role"),
        )
    except VarselError as exc:
        db.rollback()
        return _users_page(request, db, principal, status_code=status_of(exc), error=exc.message)
    db.commit()
    return done("/admin/users", "role_changed")


@router.post("/users/state")
def change_state(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Disable an account (ending its sessions and tokens) or enable it again."""
    op = field(form, "op")
    try:
        if op not in {"disable", "enable"}:
            raise InvalidInput("unknown account change")
        flows.set_enabled(
            session=db,
            principal=principal,
            username=field(form, "username"),
            enabled=op == "enable",
        )
    except VarselError as exc:
        db.rollback()
        return _users_page(request, db, principal, status_code=status_of(exc), error=exc.message)
    db.commit()
    return done("/admin/users", "user_enabled" if op == "enable" else "user_disabled")


# API tokens -------------------------------------------------------------------------------------


def _tokens_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    created: tuple[str, str] | None = None,
) -> Response:
    return form_page(
        request,
        "admin_tokens.html",
        notices=NOTICES,
        status_code=status_code,
        tokens=queries.tokens(session=db, principal=principal),
        now=utcnow(),
        error=error,
        errors=errors or {},
        values=values or {},
        created=created,
    )


@router.get("/tokens")
def tokens(request: Request, db: DbSession, principal: SignedIn) -> Response:
    """List API tokens (mine, or my organisation's for an admin) with a form for a new one."""
    return _tokens_page(request, db, principal)


@router.post("/tokens")
def add_token(request: Request, db: DbSession, principal: SignedIn, form: CheckedForm) -> Response:
    """Create an API token for myself and show it this once (nobody mints one for another)."""
    name = field(form, "name") or "api"
    days = field(form, "days")
    try:
        if days and (not days.isdigit() or not 1 <= int(days) <= 3650):
            raise InvalidInput(
                "the lifetime is a whole number of days from 1 to 3650", field="days"
            )
        expires = utcnow() + timedelta(days=int(days)) if days else None
        _, secret = flows.create_token(
            session=db,
            principal=principal,
            name=name,
            expires_at=expires,
            scope=field(form, "scope") or TokenScope.READ_WRITE.value,
            # A form naming another owner is refused by the policy, never silently redirected.
            username=field(form, "username") or None,
        )
    except VarselError as exc:
        db.rollback()
        typed = {"name": name, "days": days, "scope": field(form, "scope")}
        return _tokens_page(
            request, db, principal, status_code=status_of(exc), values=typed, **refusal(exc)
        )
    db.commit()
    return _tokens_page(
        request, db, principal, status_code=201, created=(principal.username, secret)
    )


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
        flows.revoke_token(session=db, principal=principal, token_id=token_id)
    except VarselError as exc:
        db.rollback()
        return _tokens_page(request, db, principal, status_code=status_of(exc), error=exc.message)
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
    views = queries.communities(session=db, principal=principal)
    return form_page(
        request,
        "admin_communities.html",
        notices=NOTICES,
        status_code=status_code,
        communities=views,
        organisations=queries.organisations(session=db, principal=principal),
        requests=queries.membership_requests(session=db, principal=principal, views=views),
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
        flows.create_community(
            session=db,
            principal=principal,
            name=field(form, "name"),
            description=field(form, "description"),
            # Unlisted unless the form says otherwise: need-to-know is the default.
            visibility=orgs.parse_visibility(field(form, "visibility") or "unlisted"),
        )
    except VarselError as exc:
        db.rollback()
        return _communities_page(
            request, db, principal, status_code=status_of(exc), error=exc.message
        )
    db.commit()
    return done("/admin/communities", "community_created")


@router.post("/communities/visibility")
def change_visibility(
    request: Request, db: DbSession, principal: Admin, form: CheckedForm
) -> Response:
    """Make a community listed or unlisted (its member org-admins, or hub-admins)."""
    try:
        flows.set_visibility(
            session=db,
            principal=principal,
            community=field(form, "community"),
            visibility=field(form, "visibility"),
        )
    except VarselError as exc:
        db.rollback()
        return _communities_page(
            request, db, principal, status_code=status_of(exc), error=exc.message
        )
    db.commit()
    return done("/admin/communities", "visibility_changed")


@router.post("/communities/members")
def change_member(request: Request, db: DbSession, principal: Admin, form: CheckedForm) -> Response:
    """Propose or make a membership change, as the policy allows (a widening waits)."""
    community, org, op = field(form, "community"), field(form, "org"), field(form, "op")
    try:
        if op == "add":
            outcome = flows.add_member(
                session=db, principal=principal, community=community, org=org
            )
            notice = "member_added" if outcome == "added" else "member_requested"
        elif op == "remove":
            flows.remove_member(session=db, principal=principal, community=community, org=org)
            notice = "member_removed"
        else:
            raise InvalidInput("unknown membership change")
    except VarselError as exc:
        db.rollback()
        return _communities_page(
            request, db, principal, status_code=status_of(exc), error=exc.message
        )
    db.commit()
    return done("/admin/communities", notice)


@router.post("/communities/requests")
def decide_request(
    request: Request, db: DbSession, principal: Admin, form: CheckedForm
) -> Response:
    """Approve or refuse a proposed member, as a second party of the community."""
    op = field(form, "op")
    try:
        if op not in {"approve", "refuse"} or not field(form, "request_id").isdigit():
            raise InvalidInput("unknown membership decision")
        flows.decide_member(
            session=db,
            principal=principal,
            request_id=int(field(form, "request_id")),
            approve=op == "approve",
        )
    except VarselError as exc:
        db.rollback()
        return _communities_page(
            request, db, principal, status_code=status_of(exc), error=exc.message
        )
    db.commit()
    return done("/admin/communities", "request_approved" if op == "approve" else "request_refused")


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
        authorize(session=db, principal=principal, change=Change.COLLECTION_CREATE, target=Target())
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
        return _collections_page(
            request, db, principal, status_code=status_of(exc), error=exc.message
        )
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
