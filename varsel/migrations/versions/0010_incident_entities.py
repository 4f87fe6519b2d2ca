"""incidents: several affected entities per incident, each with its own facts and reports

An incident that hits a group's FI, SE and DK subsidiaries, or a bank and its cloud provider,
carries one entity profile per affected entity: the existing ``incident_entity_profiles`` row is
the first, ``incident_entities`` holds the others under a short key. Facts, submissions and
notifications say which entity they belong to (``entity``; empty for the first entity and, for
facts, for what all entities share), and a stage is recorded once per entity, country and stage.

Revision ID: 0010
Revises: 0009 (depends on 0002, which created the incident tables)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
# The incident tables come from the 0002 branch: run after it whatever order the heads take.
depends_on: str | Sequence[str] | None = "0002"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "incident_entities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("established_in", sa.String(length=200), nullable=False),
        sa.Column("main_establishment", sa.String(length=2), nullable=True),
        sa.Column("services_in", sa.String(length=200), nullable=False),
        sa.Column("nis2_class", sa.String(length=16), nullable=True),
        sa.Column("sector", sa.String(length=100), nullable=True),
        sa.Column("entity_type", sa.String(length=32), nullable=True),
        sa.Column("nis1_scope", sa.Boolean(), nullable=False),
        sa.Column("dora_financial", sa.Boolean(), nullable=False),
        sa.Column("dora_entity_kind", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_entities_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_incident_entities_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_entities")),
        sa.UniqueConstraint("incident_id", "key", name=op.f("uq_incident_entities_incident_id")),
    )
    op.create_index(op.f("ix_incident_entities_incident_id"), "incident_entities", ["incident_id"])
    for table in ("incident_facts", "incident_notifications"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("entity", sa.String(length=32), nullable=False, server_default="")
            )
    # No table points at the submissions, so SQLite's copy of this table loses nothing.
    with op.batch_alter_table("incident_report_submissions") as batch:
        batch.add_column(
            sa.Column("entity", sa.String(length=32), nullable=False, server_default="")
        )
        batch.drop_constraint("uq_incident_report_submissions_incident_id", type_="unique")
        batch.create_unique_constraint(
            "uq_incident_report_submissions_incident_id",
            ["incident_id", "entity", "country", "stage"],
        )


def downgrade() -> None:
    """Revert this revision (the further entities' facts and submissions go with them)."""
    op.execute("DELETE FROM incident_report_submissions WHERE entity <> ''")
    op.execute("DELETE FROM incident_facts WHERE entity <> ''")
    op.execute("DELETE FROM incident_notifications WHERE entity <> ''")
    with op.batch_alter_table("incident_report_submissions") as batch:
        batch.drop_constraint("uq_incident_report_submissions_incident_id", type_="unique")
        batch.create_unique_constraint(
            "uq_incident_report_submissions_incident_id", ["incident_id", "country", "stage"]
        )
        batch.drop_column("entity")
    for table in ("incident_facts", "incident_notifications"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("entity")
    op.drop_index(op.f("ix_incident_entities_incident_id"), table_name="incident_entities")
    op.drop_table("incident_entities")
