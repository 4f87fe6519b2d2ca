"""Peers, the links that map their collections onto ours, trusted origin keys and the lease."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from varsel.db import Base, BigId


class Direction(StrEnum):
    """Which way a link moves objects."""

    PULL = "pull"
    PUSH = "push"
    BOTH = "both"


class TrustedHub(Base):
    """An origin hub whose Ed25519 public key this hub has pinned, and its local organisation.

    Versions first stored at that hub are kept here under ``org_id`` (an organisation of kind
    ``hub`` with the hub's name): that binds them to their origin, as #7 binds versions to their
    producer. Pinned by ``varsel peer add`` or ``varsel peer trust``.
    """

    __tablename__ = "trusted_hubs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), unique=True)
    pinned_at: Mapped[datetime] = mapped_column(DateTime)
    pinned_by: Mapped[str] = mapped_column(String(200))


class Peer(Base):
    """A hub this one connects to: its API root, where its token is kept and how to verify TLS."""

    __tablename__ = "peers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(ForeignKey("trusted_hubs.name"), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    # The token is never in the database: a file of mode 0600 in the data directory.
    token_file: Mapped[str] = mapped_column(String(500))
    country: Mapped[str | None] = mapped_column(String(2))
    ca_bundle: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class PeerLink(Base):
    """A remote collection mapped onto a local one, with each direction's checkpoint and health."""

    __tablename__ = "peer_links"
    __table_args__ = (UniqueConstraint("peer_id", "remote_collection", "local_collection_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    peer_id: Mapped[int] = mapped_column(ForeignKey("peers.id", ondelete="CASCADE"), index=True)
    # As the operator named it (id or title), and the id it resolved to at the peer.
    remote_collection: Mapped[str] = mapped_column(String(200))
    remote_collection_id: Mapped[str | None] = mapped_column(String(36))
    local_collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(8))
    # Pull: the peer stream's last event id applied here (in the same transaction as the data).
    pull_position: Mapped[str | None] = mapped_column(String(200))
    # Push: the local collection's date_added_us up to which the peer has accepted everything.
    push_position: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(20), default="new")
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    refused: Mapped[int] = mapped_column(BigInteger, default=0)
    sent: Mapped[int] = mapped_column(BigInteger, default=0)
    tombstones_applied: Mapped[int] = mapped_column(BigInteger, default=0)
    lag_objects: Mapped[int | None] = mapped_column(BigInteger)
    lag_seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Refusal(Base):
    """A version or tombstone a peer sent that this hub refused, and why (``peer status``)."""

    __tablename__ = "federation_refusals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    peer_name: Mapped[str] = mapped_column(String(100), index=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("peer_links.id", ondelete="SET NULL"))
    stix_id: Mapped[str | None] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)


class Lease(Base):
    """A named lease in the database: exactly one holder runs the federation worker."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
