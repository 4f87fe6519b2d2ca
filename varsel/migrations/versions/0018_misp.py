"""misp: the MISP mapping — organisations' collections, sharing groups, distribution ceilings

``misp_org_collections`` says where an organisation's events added through MISP's API land;
``misp_sharing_groups`` and ``misp_sharing_group_orgs`` map a MISP sharing group to hub
organisations; ``misp_distribution_ceilings`` narrows the level of distributions 0–3
(docs/misp.md, "Sharing"). Empty tables: the defaults apply until an administrator sets them.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "misp_org_collections",
        sa.Column(
            "org_id",
            sa.Integer(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "collection_id",
            sa.String(36),
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("set_by", sa.String(300), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ix_misp_org_collections_collection_id", "misp_org_collections", ["collection_id"]
    )
    op.create_table(
        "misp_sharing_groups",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "misp_sharing_group_orgs",
        sa.Column(
            "group_uuid",
            sa.String(36),
            sa.ForeignKey("misp_sharing_groups.uuid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "org_id",
            sa.Integer(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_misp_sharing_group_orgs_org_id", "misp_sharing_group_orgs", ["org_id"])
    op.create_table(
        "misp_distribution_ceilings",
        sa.Column("distribution", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("tlp", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("misp_distribution_ceilings")
    op.drop_index("ix_misp_sharing_group_orgs_org_id", table_name="misp_sharing_group_orgs")
    op.drop_table("misp_sharing_group_orgs")
    op.drop_table("misp_sharing_groups")
    op.drop_index("ix_misp_org_collections_collection_id", table_name="misp_org_collections")
    op.drop_table("misp_org_collections")
