"""incidents: workspaces, participants, timeline, tasks, STIX links, entity profiles, impact
facts, report submissions and the notification log

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("classification", sa.String(length=200), nullable=True),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("notify_emails", sa.String(length=2000), nullable=False),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_tlp"), ["tlp"], unique=False)

    op.create_table(
        "incident_entity_profiles",
        sa.Column("incident_id", sa.Integer(), nullable=False),
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
            name=op.f("fk_incident_entity_profiles_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_incident_entity_profiles_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incident_entity_profiles")),
    )
    op.create_table(
        "incident_facts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_facts_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_facts")),
    )
    with op.batch_alter_table("incident_facts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_facts_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "incident_notifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_notifications_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_notifications")),
        sa.UniqueConstraint("key", name=op.f("uq_incident_notifications_key")),
    )
    with op.batch_alter_table("incident_notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_notifications_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "incident_object_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("stix_id", sa.String(length=300), nullable=False),
        sa.Column("collection_id", sa.String(length=36), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("linked_by", sa.String(length=200), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_object_links_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_object_links")),
        sa.UniqueConstraint(
            "incident_id",
            "stix_id",
            "collection_id",
            name=op.f("uq_incident_object_links_incident_id"),
        ),
    )
    with op.batch_alter_table("incident_object_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_object_links_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "incident_report_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("reference", sa.String(length=300), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_report_submissions_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_report_submissions")),
        sa.UniqueConstraint(
            "incident_id",
            "country",
            "stage",
            name=op.f("uq_incident_report_submissions_incident_id"),
        ),
    )
    with op.batch_alter_table("incident_report_submissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_report_submissions_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "incident_timeline",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_timeline_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_timeline")),
    )
    with op.batch_alter_table("incident_timeline", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_timeline_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "incident_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_participants_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_incident_participants_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_incident_participants_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_participants")),
        sa.UniqueConstraint(
            "incident_id", "org_id", "user_id", name=op.f("uq_incident_participants_incident_id")
        ),
    )
    with op.batch_alter_table("incident_participants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_participants_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_incident_participants_org_id"), ["org_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_incident_participants_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "incident_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_tasks_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_incident_tasks_owner_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_tasks")),
    )
    with op.batch_alter_table("incident_tasks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_tasks_incident_id"), ["incident_id"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("incident_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_tasks_incident_id"))

    op.drop_table("incident_tasks")
    with op.batch_alter_table("incident_participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_participants_user_id"))
        batch_op.drop_index(batch_op.f("ix_incident_participants_org_id"))
        batch_op.drop_index(batch_op.f("ix_incident_participants_incident_id"))

    op.drop_table("incident_participants")
    with op.batch_alter_table("incident_timeline", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_timeline_incident_id"))

    op.drop_table("incident_timeline")
    with op.batch_alter_table("incident_report_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_report_submissions_incident_id"))

    op.drop_table("incident_report_submissions")
    with op.batch_alter_table("incident_object_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_object_links_incident_id"))

    op.drop_table("incident_object_links")
    with op.batch_alter_table("incident_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_notifications_incident_id"))

    op.drop_table("incident_notifications")
    with op.batch_alter_table("incident_facts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_facts_incident_id"))

    op.drop_table("incident_facts")
    op.drop_table("incident_entity_profiles")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_tlp"))

    op.drop_table("incidents")
