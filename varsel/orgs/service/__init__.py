"""Organisations, users, tokens and communities: plain functions over a session.

Secrets: passwords are hashed with argon2id; API tokens are random 256-bit strings of which only
the SHA-256 is stored (a fast hash suffices for a high-entropy secret and keeps Bearer
authentication cheap). Neither is ever logged or returned after creation.

The private modules, by what they hold: ``_orgs`` (organisations and client relations),
``_users`` (users, roles and password sign-in), ``_tokens`` (API tokens and bearer
authentication), ``_lifecycle`` (password changes, disabling), ``_communities`` (communities,
their members and membership requests) and ``_vouch`` (a hub-admin vouching for an
organisation). Who may call the changing functions is decided by the policy, in
``varsel.orgs.flows``; the principal, who is asking, is the policy's too
(:mod:`varsel.policy.principal`).
"""

from __future__ import annotations

from varsel.orgs.service._communities import (
    add_community,
    add_member,
    decide_request,
    get_community,
    list_communities,
    members_of,
    parse_visibility,
    pending_requests,
    remove_member,
    request_member,
    set_visibility,
)
from varsel.orgs.service._lifecycle import (
    change_own_password,
    disable_user,
    enable_user,
    set_password,
)
from varsel.orgs.service._orgs import add_client, add_org, get_org, list_orgs, remove_client
from varsel.orgs.service._throttle import (
    count_failure,
    count_in_window,
    current_wait,
    throttle_key,
    window_full,
)
from varsel.orgs.service._tokens import (
    TOKEN_PREFIX,
    TokenCheck,
    authenticate_token,
    create_token,
    list_tokens,
    parse_scope,
    revoke_all_tokens,
    revoke_token,
)
from varsel.orgs.service._users import (
    add_user,
    authenticate_password,
    check_password,
    find_user,
    get_user,
    prepare_sign_in,
    set_role,
)
from varsel.orgs.service._vouch import vouch_org

__all__ = [
    "TOKEN_PREFIX",
    "add_client",
    "add_community",
    "add_member",
    "add_org",
    "add_user",
    "authenticate_password",
    "authenticate_token",
    "change_own_password",
    "check_password",
    "count_failure",
    "count_in_window",
    "create_token",
    "current_wait",
    "decide_request",
    "disable_user",
    "enable_user",
    "find_user",
    "prepare_sign_in",
    "get_community",
    "get_org",
    "get_user",
    "list_communities",
    "list_orgs",
    "list_tokens",
    "members_of",
    "parse_scope",
    "parse_visibility",
    "pending_requests",
    "remove_client",
    "remove_member",
    "request_member",
    "revoke_all_tokens",
    "revoke_token",
    "set_password",
    "set_role",
    "set_visibility",
    "throttle_key",
    "TokenCheck",
    "vouch_org",
    "window_full",
]
