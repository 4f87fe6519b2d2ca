"""alerts: notifications, delivery preferences, watchlists, saved filters, evaluator cursors

Notifications carry a unique dedupe key, so the same event alerts once however many processes
evaluate (docs/alerts.md).

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _user() -> sa.Column[int]:
    return sa.Column(
        "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "alert_notifications",
        sa.Column("id", _BIG, primary_key=True, autoincrement=True),
        _user(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("link", sa.String(500), nullable=True),
        sa.Column("object_id", sa.String(300), nullable=True),
        sa.Column("dedupe_key", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.Column("email_state", sa.String(16), nullable=True),
        sa.Column("webhook_state", sa.String(16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivery_error", sa.String(300), nullable=True),
    )
    op.create_index(
        "ix_alert_notifications_user_created", "alert_notifications", ["user_id", "created_at"]
    )
    op.create_index(
        "ix_alert_notifications_user_read", "alert_notifications", ["user_id", "read_at"]
    )
    op.create_table(
        "alert_preferences",
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("webhook_url", sa.String(2000), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "alert_watches",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "kind", "value"),
    )
    op.create_index("ix_alert_watches_user_id", "alert_watches", ["user_id"])
    op.create_table(
        "alert_saved_filters",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("query", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "name"),
    )
    op.create_index("ix_alert_saved_filters_user_id", "alert_saved_filters", ["user_id"])
    op.create_table(
        "alert_cursors",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("alert_cursors")
    op.drop_index("ix_alert_saved_filters_user_id", table_name="alert_saved_filters")
    op.drop_table("alert_saved_filters")
    op.drop_index("ix_alert_watches_user_id", table_name="alert_watches")
    op.drop_table("alert_watches")
    op.drop_table("alert_preferences")
    op.drop_index("ix_alert_notifications_user_read", table_name="alert_notifications")
    op.drop_index("ix_alert_notifications_user_created", table_name="alert_notifications")
    op.drop_table("alert_notifications")
