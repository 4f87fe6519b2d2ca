"""``varsel peer …``: the hubs this one pulls from and pushes to (docs/federation.md).

Changes are made as the local operator and audited (``peer.add``, ``peer.link``, …); the work is
done in :mod:`varsel.federation.service` and :mod:`varsel.federation.worker`. A peer's token is
read from the file given, copied to ``<data dir>/peers/NAME.token`` (mode 0600) and never shown.
"""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from varsel.console import DatabaseOpt, err, local_operator, out, settings_for, unit_of_work

peer_app = typer.Typer(
    help="Peer hubs: register them, map their collections onto ours, watch and run the sync.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The peer hub's name (its VARSEL_HUB_NAME).")]
KeyOpt = Annotated[
    str,
    typer.Option(
        "--public-key", help="The hub's Ed25519 public key, base64, as `varsel hub id` prints it."
    ),
]
CountryOpt = Annotated[
    str | None,
    typer.Option(
        help="ISO 3166-1 alpha-2 country of the hub; needed when its organisation is created."
    ),
]


def peer_add(
    name: NameArg,
    url: Annotated[
        str,
        typer.Option(help="The peer's TAXII API root, e.g. https://hub-b.example/taxii2/hub/."),
    ],
    token_file: Annotated[
        Path,
        typer.Option(
            help="A file holding the API token of this hub's user at the peer (copied, mode 0600).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    public_key: KeyOpt,
    country: CountryOpt = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(help="PEM file of the CAs to verify the peer's TLS certificate with."),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Register peer hub NAME: pin its key, make its organisation (kind hub), keep its token."""
    from varsel.federation import service

    settings = settings_for(database_url)
    with unit_of_work(database_url) as session:
        peer = service.add_peer(
            session=session,
            principal=local_operator(),
            own_name=settings.hub_name,
            data_dir=settings.data_dir,
            name=name,
            url=url,
            token_file=token_file,
            public_key=public_key,
            country=country,
            ca_bundle=ca_bundle,
        )
        where = peer.url
    out.print(f"peer {name!r} added at {where}; its token is kept in {settings.data_dir}/peers/")
    if where.startswith("http://"):
        err.print("[yellow]warning:[/] plain http: the token and the data travel unencrypted")


def peer_link(
    name: NameArg,
    remote: Annotated[str, typer.Option(help="The peer's collection: id or title.")],
    local: Annotated[str, typer.Option(help="The local collection: id, alias or title.")],
    direction: Annotated[
        str, typer.Option(help="pull (from the peer), push (to the peer) or both.")
    ],
    database_url: DatabaseOpt = None,
) -> None:
    """Map the peer's collection REMOTE onto LOCAL (asks the peer which collections it has)."""
    from varsel.federation import client, service

    with unit_of_work(database_url) as session:
        peer = service.endpoint(session=session, name=name)
    # Asked between two units of work: no write lock is held while the peer answers.
    offered = client.list_collections(url=peer.url, token=peer.token, ca_bundle=peer.ca_bundle)
    with unit_of_work(database_url) as session:
        row = service.link(
            session=session,
            principal=local_operator(),
            name=name,
            remote=remote,
            local=local,
            direction=direction,
            remote_collections=offered,
        )
        text = f"link {row.id}: {name}:{row.remote_collection_id} {row.direction} {local!r}"
    out.print(text)


def peer_list(database_url: DatabaseOpt = None) -> None:
    """List the peers, their pinned keys and their links."""
    from varsel.federation import service

    with unit_of_work(database_url) as session:
        peers = service.list_peers(session=session)
    table = Table("name", "url", "country", "public key", "links")
    for peer in peers:
        links = "\n".join(f"{r} {d} {lc}" for r, lc, d in peer.links) or "-"
        table.add_row(peer.name, peer.url, peer.country or "", peer.public_key, links)
    out.print(table)


def peer_remove(name: NameArg, database_url: DatabaseOpt = None) -> None:
    """Remove peer NAME, its links and its token (its pinned key and organisation stay)."""
    from varsel.federation import service

    settings = settings_for(database_url)
    with unit_of_work(database_url) as session:
        service.remove_peer(
            session=session, principal=local_operator(), data_dir=settings.data_dir, name=name
        )
    out.print(f"peer {name!r} removed")


def peer_trust(
    name: NameArg, public_key: KeyOpt, country: CountryOpt = None, database_url: DatabaseOpt = None
) -> None:
    """Pin the key of origin hub NAME, whose objects arrive through other hubs (or re-pin it)."""
    from varsel.federation import service

    settings = settings_for(database_url)
    with unit_of_work(database_url) as session:
        service.trust(
            session=session,
            principal=local_operator(),
            own_name=settings.hub_name,
            name=name,
            public_key=public_key,
            country=country,
        )
    out.print(f"key of {name!r} pinned")


def peer_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Show each link's state, last success, lag, last error, refusals and pending tombstones.

    Also lists the hubs that subscribe to this one's stream, with what they acknowledged.
    """
    from varsel.federation import service

    with unit_of_work(database_url) as session:
        report = service.status(session=session)
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    worker = report["worker"]
    out.print(f"worker: {'running in ' + worker['holder'] if worker['running'] else 'not running'}")
    table = Table(
        "peer",
        "link",
        "direction",
        "state",
        "last success",
        "lag",
        "refused",
        "pending ⨯",
        "last error",
    )
    for peer in report["peers"]:
        for lk in peer["links"]:
            lag = (
                f"{lk['lag_objects']} / {lk['lag_seconds']:.1f} s"
                if lk["lag_objects"] is not None and lk["lag_seconds"] is not None
                else "-"
            )
            reasons = "; ".join(r["reason"] for r in lk["latest_refusals"][:2])
            table.add_row(
                peer["name"],
                f"{lk['remote_collection']} ↔ {lk['local_collection']}",
                lk["direction"],
                lk["state"],
                lk["last_success_at"] or "-",
                lag,
                f"{lk['refused']}" + (f" ({reasons})" if reasons else ""),
                str(lk["pending_tombstones"]),
                lk["last_error"] or "",
            )
        if not peer["links"]:
            table.add_row(peer["name"], "-", "", "", "", "", str(peer["refused"]), "", "")
    out.print(table)
    if report["subscribers"]:
        subs = Table("subscriber", "collection", "acknowledged", "pending ⨯")
        for sub in report["subscribers"]:
            subs.add_row(
                sub["org"],
                sub["collection"],
                sub["position_at"] or "-",
                str(sub["pending_tombstones"]),
            )
        out.print(subs)
    if report["inbound_refusals"]:
        refused = Table("refused from", "when", "object", "why")
        for r in report["inbound_refusals"]:
            refused.add_row(r["peer"], r["at"] or "-", r["stix_id"] or "-", r["reason"])
        out.print(refused)


def peer_sync(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Bring every link up to date, print a summary and exit (1 if any failed).",
        ),
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Run the federation worker here (`varsel serve` runs it too); --once: catch up and exit."""
    import logging
    import threading

    from sqlalchemy import inspect

    from varsel.db import make_engine, make_sessionmaker
    from varsel.federation.worker import Worker

    settings = settings_for(database_url)
    engine = make_engine(settings.database_url)
    if not inspect(engine).has_table("peers"):
        err.print("[red]error:[/] the database has no hub yet; run [bold]varsel init[/] first")
        raise typer.Exit(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    worker = Worker(
        make_sessionmaker(engine),
        readers=make_sessionmaker(engine, read_only=True),
        hub_name=settings.hub_name,
    )
    try:
        if not once:
            stop = threading.Event()
            try:
                worker.run(stop)
            except KeyboardInterrupt:
                stop.set()
            return
        outcomes = worker.run_once()
    finally:
        engine.dispose()
    for o in outcomes:
        line = f"{o.peer} link {o.link_id} {o.direction}: {o.moved} objects"
        if o.ok:
            out.print(f"{line}, up to date")
        else:
            out.print(f"{line}, [red]failed[/]: {o.error}", soft_wrap=True)
    failed = sum(not o.ok for o in outcomes)
    out.print(f"{len(outcomes)} link directions, {failed} failed")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``peer`` group to the command line."""
    peer_app.command("add")(peer_add)
    peer_app.command("link")(peer_link)
    peer_app.command("list")(peer_list)
    peer_app.command("remove")(peer_remove)
    peer_app.command("trust")(peer_trust)
    peer_app.command("status")(peer_status)
    peer_app.command("sync")(peer_sync)
    app.add_typer(peer_app, name="peer")
