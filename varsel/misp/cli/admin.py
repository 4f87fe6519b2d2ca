"""``varsel misp set-collection`` and the sharing mapping (``sharing-group``, ``distribution``).

The local operator acts (``varsel.policy.principal.local_operator``): every change goes through
:mod:`varsel.misp.service`, which asks the policy and audits it under the operating-system
account's name. The mapping is documented in docs/misp.md ("Sharing").
"""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

from typing import Annotated

import typer
from rich.table import Table

from varsel.console import DatabaseOpt, local_operator, out, unit_of_work

sharing_group_app = typer.Typer(
    help=(
        "MISP sharing groups ⇄ hub organisations. An item MISP shares with a mapped group "
        "(distribution 4) becomes TLP:AMBER+STRICT (TLP:RED if tagged so) addressed to the "
        "group's organisations; an unmapped group's items go to their producer only."
    ),
    no_args_is_help=True,
)
distribution_app = typer.Typer(
    help=(
        "Ceilings of MISP distributions 0-3: the least restrictive TLP level an item of that "
        "distribution gets. Defaults: 0 red, 1 green, 2 green, 3 clear; a ceiling may only be "
        "made more restrictive."
    ),
    no_args_is_help=True,
)


def set_collection(
    org: Annotated[str, typer.Argument(metavar="ORG", help="The organisation, by name.")],
    collection: Annotated[
        str,
        typer.Argument(
            metavar="COLLECTION",
            help="The collection, by id, alias or title; ORG must write there.",
        ),
    ],
    database_url: DatabaseOpt = None,
) -> None:
    """Make COLLECTION where ORG's events added through the MISP API (/misp/) land."""
    from varsel.misp import service

    with unit_of_work(database_url) as session:
        chosen = service.set_collection(
            session=session, principal=local_operator(), org=org, collection=collection
        )
        title, cid = chosen.title, chosen.id
    out.print(f"MISP events of {org!r} now land in {title!r} ({cid})")


def sharing_group_set(
    uuid: Annotated[
        str, typer.Argument(metavar="UUID", help="The sharing group's uuid, as MISP shows it.")
    ],
    name: Annotated[str, typer.Option("--name", help="The sharing group's name in MISP.")],
    recipient: Annotated[
        list[str],
        typer.Option(
            "--recipient",
            help="A hub organisation the group's items go to; repeat for each.",
        ),
    ],
    database_url: DatabaseOpt = None,
) -> None:
    """Map the sharing group UUID to hub organisations (replaces an earlier mapping)."""
    from varsel.misp import service

    with unit_of_work(database_url) as session:
        group = service.set_sharing_group(
            session=session, principal=local_operator(), uuid=uuid, name=name, recipients=recipient
        )
    out.print(f"sharing group {group.name!r} ({group.uuid}) → {', '.join(group.recipients)}")


def sharing_group_list(database_url: DatabaseOpt = None) -> None:
    """List the mapped sharing groups and their hub organisations."""
    from varsel.misp import service

    table = Table("uuid", "name", "hub organisations")
    with unit_of_work(database_url) as session:
        for group in service.sharing_groups(session=session):
            table.add_row(group.uuid, group.name, ", ".join(group.recipients))
    out.print(table)


def sharing_group_remove(
    uuid: Annotated[str, typer.Argument(metavar="UUID", help="The sharing group's uuid.")],
    database_url: DatabaseOpt = None,
) -> None:
    """Forget a sharing group's mapping; its items then go to their producer only."""
    from varsel.misp import service

    with unit_of_work(database_url) as session:
        service.remove_sharing_group(session=session, principal=local_operator(), uuid=uuid)
    out.print(f"sharing group {uuid} removed")


def distribution_set(
    n: Annotated[str, typer.Argument(metavar="N", help="The MISP distribution, 0-3.")],
    level: Annotated[
        str,
        typer.Argument(
            metavar="LEVEL", help="clear, green, amber, amber+strict or red; never broader."
        ),
    ],
    database_url: DatabaseOpt = None,
) -> None:
    """Set the ceiling of distribution N: its items get at least LEVEL."""
    from varsel.misp import service

    with unit_of_work(database_url) as session:
        tlp = service.set_ceiling(
            session=session, principal=local_operator(), distribution=n, level=level
        )
    out.print(f"distribution {n}: at least {tlp.label}")


def distribution_list(database_url: DatabaseOpt = None) -> None:
    """List the ceilings of distributions 0-3 (the defaults where none is set)."""
    from varsel.misp import service, sharing

    table = Table("distribution", "MISP's name", "ceiling", "default")
    with unit_of_work(database_url) as session:
        mapping = service.mapping_of(session)
    for number, default in sharing.DEFAULT_CEILINGS.items():
        table.add_row(
            str(number),
            sharing.DISTRIBUTIONS[number],
            mapping.ceilings[number].label,
            default.label,
        )
    out.print(table)


def mapping(database_url: DatabaseOpt = None) -> None:
    """Show the whole MISP mapping: organisations' collections, ceilings and sharing groups."""
    from varsel.misp import service, sharing

    with unit_of_work(database_url) as session:
        operator = local_operator()
        landing = service.org_collections(session=session, principal=operator)
        current = service.mapping_of(session)
        groups = service.sharing_groups(session=session)
    table = Table("organisation", "collection", "id", "set by", title="Where MISP events land")
    for row in landing:
        table.add_row(row.org, row.collection_title, row.collection_id, row.set_by)
    out.print(table)
    ceilings = Table("distribution", "MISP's name", "ceiling", title="Distribution ceilings")
    for number in sharing.DEFAULT_CEILINGS:
        ceilings.add_row(str(number), sharing.DISTRIBUTIONS[number], current.ceilings[number].label)
    out.print(ceilings)
    shown = Table("uuid", "name", "hub organisations", title="Sharing groups (distribution 4)")
    for group in groups:
        shown.add_row(group.uuid, group.name, ", ".join(group.recipients))
    out.print(shown)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``varsel misp``."""
    app.command("set-collection")(set_collection)
    app.command("mapping")(mapping)
    sharing_group_app.command("set")(sharing_group_set)
    sharing_group_app.command("list")(sharing_group_list)
    sharing_group_app.command("remove")(sharing_group_remove)
    distribution_app.command("set")(distribution_set)
    distribution_app.command("list")(distribution_list)
    app.add_typer(sharing_group_app, name="sharing-group")
    app.add_typer(distribution_app, name="distribution")
