"""Where objects are shared: communities and their members, TAXII collections, and the STIX
identities an organisation may name as the creator of what it shares."""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

from typing import Annotated

import typer
from rich.table import Table

from varsel.console import DatabaseOpt, local_operator, out, unit_of_work


def community_add(
    name: str,
    member: Annotated[
        list[str] | None, typer.Option(help="A member organisation (repeat).")
    ] = None,
    description: str = "",
    listed: Annotated[
        bool,
        typer.Option(
            "--listed/--unlisted",
            help="Whether every user may see it, its members and collections (default: unlisted).",
        ),
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a community with its member organisations (as the local operator)."""
    from varsel.orgs import flows
    from varsel.orgs.models import Visibility

    operator = local_operator()
    visibility = Visibility.LISTED if listed else Visibility.UNLISTED
    with unit_of_work(database_url) as session:
        flows.create_community(
            session=session,
            principal=operator,
            name=name,
            description=description,
            visibility=visibility,
        )
        for org in member or []:
            flows.add_member(session=session, principal=operator, community=name, org=org)
    out.print(f"community {name!r} ({visibility.value}) added with {len(member or [])} members")


def community_set_visibility(
    name: str,
    visibility: Annotated[str, typer.Argument(help="listed or unlisted.")],
    database_url: DatabaseOpt = None,
) -> None:
    """Make community NAME listed (seen by every user) or unlisted (members and hub-admins)."""
    from varsel.orgs import flows

    operator = local_operator()
    with unit_of_work(database_url) as session:
        row = flows.set_visibility(
            session=session, principal=operator, community=name, visibility=visibility
        )
        shown = row.visibility
    out.print(f"community {name!r} is now {shown}")


def community_list(
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="List what this user may see (default: every community)."),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """List communities with their visibility and members, as the policy shows them."""
    from varsel.orgs import flows, service
    from varsel.policy.principal import principal_of

    with unit_of_work(database_url) as session:
        principal = (
            local_operator()
            if as_user is None
            else principal_of(service.get_user(session=session, username=as_user))
        )
        table = Table("name", "visibility", "members")
        for community, members in flows.visible_communities(session=session, principal=principal):
            table.add_row(community.name, community.visibility, ", ".join(members))
    out.print(table)


def community_member(
    name: str,
    org: str,
    remove: Annotated[bool, typer.Option(help="Remove the member instead.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Add ORG to community NAME (or remove it); takes effect at once.

    The local operator adds directly; on the web, an addition to a community with members
    waits for a second party's approval.
    """
    from varsel.orgs import flows

    operator = local_operator()
    with unit_of_work(database_url) as session:
        if remove:
            flows.remove_member(session=session, principal=operator, community=name, org=org)
        else:
            flows.add_member(session=session, principal=operator, community=name, org=org)
    out.print(f"{org!r} {'removed from' if remove else 'added to'} {name!r}")


def collection_add(
    title: str,
    community: Annotated[str, typer.Option(help="The owning community.")],
    default_tlp: Annotated[
        str, typer.Option(help="TLP for unmarked objects: clear, green, amber, amber+strict, red.")
    ],
    description: str = "",
    alias: Annotated[str | None, typer.Option(help="A short name usable in URLs.")] = None,
    read_roles: Annotated[
        str | None, typer.Option(help="Space-separated roles that may read (default: all).")
    ] = None,
    write_roles: Annotated[
        str | None, typer.Option(help="Space-separated roles that may write (default: all).")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a TAXII collection owned by a community; prints its id on stdout."""
    from varsel.sharing import service

    with unit_of_work(database_url) as session:
        row = service.add_collection(
            session=session,
            title=title,
            community=community,
            default_tlp=default_tlp,
            description=description,
            alias=alias,
            read_roles=read_roles,
            write_roles=write_roles,
        )
    typer.echo(row.id)


def collection_list(database_url: DatabaseOpt = None) -> None:
    """List collections."""
    from sqlalchemy import select

    from varsel.orgs.models import Community
    from varsel.sharing.models import Collection

    with unit_of_work(database_url) as session:
        table = Table("id", "title", "community", "default TLP")
        rows = session.execute(
            select(Collection, Community.name)
            .join(Community, Community.id == Collection.community_id)
            .order_by(Collection.title)
        )
        for coll, community in rows:
            table.add_row(coll.id, coll.title, community, coll.default_tlp)
    out.print(table)


def org_identity(
    org: str,
    identity_id: str,
    remove: Annotated[bool, typer.Option(help="Remove the registration instead.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Let ORG name IDENTITY_ID as created_by_ref of the objects it shares (or stop it)."""
    from varsel.sharing import service

    with unit_of_work(database_url) as session:
        if remove:
            service.remove_identity(session=session, org=org, identity_id=identity_id)
        else:
            service.register_identity(session=session, org=org, identity_id=identity_id)
    out.print(
        f"{org!r} {'may no longer' if remove else 'may now'} name {identity_id} as created_by_ref"
    )


def object_purge(
    stix_id: str,
    collection: Annotated[
        str | None,
        typer.Option(help="Purge from this collection (id, alias or title) only; default: all."),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Delete every version of STIX_ID, whoever produced it (as the local operator; audited).

    Peer hubs that could read the versions first stored here are sent a signed 'purged'
    tombstone; copies received from other hubs are deleted here only.
    """
    from varsel.sharing import tombstones

    with unit_of_work(database_url) as session:
        deleted = tombstones.purge(
            session=session, principal=local_operator(), stix_id=stix_id, collection=collection
        )
    for collection_id, count in sorted(deleted.items()):
        out.print(f"purged {count} version(s) of {stix_id} from collection {collection_id}")
