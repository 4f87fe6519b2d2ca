"""stix_objects: one unique index led by stix_id instead of two random-keyed indexes

The unique (collection_id, stix_id, version_key) index and the plain stix_id index were both
keyed by random UUIDs, so every insert dirtied a random page of each. Putting stix_id first in
the unique index lets it serve the look-ups by id (Get An Object, versions, the existing-versions
check at ingest) and the plain stix_id index goes: one random-keyed index per insert instead of
two, which halves what a commit writes for that part (docs/benchmarks.md).

Revision ID: 0006
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("stix_objects") as batch:
        batch.drop_constraint("uq_stix_objects_collection_id", type_="unique")
        batch.create_unique_constraint(
            "uq_stix_objects_stix_id", ["stix_id", "version_key", "collection_id"]
        )
        batch.drop_index("ix_stix_objects_stix_id")


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("stix_objects") as batch:
        batch.create_index("ix_stix_objects_stix_id", ["stix_id"])
        batch.drop_constraint("uq_stix_objects_stix_id", type_="unique")
        batch.create_unique_constraint(
            "uq_stix_objects_collection_id", ["collection_id", "stix_id", "version_key"]
        )
