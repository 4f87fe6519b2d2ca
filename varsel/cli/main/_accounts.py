"""Who takes part: organisations and client relations, users, and their API tokens.

A new user's password is read from stdin, or prompted for twice on a terminal; a new token is
printed once, alone on stdout, and never stored. Changes go through ``varsel.orgs.flows`` as the
local operator (``varsel.policy.principal.local_operator``), the principal the policy gives whoever
runs the hub's command line: it holds the database already, and every change is audited under
the operating-system account's name.
"""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from varsel.console import DatabaseOpt, err, local_operator, out, unit_of_work


def org_add(
    name: str,
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code, e.g. NO.")],
    kind: Annotated[
        str,
        typer.Option(
            help="company, authority, csirt, defence, international-partner, or hub (a peer hub)."
        ),
    ],
    sector: Annotated[str | None, typer.Option(help="NIS2 sector.")] = None,
    subsector: Annotated[str | None, typer.Option(help="NIS2 subsector.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Add an organisation."""
    from varsel.orgs import flows

    with unit_of_work(database_url) as session:
        org = flows.create_org(
            session=session,
            principal=local_operator(),
            name=name,
            country=country,
            kind=kind,
            sector=sector,
            subsector=subsector,
        )
    out.print(f"organisation {org.name!r} ({org.country}, {org.kind}) added")


def org_list(database_url: DatabaseOpt = None) -> None:
    """List organisations."""
    from varsel.orgs import service

    with unit_of_work(database_url) as session:
        table = Table("name", "country", "kind", "sector")
        for org in service.list_orgs(session=session):
            table.add_row(org.name, org.country, org.kind, org.sector or "")
    out.print(table)


def org_client(
    provider: str,
    client: str,
    remove: Annotated[bool, typer.Option(help="Remove the relation instead.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Register CLIENT as a client of PROVIDER (who may then re-share TLP:AMBER to it)."""
    from varsel.orgs import service

    operator = local_operator().label
    with unit_of_work(database_url) as session:
        if remove:
            service.remove_client(session=session, provider=provider, client=client, actor=operator)
        else:
            service.add_client(session=session, provider=provider, client=client, actor=operator)
    out.print(f"{client!r} is {'no longer' if remove else 'now'} a client of {provider!r}")


def _read_password() -> str:
    if sys.stdin.isatty():
        first = typer.prompt("Password", hide_input=True)
        second = typer.prompt("Repeat password", hide_input=True)
        if first != second:
            err.print("[red]error:[/] the passwords differ")
            raise typer.Exit(1)
        return str(first)
    return sys.stdin.readline().rstrip("\r\n")


def user_add(
    username: str,
    org: Annotated[str, typer.Option(help="The user's organisation.")],
    role: Annotated[str, typer.Option(help="analyst, org-admin or hub-admin.")] = "analyst",
    database_url: DatabaseOpt = None,
) -> None:
    """Add a user; the password is read from stdin (or prompted for on a terminal)."""
    from varsel.orgs import flows

    password = _read_password()
    with unit_of_work(database_url) as session:
        flows.create_user(
            session=session,
            principal=local_operator(),
            username=username,
            org=org,
            role=role,
            password=password,
        )
    err.print(f"user {username!r} added to {org!r} as {role}")


def user_password(username: str, database_url: DatabaseOpt = None) -> None:
    """Set USERNAME's password (from stdin, or prompted for); ends their sessions and tokens."""
    from varsel.orgs import service

    password = _read_password()
    with unit_of_work(database_url) as session:
        user = service.get_user(session=session, username=username)
        service.set_password(
            session=session, user=user, password=password, actor=local_operator().label
        )
    err.print(f"password of {username!r} set; their sessions ended and their tokens were revoked")


def user_disable(
    username: str,
    enable: Annotated[
        bool, typer.Option("--enable", help="Enable the user again instead.")
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Disable USERNAME (no sign-in; sessions end, tokens are revoked), or --enable again."""
    from varsel.orgs import flows

    with unit_of_work(database_url) as session:
        flows.set_enabled(
            session=session,
            principal=local_operator(),
            username=username,
            enabled=enable,
        )
    err.print(f"user {username!r} {'enabled' if enable else 'disabled'}")


def token_create(
    username: str,
    name: Annotated[str, typer.Option(help="A label for the token.")] = "cli",
    expires_days: Annotated[
        int | None, typer.Option(help="Days until the token expires (default: never).", min=1)
    ] = None,
    scope: Annotated[
        str, typer.Option(help="read (changes nothing) or read-write.")
    ] = "read-write",
    database_url: DatabaseOpt = None,
) -> None:
    """Create an API token for USERNAME and print only the token on stdout.

    Issued by the local operator, who holds the database; on the web and the REST API a token
    is made by its owner only.
    """
    from varsel.orgs import flows

    expires = (
        datetime.now(UTC).replace(tzinfo=None) + timedelta(days=expires_days)
        if expires_days
        else None
    )
    with unit_of_work(database_url) as session:
        _, token = flows.create_token(
            session=session,
            principal=local_operator(),
            username=username,
            name=name,
            expires_at=expires,
            scope=scope,
        )
    typer.echo(token)


def token_list(username: str, database_url: DatabaseOpt = None) -> None:
    """List a user's tokens (never the tokens themselves)."""
    from varsel.orgs import service

    with unit_of_work(database_url) as session:
        table = Table(
            "id", "name", "scope", "parent", "prefix", "created", "expires", "revoked", "last used"
        )
        for row in service.list_tokens(session=session, username=username):
            table.add_row(
                str(row.id),
                row.name,
                row.scope,
                str(row.parent_id or ""),
                f"vs_{row.prefix}…",
                str(row.created_at)[:19],
                str(row.expires_at or "")[:19],
                str(row.revoked_at or "")[:19],
                str(row.last_used_at or "")[:19],
            )
    out.print(table)


def token_revoke(token_id: int, database_url: DatabaseOpt = None) -> None:
    """Revoke a token by its id, and every token made with it."""
    from varsel.orgs import flows

    with unit_of_work(database_url) as session:
        flows.revoke_token(session=session, principal=local_operator(), token_id=token_id)
    out.print(f"token {token_id} revoked")


def org_vouch(
    name: str,
    remove: Annotated[bool, typer.Option(help="Withdraw the vouching instead.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Vouch, as the hub's operator, that NAME is a real organisation: only vouched
    organisations count toward sighting aggregates."""
    from varsel.orgs import service

    with unit_of_work(database_url) as session:
        org = service.vouch_org(
            session=session, name=name, actor=local_operator().label, remove=remove
        )
        vouched = org.vouched_at is not None
        when = f" since {org.vouched_at:%Y-%m-%d %H:%M} UTC" if org.vouched_at else ""
    out.print(f"{name!r} is {'vouched for' if vouched else 'not vouched for'}{when}")
