"""``varsel backup FILE`` and ``varsel restore FILE``; the work is done in :mod:`varsel.backup`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from varsel.console import DatabaseOpt, err, local_operator, out, settings_for

if TYPE_CHECKING:
    from varsel.backup import Progress

FileArg = Annotated[Path, typer.Argument(help="The backup file.", dir_okay=False)]


@contextmanager
def _progress() -> Iterator[Progress]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("starting", total=None)

        def report(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total or None)

        yield report


def backup(file: FileArg, database_url: DatabaseOpt = None) -> None:
    """Write a consistent backup of the hub to FILE, while it serves (replaces FILE)."""
    from varsel import backup as backups

    settings = settings_for(database_url)
    with _progress() as progress:
        manifest = backups.backup(database_url=settings.database_url, path=file, progress=progress)
    rows = sum(manifest.tables.values())
    out.print(
        f"backed up the {manifest.engine} hub to {file}: {len(manifest.tables)} tables, "
        f"{rows} rows, {manifest.audit_events} audit events, {manifest.payload_bytes} bytes"
    )


def restore(
    file: FileArg,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database that already holds a hub.")
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Restore the backup FILE into the hub's database, then verify its audit chain."""
    from varsel import backup as backups

    settings = settings_for(database_url)
    with _progress() as progress:
        report = backups.restore(
            database_url=settings.database_url,
            path=file,
            actor=local_operator().label,
            force=force,
            progress=progress,
        )
    manifest = report.manifest
    out.print(f"restored the backup of {manifest.created} ({manifest.engine}) from {file}")
    if report.other_sessions:
        err.print(
            f"[yellow]warning:[/] {report.other_sessions} other sessions were connected to the "
            "database during the restore; restart every `varsel serve` of this hub"
        )
    for table, expected, found in report.mismatches:
        err.print(f"[red]table {table}[/] has {found} rows; the backup recorded {expected}")
    chain = report.chain
    if not chain.ok:
        err.print(
            f"[red]audit chain broken[/] at event {chain.first_bad}: {chain.problem} — the "
            "backup was altered after these events were recorded; do not serve this hub "
            "before finding out why"
        )
    elif not report.audit_head_matches:
        err.print(
            f"[red]audit chain incomplete:[/] {chain.events} events, the backup recorded "
            f"{manifest.audit_events}"
        )
    if not report.ok:
        raise typer.Exit(1)
    out.print(f"audit chain intact: {chain.events} events; the restore is event {chain.events + 1}")
    if not report.schema_current:
        out.print("the backup's schema is older than this Varsel's; run `varsel init` to upgrade")


def register(app: typer.Typer) -> None:
    """Add ``backup`` and ``restore`` to the command line."""
    app.command("backup")(backup)
    app.command("restore")(restore)
