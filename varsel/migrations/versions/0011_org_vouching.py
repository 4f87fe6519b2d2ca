"""organisations: vouched_at and vouched_by, set when a hub-admin vouches for an organisation

Sighting aggregates count only organisations a hub-admin vouched for, so that made-up
organisations cannot make up the k an aggregate needs (docs/matching.md). Existing
organisations start unvouched: the operator vouches for each with ``varsel org vouch``.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("vouched_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("vouched_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("vouched_by")
        batch.drop_column("vouched_at")
