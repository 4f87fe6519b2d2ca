"""identity integrity: name keys, disabled users, token lineage and scope, throttle, membership

Issue 12, "who a principal is": usernames and organisation names get a uniqueness key
(varsel.orgs.names) so that look-alikes cannot coexist; users can be disabled; a token minted
with a token records its parent (it is bounded by it and revoked with it) and every token has a
scope; failed sign-ins are counted per account and address in the database (so every worker
sees them); adding an organisation to a community waits for a second party.

Existing names that collide under the new keys stop the upgrade with a list of them: an
operator must rename one of each pair, since the hub cannot guess which one is genuine.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from varsel.orgs.names import name_key, username_key

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _backfill(table: str, column: str, key_column: str, key: object) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT id, {column} FROM {table}")).all()
    seen: dict[str, str] = {}
    clashes: list[str] = []
    for row_id, value in rows:
        k = key(value)  # type: ignore[operator]
        if k in seen:
            clashes.append(f"{seen[k]!r} and {value!r}")
        seen[k] = value
        bind.execute(
            sa.text(f"UPDATE {table} SET {key_column} = :k WHERE id = :i"), {"k": k, "i": row_id}
        )
    if clashes:
        raise RuntimeError(
            f"these {table} names can be taken for one another; rename one of each pair "
            f"before upgrading: {'; '.join(clashes)}"
        )


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("organisations", sa.Column("name_key", sa.String(length=200), nullable=True))
    op.add_column("users", sa.Column("username_key", sa.String(length=150), nullable=True))
    op.add_column("users", sa.Column("disabled_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("users") as batch:
        # Replaced by auth_failures: a per-account lock let anyone lock anyone out.
        batch.drop_column("failed_logins")
        batch.drop_column("locked_until")
    _backfill("organisations", "name", "name_key", name_key)
    _backfill("users", "username", "username_key", username_key)
    with op.batch_alter_table("organisations") as batch:
        batch.alter_column("name_key", existing_type=sa.String(length=200), nullable=False)
        batch.create_unique_constraint("uq_organisations_name_key", ["name_key"])
    with op.batch_alter_table("users") as batch:
        batch.alter_column("username_key", existing_type=sa.String(length=150), nullable=False)
        batch.create_unique_constraint("uq_users_username_key", ["username_key"])
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("scope", sa.String(length=16), nullable=False, server_default="read-write")
        )
        batch.create_foreign_key(
            "fk_api_tokens_parent_id_api_tokens",
            "api_tokens",
            ["parent_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_api_tokens_parent_id", ["parent_id"], unique=False)
    op.create_table(
        "auth_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_auth_failures")),
    )
    op.create_index(
        op.f("ix_auth_failures_updated_at"), "auth_failures", ["updated_at"], unique=False
    )
    op.create_table(
        "membership_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_user_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=300), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=300), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_membership_requests_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_membership_requests_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"],
            ["users.id"],
            name=op.f("fk_membership_requests_requested_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_requests")),
    )
    op.create_index(
        op.f("ix_membership_requests_community_id"),
        "membership_requests",
        ["community_id"],
        unique=False,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_membership_requests_community_id"), table_name="membership_requests")
    op.drop_table("membership_requests")
    op.drop_index(op.f("ix_auth_failures_updated_at"), table_name="auth_failures")
    op.drop_table("auth_failures")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index("ix_api_tokens_parent_id")
        batch.drop_constraint("fk_api_tokens_parent_id_api_tokens", type_="foreignkey")
        batch.drop_column("scope")
        batch.drop_column("parent_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_username_key", type_="unique")
        batch.drop_column("disabled_at")
        batch.drop_column("username_key")
        batch.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))
    with op.batch_alter_table("organisations") as batch:
        batch.drop_constraint("uq_organisations_name_key", type_="unique")
        batch.drop_column("name_key")
