"""object producers: versions belong to the organisation that first shared an id

- ``object_producers``: the organisation that first shared each STIX id in this hub; only it
  may add versions of that id (docs/access-policy.md, "Who may add versions"). Filled from the
  rows already stored: the producer of an id's earliest row. SCOs are left out (they are
  shared by value, once per producer).
- ``org_identities``: the STIX identities an organisation may name as ``created_by_ref``.
- ``stix_objects``' unique key gains the producer, so that two organisations sharing the same
  SCO (one deterministic id) each keep their own row, and ``is_latest``/``is_first`` become
  per series (collection, id, producer). Where an id already had rows of several producers in
  one collection (a version added by another organisation before this rule), the flags are
  recomputed per producer, so that such a version no longer hides or replaces the producer's.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# STIX 2.1 §6 Cyber-observable object types, as of this revision (deterministic ids, no claim).
_SCO_TYPES = (
    "artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message",
    "file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process",
    "software", "url", "user-account", "windows-registry-key", "x509-certificate",
)  # fmt: skip


def _create_tables() -> None:
    for table, key in (("object_producers", "stix_id"), ("org_identities", "identity_id")):
        op.create_table(
            table,
            sa.Column(key, sa.String(length=300), nullable=False),
            sa.Column("org_id", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(
                ["org_id"], ["organisations.id"], name=op.f(f"fk_{table}_org_id_organisations")
            ),
            sa.PrimaryKeyConstraint(key, name=op.f(f"pk_{table}")),
        )
        op.create_index(op.f(f"ix_{table}_org_id"), table, ["org_id"], unique=False)


def _backfill_producers() -> None:
    scos = ", ".join(f"'{t}'" for t in _SCO_TYPES)
    op.get_bind().execute(
        sa.text(
            "INSERT INTO object_producers (stix_id, org_id, created_at) "
            "SELECT stix_id, producer_org_id, :now FROM stix_objects WHERE id IN ("
            f"SELECT min(id) FROM stix_objects WHERE type NOT IN ({scos}) GROUP BY stix_id)"
        ),
        {"now": datetime.now(UTC).replace(tzinfo=None)},
    )


def _recompute_mixed_series() -> None:
    bind = op.get_bind()
    mixed = bind.execute(
        sa.text(
            "SELECT collection_id, stix_id FROM stix_objects GROUP BY collection_id, stix_id "
            "HAVING count(DISTINCT producer_org_id) > 1"
        )
    ).all()
    for collection_id, stix_id in mixed:
        rows = bind.execute(
            sa.text(
                "SELECT id, producer_org_id, version_key FROM stix_objects "
                "WHERE collection_id = :c AND stix_id = :s ORDER BY version_key, id"
            ),
            {"c": collection_id, "s": stix_id},
        ).all()
        series: dict[int, list[int]] = {}
        for pk, producer, _key in rows:
            series.setdefault(producer, []).append(pk)
        for pks in series.values():
            for pk in pks:
                bind.execute(
                    sa.text(
                        "UPDATE stix_objects SET is_latest = :latest, is_first = :first "
                        "WHERE id = :pk"
                    ),
                    {"latest": pk == pks[-1], "first": pk == pks[0], "pk": pk},
                )


def upgrade() -> None:
    """Apply this revision."""
    _create_tables()
    with op.batch_alter_table("stix_objects") as batch:
        batch.drop_constraint("uq_stix_objects_stix_id", type_="unique")
        batch.create_unique_constraint(
            "uq_stix_objects_stix_id",
            ["stix_id", "version_key", "collection_id", "producer_org_id"],
        )
    _backfill_producers()
    _recompute_mixed_series()


def downgrade() -> None:
    """Revert this revision (fails if two producers now hold the same SCO in one collection)."""
    with op.batch_alter_table("stix_objects") as batch:
        batch.drop_constraint("uq_stix_objects_stix_id", type_="unique")
        batch.create_unique_constraint(
            "uq_stix_objects_stix_id", ["stix_id", "version_key", "collection_id"]
        )
    for table in ("org_identities", "object_producers"):
        op.drop_index(op.f(f"ix_{table}_org_id"), table_name=table)
        op.drop_table(table)
