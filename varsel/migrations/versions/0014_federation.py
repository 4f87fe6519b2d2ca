"""federation: signed provenance of every version, seals, tombstones, peers, links and a lease

Versions gain their origin hub, the provenance text their origin signed and the seal that lists
its digest (docs/federation.md). Versions stored before this revision have no seal; `varsel
init` seals them with the hub's key, as if shared now. Recipients gain ``remote``: whom at a
peer hub a TLP:RED or AMBER+STRICT version is addressed to.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    # Plain ADD COLUMNs (no batch copy): stix_objects can hold millions of rows.
    op.add_column("stix_objects", sa.Column("origin_hub", sa.String(100), nullable=True))
    op.add_column("stix_objects", sa.Column("seal_id", sa.String(140), nullable=True))
    op.add_column("stix_objects", sa.Column("provenance", sa.Text(), nullable=True))
    op.create_index("ix_stix_objects_seal_id", "stix_objects", ["seal_id"])
    op.add_column("recipients", sa.Column("remote", sa.String(200), nullable=True))
    op.create_table(
        "seals",
        sa.Column("id", sa.String(140), primary_key=True),
        sa.Column("origin_hub", sa.String(100), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "tombstones",
        sa.Column("id", _BIG, primary_key=True, autoincrement=True),
        sa.Column(
            "collection_id",
            sa.String(36),
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("stix_id", sa.String(300), nullable=False),
        sa.Column("origin_hub", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("date_added_us", sa.BigInteger(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_tombstones_coll_added", "tombstones", ["collection_id", "date_added_us"])
    op.create_table(
        "tombstone_audience",
        sa.Column(
            "tombstone_id",
            _BIG,
            sa.ForeignKey("tombstones.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "org_id",
            sa.Integer(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_tombstone_audience_org_id", "tombstone_audience", ["org_id"])
    op.create_table(
        "stream_positions",
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
            primary_key=True,
        ),
        sa.Column("position_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "trusted_hubs",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column(
            "org_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False, unique=True
        ),
        sa.Column("pinned_at", sa.DateTime(), nullable=False),
        sa.Column("pinned_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "peers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "name", sa.String(100), sa.ForeignKey("trusted_hubs.name"), nullable=False, unique=True
        ),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("token_file", sa.String(500), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("ca_bundle", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "peer_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "peer_id", sa.Integer(), sa.ForeignKey("peers.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("remote_collection", sa.String(200), nullable=False),
        sa.Column("remote_collection_id", sa.String(36), nullable=True),
        sa.Column(
            "local_collection_id",
            sa.String(36),
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("pull_position", sa.String(200), nullable=True),
        sa.Column("push_position", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("state", sa.String(20), nullable=False, server_default="new"),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("received", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("duplicates", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("refused", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("sent", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("tombstones_applied", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("lag_objects", sa.BigInteger(), nullable=True),
        sa.Column("lag_seconds", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("peer_id", "remote_collection", "local_collection_id"),
    )
    op.create_index("ix_peer_links_peer_id", "peer_links", ["peer_id"])
    op.create_index("ix_peer_links_local_collection_id", "peer_links", ["local_collection_id"])
    op.create_table(
        "federation_refusals",
        sa.Column("id", _BIG, primary_key=True, autoincrement=True),
        sa.Column("peer_name", sa.String(100), nullable=False),
        sa.Column(
            "link_id",
            sa.Integer(),
            sa.ForeignKey("peer_links.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("stix_id", sa.String(300), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_federation_refusals_peer_name", "federation_refusals", ["peer_name"])
    op.create_index("ix_federation_refusals_at", "federation_refusals", ["at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    """Revert this revision."""
    for table in (
        "leases",
        "federation_refusals",
        "peer_links",
        "peers",
        "trusted_hubs",
        "stream_positions",
        "tombstone_audience",
        "tombstones",
        "seals",
    ):
        op.drop_table(table)
    with op.batch_alter_table("recipients") as batch:
        batch.drop_column("remote")
    op.drop_index("ix_stix_objects_seal_id", "stix_objects")
    with op.batch_alter_table("stix_objects") as batch:
        batch.drop_column("provenance")
        batch.drop_column("seal_id")
        batch.drop_column("origin_hub")
