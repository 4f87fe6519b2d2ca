"""Back a hub up into one file and restore it, on SQLite and on PostgreSQL.

``varsel backup FILE`` copies a live hub consistently while it serves; ``varsel restore FILE``
puts it back all at once, then recomputes the audit chain and compares every table's row count
with what the backup recorded. A backup restores only into the engine it came from: an SQLite
file and a ``pg_dump`` archive are different things, and translating between them would be a
migration, not a restore. The file format is described in :mod:`varsel.backup._archive`.

Exceptions: :class:`BackupError` (a :class:`varsel.errors.VarselError`) when a backup cannot be
made or restored as asked, and nothing was changed. A restore that went in but whose audit chain
or row counts do not verify is not an exception: :class:`RestoreReport` says what is wrong.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import make_url

from varsel.audit import service as audit
from varsel.backup import _postgres, _snapshot, _sqlite
from varsel.backup._archive import Manifest, extract_payload, private_temp, read_manifest, write
from varsel.backup._errors import BackupError, Progress, no_progress
from varsel.db import make_engine, make_sessionmaker, normalise_url

__all__ = [
    "BackupError",
    "Manifest",
    "Progress",
    "RestoreReport",
    "backup",
    "read_manifest",
    "restore",
]

_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _engine_of(url: str) -> str:
    engine = make_url(normalise_url(url)).get_backend_name()
    if engine not in _NAMES:
        raise BackupError(f"backups support SQLite and PostgreSQL hubs, not {engine}")
    return engine


def backup(*, database_url: str, path: Path, progress: Progress = no_progress) -> Manifest:
    """Write a consistent backup of the hub at ``database_url`` to ``path``; return its manifest."""
    engine = _engine_of(database_url)
    payload = private_temp(path.parent, path.name)
    try:
        if engine == "sqlite":
            manifest = _sqlite.backup(url=database_url, into=payload, progress=progress)
        else:
            manifest = _postgres.backup(
                url=normalise_url(database_url), into=payload, progress=progress
            )
        return write(path=path, manifest=manifest, payload=payload, progress=progress)
    finally:
        payload.unlink(missing_ok=True)


@dataclass(frozen=True)
class RestoreReport:
    """What a restore put in place and whether it verifies."""

    manifest: Manifest
    chain: audit.ChainReport
    # Tables whose row count differs from the manifest's: (table, expected, found).
    mismatches: list[tuple[str, int, int | None]]
    schema_current: bool
    other_sessions: int = 0

    @property
    def ok(self) -> bool:
        """Return True when the audit chain and every table's row count verify."""
        return self.chain.ok and not self.mismatches and self.audit_head_matches

    @property
    def audit_head_matches(self) -> bool:
        """Return True when the chain ends where the backup said it did."""
        return self.chain.events == self.manifest.audit_events


def restore(
    *,
    database_url: str,
    path: Path,
    actor: str,
    force: bool = False,
    progress: Progress = no_progress,
) -> RestoreReport:
    """Replace the hub at ``database_url`` with the backup at ``path``, then verify it.

    Refuses (changing nothing) a file that is not a backup, one of the other engine, one whose
    schema this Varsel does not know, a damaged payload, and a database that already holds a hub
    unless ``force``. A restore that verifies is the restored hub's next audit event
    (``hub.restore`` by ``actor``), so the log says when its history was put back, and by whom.
    """
    engine = _engine_of(database_url)
    manifest = read_manifest(path)
    if manifest.engine != engine:
        raise BackupError(
            f"{path} is a backup of a hub on {_NAMES.get(manifest.engine, manifest.engine)} "
            f"and the target database is {_NAMES[engine]}: a backup restores only into the "
            "engine it came from (cross-engine restore is not supported)"
        )
    url = normalise_url(database_url)
    current = _check_schema(manifest)
    if engine == "sqlite":
        payload = private_temp(_sqlite.database_path(url).parent, "varsel-restore")
    else:
        payload = private_temp(Path(tempfile.gettempdir()), "varsel-restore")
    try:
        extract_payload(path=path, into=payload, progress=progress)
        others = 0
        if engine == "sqlite":
            _sqlite.restore(url=url, payload=payload, force=force, progress=progress)
        else:
            others = _postgres.other_sessions(url)
            _postgres.restore(
                url=url, payload=payload, manifest=manifest, force=force, progress=progress
            )
    finally:
        payload.unlink(missing_ok=True)
    progress("verifying audit chain", 0, 0)
    report = _verify(url, manifest, current, others)
    if report.ok:
        _record_restore(url, manifest, path, actor)
    return report


def _record_restore(url: str, manifest: Manifest, path: Path, actor: str) -> None:
    # After verifying, so the event extends a chain known to be intact; a restore that does
    # not verify appends nothing to a chain that is already in question.
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            audit.record(
                session=session,
                actor=actor,
                action="hub.restore",
                target=path.name,
                details={
                    "backup_created": manifest.created,
                    "engine": manifest.engine,
                    "sha256": manifest.sha256,
                    "audit_events": manifest.audit_events,
                },
            )
            session.commit()
    finally:
        engine.dispose()


def _check_schema(manifest: Manifest) -> bool:
    """Refuse a backup from a newer Varsel; return whether its schema is this Varsel's."""
    # The scripts alone, not migrate.alembic_config(engine): an engine would create the
    # SQLite file before the restore has decided to go ahead.
    config = Config()
    config.set_main_option("script_location", str(resources.files("varsel") / "migrations"))
    scripts = ScriptDirectory.from_config(config)
    for revision in manifest.schema:
        try:
            scripts.get_revision(revision)
        except CommandError:
            raise BackupError(
                f"the backup's schema revision {revision} is unknown to this Varsel "
                f"(the backup was made by Varsel {manifest.varsel}); upgrade Varsel first"
            ) from None
    applied = {r.revision for r in scripts.iterate_revisions(tuple(manifest.schema), "base")}
    return all(r.revision in applied for r in scripts.walk_revisions())


def _verify(url: str, manifest: Manifest, current: bool, others: int) -> RestoreReport:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            chain = audit.verify(session=session)
            counts = _snapshot.row_counts(session.connection())
    finally:
        engine.dispose()
    mismatches: list[tuple[str, int, int | None]] = [
        (table, expected, counts.get(table))
        for table, expected in sorted(manifest.tables.items())
        if counts.get(table) != expected
    ]
    return RestoreReport(
        manifest=manifest,
        chain=chain,
        mismatches=mismatches,
        schema_current=current,
        other_sessions=others,
    )
