"""``varsel scan``, ``varsel export`` and ``varsel sightings``: matching from the command line."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from varsel.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from varsel.policy.principal import Principal

err = Console(stderr=True)
AsOpt = Annotated[str, typer.Option("--as", help="Act as this local user (whose indicators).")]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url", envvar="VARSEL_DATABASE_URL", help="SQLAlchemy URL of the hub's database."
    ),
]
_PROGRESS_BYTES = 8 * 1024 * 1024

sightings_app = typer.Typer(
    help="Sightings: share matches back, read community aggregates.", no_args_is_help=True
)


def _principal(session: Session, username: str) -> Principal:
    from varsel.orgs import service as orgs
    from varsel.policy.principal import principal_of

    return principal_of(orgs.get_user(session=session, username=username))


def _parse_at(at: str | None) -> datetime | None:
    if not at:
        return None
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"--at must be an ISO 8601 time, got {at!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def scan(
    logs: Annotated[
        list[Path],
        typer.Argument(
            help="Log files (gzip is fine).", exists=True, dir_okay=False, readable=True
        ),
    ],
    as_user: AsOpt,
    format: Annotated[
        str | None,
        typer.Option("--format", help="zeek, eve, csv, jsonl or text (detected when not given)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write the JSON lines here instead of standard output.")
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="CSV/JSON column mapping COLUMN=ROLE[:src|dst] (ip, domain, url, email, "
            "hash, any); repeat.",
        ),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="CSV delimiter (default by suffix).")
    ] = None,
    subdomains: Annotated[
        bool, typer.Option(help="Let every domain indicator match its subdomains too.")
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(help="Use the indicators valid at this time (retro-hunting); default now."),
    ] = None,
    share_sightings: Annotated[
        str | None,
        typer.Option(
            help="Share the matches as STIX sightings into this collection (id, alias or title)."
        ),
    ] = None,
    tlp: Annotated[str, typer.Option(help="TLP of shared sightings.")] = "amber",
    threads: Annotated[bool, typer.Option(help="Let the CSV parser use every core.")] = False,
    warninglists: Annotated[
        bool,
        typer.Option(
            help="Also flag indicators on the MISP warning lists (ingest flags them when they "
            "are shared; loading the lists takes about 3 s; never cached)."
        ),
    ] = False,
    cache: Annotated[
        bool,
        typer.Option(
            help="Keep the compiled indicators in the data directory and compile only what "
            "changed next time (not with --at or --warninglists)."
        ),
    ] = True,
    database_url: DatabaseOpt = None,
) -> None:
    """Match logs against the indicators USER may read; one JSON line per match."""
    from varsel.console import settings_for, unit_of_work
    from varsel.matching import _fields, _readers, _scan

    try:
        mapping = _fields.parse_mapping(column) if column else None
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    moment = _parse_at(at)
    with unit_of_work(database_url) as session:
        principal = _principal(session, as_user)
        if cache and moment is None and not warninglists:
            from varsel.config import default_data_dir
            from varsel.matching._cache import compile_cached

            settings = settings_for(database_url)
            cached = compile_cached(
                session=session,
                principal=principal,
                directory=default_data_dir() / "scan-cache",
                secret=settings.secret_key,
                database_url=settings.database_url,
                include_subdomains=subdomains,
            )
            compiled = cached.compiled
            err.print(
                f"compiled indicators {cached.how} ({cached.new_rows} rows compiled, "
                f"{cached.dropped_rows} dropped)"
            )
        else:
            from varsel.matching import _compile

            compiled = _compile.compile_for(
                session=session,
                principal=principal,
                at=moment,
                include_subdomains=subdomains,
                warn=warninglists,
            )
        _report_compile(compiled.report)
        # End the transaction before reading the logs: on SQLite every transaction holds the
        # hub's write lock (varsel.db), and a scan of a large log must not keep writers waiting.
        # Sharing sightings afterwards begins a new one.
        session.commit()
        stats = _readers.ReadStats()
        tallies: list[_scan.Match] = []
        handle: IO[str] = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        total = sum(p.stat().st_size for p in logs)
        matches = 0
        try:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
                disable=total < _PROGRESS_BYTES,
            ) as progress:
                task = progress.add_task("scanning", total=total)
                done = 0
                for path in logs:
                    base = done

                    def advance(n: int, base: int = base) -> None:
                        progress.update(task, completed=base + n)

                    try:
                        found = _scan.scan(
                            path,
                            compiled,
                            format,
                            mapping=mapping,
                            delimiter=delimiter,
                            threads=threads,
                            stats=stats,
                            progress=advance,
                        )
                        for match in found:
                            handle.write(json.dumps(match.as_dict(), default=str) + "\n")
                            matches += 1
                            if share_sightings:
                                tallies.append(
                                    _scan.Match(
                                        match.indicator_id, None, "", "", "", 0, match.time, {}
                                    )
                                )
                    except _readers.LogFormatError as exc:
                        err.print(f"[red]error:[/] {path}: {exc}")
                        raise typer.Exit(1) from None
                    done += path.stat().st_size
        finally:
            if output:
                handle.close()
        err.print(
            f"{stats.lines} log lines read, {matches} matches"
            + (f", {stats.skipped} unreadable lines skipped" if stats.skipped else "")
        )
        for example in stats.examples:
            err.print(f"  skipped: {example!r}")
        if share_sightings:
            from varsel.matching import flows

            result = flows.share_sightings(
                session=session,
                principal=principal,
                matches=tallies,
                collection=share_sightings,
                tlp=tlp,
            )
            shared = (
                0
                if result is None
                else sum(1 for o in result.successes if (o.id or "").startswith("sighting--"))
            )
            err.print(f"{shared} sightings shared into {share_sightings!r} under TLP:{tlp.upper()}")
            for failure in result.failures if result else []:
                err.print(f"  [red]rejected[/] {failure.id}: {failure.message}")


def _report_compile(report: object) -> None:
    data = report.as_dict()  # type: ignore[attr-defined]
    err.print(
        f"{data['compiled']} indicators compiled ({data['atoms']} values); left out: "
        f"{data['revoked']} revoked, {data['expired']} expired, {data['not_yet_valid']} "
        f"not yet valid, {data['not_stix_patterns']} not STIX, "
        f"{len(data['unsupported'])} unsupported"
    )
    for item in data["unsupported"][:10]:
        err.print(f"  unsupported {item['id']}: {item['reason']}")
    for item in data["warning_lists"][:10]:
        err.print(f"  [yellow]warning[/] {item['id']}: {item['warning']}")


def export(
    as_user: AsOpt,
    format: Annotated[
        str, typer.Option("--format", help="suricata, suricata-dataset, zeek, plain, csv or stix.")
    ],
    type: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            help="Only these types (ip, cidr, domain, url, email, md5, sha1, sha256, "
            "sha512); repeat or comma-separate.",
        ),
    ] = None,
    tlp: Annotated[
        list[str] | None,
        typer.Option("--tlp", help="Only these TLP levels; repeat or comma-separate."),
    ] = None,
    collection: Annotated[
        list[str] | None,
        typer.Option("--collection", help="Only these collections (id, alias or title)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only indicators added since (a date).")
    ] = None,
    max_age: Annotated[
        str | None, typer.Option("--max-age", help="Only indicators added within 12h, 30d, 2w.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Export the indicators USER may read for a sensor (the API's filters as options)."""
    from varsel.console import unit_of_work
    from varsel.matching import exports, flows

    with unit_of_work(database_url) as session:
        principal = _principal(session, as_user)
        filters = exports.parse_filters(
            session=session,
            principal=principal,
            tlp=tlp,
            collection=collection,
            since=since,
            max_age=max_age,
        )
        result = exports.export(
            session=session, principal=principal, fmt=format, types=type, filters=filters
        )
        flows.record_export_delivery(session=session, principal=principal, result=result)
    if output:
        output.write_text(result.body, encoding="utf-8")
        err.print(f"{result.count} entries written to {output}")
    else:
        sys.stdout.write(result.body)


@sightings_app.command("aggregates")
def aggregates_cmd(
    as_user: AsOpt,
    indicator: Annotated[list[str] | None, typer.Option(help="Only these indicator ids.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Print the k-anonymous community sighting aggregates USER may see, as JSON lines."""
    from varsel.console import unit_of_work
    from varsel.matching import aggregates

    with unit_of_work(database_url) as session:
        rows = aggregates.aggregates(
            session=session,
            principal=_principal(session, as_user),
            indicator_ids=indicator,
        )
    for row in rows:
        sys.stdout.write(json.dumps(row.as_dict()) + "\n")


def register(app: typer.Typer) -> None:
    """Add the matching commands to the ``varsel`` application."""
    app.command("scan")(scan)
    app.command("export")(export)
    app.add_typer(sightings_app, name="sightings")
