"""search: the terms of every object version (observable values and words), for search

``object_terms`` holds, per object version, the canonical observable values it names and the
words of its name and description (varsel.sharing.terms; docs/web.md, "Search"). Ingest writes
them from now on; this revision writes them for the versions already stored, in batches of
2,000 versions (about a minute per million versions).

Revision ID: 0017
Revises: 0016
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TERM = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")
_BATCH = 2000


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "object_terms",
        sa.Column("id", _BIG, primary_key=True, autoincrement=True),
        sa.Column(
            "object_pk",
            _BIG,
            sa.ForeignKey("stix_objects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", _TERM, nullable=False),
        sa.Column("lo", sa.String(33), nullable=True),
        sa.Column("hi", sa.String(33), nullable=True),
    )
    _backfill()
    # Indexes after the bulk write: building them once is cheaper than keeping them up.
    op.create_index("ix_object_terms_object_pk", "object_terms", ["object_pk"])
    op.create_index("ix_object_terms_kind_value", "object_terms", ["kind", "value", "object_pk"])
    op.create_index(
        "ix_object_terms_kind_lo",
        "object_terms",
        ["kind", "lo"],
        sqlite_where=sa.text("lo IS NOT NULL"),
        postgresql_where=sa.text("lo IS NOT NULL"),
    )


def _backfill() -> None:
    # The one term extractor (imported here, not copied: terms must be what ingest writes).
    from varsel.sharing import terms

    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.text("SELECT id, raw FROM stix_objects WHERE id > :after ORDER BY id LIMIT :n"),
            {"after": after, "n": _BATCH},
        ).all()
        if not rows:
            return
        objects = []
        for pk, raw in rows:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict):
                objects.append((pk, obj))
        terms.write(connection, objects)
        after = rows[-1][0]


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_object_terms_kind_lo", table_name="object_terms")
    op.drop_index("ix_object_terms_kind_value", table_name="object_terms")
    op.drop_index("ix_object_terms_object_pk", table_name="object_terms")
    op.drop_table("object_terms")
