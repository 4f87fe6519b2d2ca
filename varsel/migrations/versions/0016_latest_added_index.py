"""latest_added_index: the object list's order across collections from an index

The web object list (and the home page's latest objects) read the latest versions a principal
may read across every collection, newest first, 50 at a time. Without an index in that order the
database sorted every readable row first: 1.4 s for the page over 100,000 objects on SQLite
(benchmarks/object_list_bench.py). With it the page reads rows in order and stops after one
page (docs/benchmarks.md, "Object list").

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index(
        "ix_stix_objects_latest_added",
        "stix_objects",
        ["is_latest", "date_added_us", "id"],
        unique=False,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_stix_objects_latest_added", table_name="stix_objects")
