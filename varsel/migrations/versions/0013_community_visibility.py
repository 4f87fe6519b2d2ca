"""communities: visibility, listed or unlisted; every existing community becomes unlisted

An unlisted community, its members and its collections are seen only by the users of its member
organisations and by hub-admins (docs/access-policy.md). Existing communities become unlisted:
until now nobody chose to publish them, and unlisting narrows what outsiders see without
taking anything from members (objects' read rule is unchanged). An operator who wants one
listed says so with ``varsel community set-visibility NAME listed``.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("communities") as batch:
        batch.add_column(
            sa.Column("visibility", sa.String(length=16), nullable=False, server_default="unlisted")
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("communities") as batch:
        batch.drop_column("visibility")
