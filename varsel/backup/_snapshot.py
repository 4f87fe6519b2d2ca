"""Read what a manifest records, inside the caller's snapshot, the same way on both engines."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import metadata

from sqlalchemy import Connection, inspect, text

from varsel.backup._archive import Manifest
from varsel.backup._errors import BackupError

SCHEMA_TABLE = "alembic_version"


def table_names(connection: Connection) -> list[str]:
    """Return the tables of the hub's schema, sorted."""
    return sorted(inspect(connection).get_table_names())


def row_counts(connection: Connection) -> dict[str, int]:
    """Return every table's row count."""
    preparer = connection.dialect.identifier_preparer
    return {
        name: int(
            connection.execute(text(f"SELECT count(*) FROM {preparer.quote(name)}")).scalar_one()
        )
        for name in table_names(connection)
    }


def has_rows(connection: Connection) -> bool:
    """Return True when any table other than the schema's revision table holds a row."""
    preparer = connection.dialect.identifier_preparer
    return any(
        connection.execute(text(f"SELECT 1 FROM {preparer.quote(name)} LIMIT 1")).first()
        is not None
        for name in table_names(connection)
        if name != SCHEMA_TABLE
    )


def _version() -> str:
    try:
        return metadata.version("varsel")
    except metadata.PackageNotFoundError:
        return "unknown"


def read(connection: Connection, *, engine: str, payload: str) -> Manifest:
    """Return the manifest of the hub behind ``connection`` as its current snapshot sees it."""
    names = table_names(connection)
    if SCHEMA_TABLE not in names or "audit_head" not in names:
        raise BackupError("the database has no hub yet; there is nothing to back up")
    schema = sorted(
        str(v)
        for v in connection.execute(text(f"SELECT version_num FROM {SCHEMA_TABLE}")).scalars()
    )
    head = connection.execute(text("SELECT count, last_hash FROM audit_head WHERE id = 1")).first()
    return Manifest(
        engine=engine,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        varsel=_version(),
        schema=schema,
        tables=row_counts(connection),
        audit_events=0 if head is None else int(head[0]),
        audit_head=None if head is None else str(head[1]),
        payload=payload,
    )
