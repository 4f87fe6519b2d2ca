"""clearance register and classification columns on stix_objects

Revision ID: 0003
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "clearance_persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("nationality", sa.String(length=2), nullable=False),
        sa.Column("employer_org_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["employer_org_id"],
            ["organisations.id"],
            name=op.f("fk_clearance_persons_employer_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            ondelete="SET NULL",
            name=op.f("fk_clearance_persons_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clearance_persons")),
        sa.UniqueConstraint("user_id", name=op.f("uq_clearance_persons_user_id")),
    )
    op.create_index(
        op.f("ix_clearance_persons_employer_org_id"),
        "clearance_persons",
        ["employer_org_id"],
        unique=False,
    )
    op.create_table(
        "clearances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=60), nullable=False),
        sa.Column("scheme", sa.String(length=8), nullable=False),
        sa.Column("level_name", sa.String(length=60), nullable=False),
        sa.Column("authority", sa.String(length=200), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("declared_by", sa.String(length=200), nullable=False),
        sa.Column("declared_at", sa.DateTime(), nullable=False),
        sa.Column("verified_by", sa.String(length=200), nullable=True),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("recognised_by", sa.String(length=200), nullable=True),
        sa.Column("recognised_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoke_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["clearance_persons.id"],
            ondelete="CASCADE",
            name=op.f("fk_clearances_person_id_clearance_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clearances")),
    )
    op.create_index(op.f("ix_clearances_person_id"), "clearances", ["person_id"], unique=False)
    op.create_table(
        "clearance_recognitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clearance_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["clearance_id"],
            ["clearances.id"],
            ondelete="CASCADE",
            name=op.f("fk_clearance_recognitions_clearance_id_clearances"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clearance_recognitions")),
    )
    op.create_index(
        op.f("ix_clearance_recognitions_clearance_id"),
        "clearance_recognitions",
        ["clearance_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_clearance_recognitions_country"),
        "clearance_recognitions",
        ["country"],
        unique=False,
    )
    op.create_table(
        "clearance_expiry_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clearance_id", sa.Integer(), nullable=False),
        sa.Column("days_ahead", sa.Integer(), nullable=False),
        sa.Column("recipient_user_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clearance_id"],
            ["clearances.id"],
            ondelete="CASCADE",
            name=op.f("fk_clearance_expiry_notices_clearance_id_clearances"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_user_id"],
            ["users.id"],
            ondelete="CASCADE",
            name=op.f("fk_clearance_expiry_notices_recipient_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clearance_expiry_notices")),
        sa.UniqueConstraint(
            "clearance_id",
            "days_ahead",
            "recipient_user_id",
            name=op.f("uq_clearance_expiry_notices_clearance_id"),
        ),
    )
    op.create_index(
        op.f("ix_clearance_expiry_notices_clearance_id"),
        "clearance_expiry_notices",
        ["clearance_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_clearance_expiry_notices_recipient_user_id"),
        "clearance_expiry_notices",
        ["recipient_user_id"],
        unique=False,
    )
    # Batch mode: SQLite cannot alter tables in place.
    with op.batch_alter_table("stix_objects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("class_country", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("class_grade", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("class_level", sa.String(length=60), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("stix_objects", schema=None) as batch_op:
        batch_op.drop_column("class_level")
        batch_op.drop_column("class_grade")
        batch_op.drop_column("class_country")
    op.drop_table("clearance_expiry_notices")
    op.drop_table("clearance_recognitions")
    op.drop_table("clearances")
    op.drop_table("clearance_persons")
