"""Typer application and the set-up and administration commands.

The private modules, by what they hold: ``_hub`` (``init``, ``serve``, ``demo``, ``audit
verify`` and ``hub id``), ``_accounts`` (organisations, users and tokens) and ``_sharing``
(communities and collections); what every command shares (the consoles, the database option and
:func:`~varsel.console.unit_of_work`) is in :mod:`varsel.console`, below the domain CLIs. The
commands are registered here, explicitly, in the order ``varsel --help`` lists them.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from varsel.cli.main._accounts import (
    org_add,
    org_client,
    org_list,
    org_vouch,
    token_create,
    token_list,
    token_revoke,
    user_add,
    user_disable,
    user_password,
)
from varsel.cli.main._hub import audit_verify, demo, hub_id, init, serve
from varsel.cli.main._sharing import (
    collection_add,
    collection_list,
    community_add,
    community_list,
    community_member,
    community_set_visibility,
    object_purge,
    org_identity,
)
from varsel.console import err
from varsel.errors import VarselError

app = typer.Typer(
    help="Varsel: a Nordic cyber-resilience hub (STIX 2.1, TAXII 2.1, TLP 2.0).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
org_app = typer.Typer(
    help="Organisations, their client relations and STIX identities.", no_args_is_help=True
)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
community_app = typer.Typer(help="Communities (sharing groups).", no_args_is_help=True)
collection_app = typer.Typer(help="TAXII collections.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
hub_app = typer.Typer(help="This hub's identity among federated hubs.", no_args_is_help=True)
object_app = typer.Typer(help="STIX objects (administration).", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(community_app, name="community")
app.add_typer(collection_app, name="collection")
app.add_typer(audit_app, name="audit")
app.add_typer(hub_app, name="hub")
app.add_typer(object_app, name="object")

app.command()(init)
app.command()(serve)
app.command()(demo)
org_app.command("add")(org_add)
org_app.command("list")(org_list)
org_app.command("client")(org_client)
org_app.command("vouch")(org_vouch)
org_app.command("identity")(org_identity)
user_app.command("add")(user_add)
user_app.command("password")(user_password)
user_app.command("disable")(user_disable)
token_app.command("create")(token_create)
token_app.command("list")(token_list)
token_app.command("revoke")(token_revoke)
community_app.command("add")(community_add)
community_app.command("member")(community_member)
community_app.command("list")(community_list)
community_app.command("set-visibility")(community_set_visibility)
collection_app.command("add")(collection_add)
collection_app.command("list")(collection_list)
audit_app.command("verify")(audit_verify)
hub_app.command("id")(hub_id)
object_app.command("purge")(object_purge)


def main() -> None:
    """Run the command line; domain and network errors end with a message and exit code 1."""
    try:
        app(default_map=_flags_not_given(app))
    except VarselError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        sys.exit(1)
    except Exception as exc:
        # Only a command that talks to a remote hub imports httpx; importing it here for every
        # command (``--help`` included) would cost a twentieth of a second to catch nothing.
        httpx = sys.modules.get("httpx")
        if httpx is None or not isinstance(exc, httpx.HTTPError):
            raise
        err.print(f"[red]error:[/] cannot reach the hub: {exc}")
        sys.exit(1)


def _flags_not_given(group: typer.Typer) -> dict[str, Any]:
    """Return a default map that sets the flags of every group (``--help`` and the completion
    options) to False, what they mean when not given.

    Typer coerces an absent flag's None through a pydantic ``TypeAdapter``, and building the
    first one imports pydantic: a third of the time ``varsel user add --help`` took, spent on
    the flags of ``varsel`` and ``varsel user`` that were not given. A False is a bool already
    and is not coerced. The commands' own options are coerced as before (a command that runs
    imports pydantic anyway).
    """
    flags: dict[str, Any] = {"help": False}
    if group is app:
        flags |= {"install_completion": False, "show_completion": False}
    for info in group.registered_groups:
        if isinstance(info.name, str) and info.typer_instance is not None:
            flags[info.name] = _flags_not_given(info.typer_instance)
    return flags


__all__ = [
    "app",
    "audit_app",
    "audit_verify",
    "collection_add",
    "collection_app",
    "collection_list",
    "community_add",
    "community_app",
    "community_list",
    "community_member",
    "community_set_visibility",
    "demo",
    "hub_app",
    "hub_id",
    "init",
    "main",
    "object_app",
    "object_purge",
    "org_add",
    "org_app",
    "org_client",
    "org_identity",
    "org_list",
    "org_vouch",
    "serve",
    "token_app",
    "token_create",
    "token_list",
    "token_revoke",
    "user_add",
    "user_app",
    "user_disable",
    "user_password",
]
