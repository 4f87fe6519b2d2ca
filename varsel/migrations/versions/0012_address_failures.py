"""address_failures: failed authentications per client address and minute, shared by processes

The per-address window against password spraying was a counter in each process's memory, so N
hub processes allowed N times the attempts. Keys are digests of (address, minute).

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "address_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_address_failures")),
    )
    op.create_index(
        op.f("ix_address_failures_window_start"),
        "address_failures",
        ["window_start"],
        unique=False,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_address_failures_window_start"), table_name="address_failures")
    op.drop_table("address_failures")
