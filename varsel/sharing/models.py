"""TAXII collections and the STIX objects stored in them, one row per object version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from varsel.db import Base, BigId


class Collection(Base):
    """A TAXII 2.1 collection owned by one community, with a default TLP and role rights."""

    __tablename__ = "collections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(String(2000), default="")
    alias: Mapped[str | None] = mapped_column(String(100), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    default_tlp: Mapped[str] = mapped_column(String(16))
    # Space-separated role names; kept as text so SQLite and PostgreSQL store them alike.
    read_roles: Mapped[str] = mapped_column(String(100), default="analyst org-admin hub-admin")
    write_roles: Mapped[str] = mapped_column(String(100), default="analyst org-admin hub-admin")
    # Writers serialise on this row; it holds the last date_added handed out (µs since epoch),
    # which is what makes added_after polling lose and repeat nothing.
    last_added_us: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class StixObject(Base):
    """One version of one STIX object in one collection, with its raw JSON as received.

    The versions of an object form a series per (collection, stix_id, producer): ``is_latest``
    and ``is_first`` are kept per series (docs/access-policy.md, "Who may add versions").
    """

    __tablename__ = "stix_objects"
    __table_args__ = (
        # stix_id first: the one index keyed by random UUIDs also serves look-ups by id. The
        # producer is part of the key because objects shared by value (SCOs, the hub's own
        # marking definitions) are kept once per producing organisation (migration 0009).
        UniqueConstraint("stix_id", "version_key", "collection_id", "producer_org_id"),
        Index("ix_stix_objects_coll_added", "collection_id", "date_added_us"),
        Index("ix_stix_objects_coll_latest_added", "collection_id", "is_latest", "date_added_us"),
        Index("ix_stix_objects_coll_type", "collection_id", "type", "date_added_us"),
        # The object list across collections, newest first (migration 0015).
        Index("ix_stix_objects_latest_added", "is_latest", "date_added_us", "id"),
    )

    # The three foreign keys below are the schema's meaning on both databases. SQLite enforces
    # them as declared; on PostgreSQL migration 0007 replaces them with triggers that enforce
    # the same rules (stricter on TRUNCATE) once per statement instead of once per row: a
    # share writes hundreds of rows.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    stix_id: Mapped[str] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(250))
    spec_version: Mapped[str] = mapped_column(String(8))
    version: Mapped[str] = mapped_column(String(40))
    version_key: Mapped[str] = mapped_column(String(40))
    date_added_us: Mapped[int] = mapped_column(BigInteger)
    is_latest: Mapped[bool] = mapped_column(Boolean, default=True)
    is_first: Mapped[bool] = mapped_column(Boolean, default=True)
    tlp: Mapped[str] = mapped_column(String(16))
    producer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    shared_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str | None] = mapped_column(String(500))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    raw: Mapped[str] = mapped_column(Text)
    # Security classification from a classification marking (docs/classification.md): the
    # scheme's two-letter storage code, the common grade 1-4 and the level as written.
    class_country: Mapped[str | None] = mapped_column(String(2))
    class_grade: Mapped[int | None] = mapped_column(Integer)
    class_level: Mapped[str | None] = mapped_column(String(60))
    # Federation (docs/federation.md). ``origin_hub`` is None for a version first stored here,
    # else the name of the hub that first stored it. ``provenance`` is the canonical text the
    # origin signed (varsel.provenance.seal) and ``seal_id`` the seal that lists its digest.
    origin_hub: Mapped[str | None] = mapped_column(String(100))
    seal_id: Mapped[str | None] = mapped_column(String(140), index=True)
    provenance: Mapped[str | None] = mapped_column(Text)


class Seal(Base):
    """A hub's Ed25519 signature over the digests of the versions one share stored."""

    __tablename__ = "seals"

    # "<origin hub>/<uuid>": unique across the federation, so relays keep the origin's seals.
    id: Mapped[str] = mapped_column(String(140), primary_key=True)
    origin_hub: Mapped[str] = mapped_column(String(100))
    manifest: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Tombstone(Base):
    """A signed notice that versions of an object were deleted or withdrawn at their origin.

    Tombstones are ordered in their collection with the objects (``date_added_us`` comes from
    the same counter), so a stream resumed after an outage delivers them in place. The
    audience is the hub organisations that could read what was withdrawn: only they are told.
    """

    __tablename__ = "tombstones"
    __table_args__ = (Index("ix_tombstones_coll_added", "collection_id", "date_added_us"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    stix_id: Mapped[str] = mapped_column(String(300))
    origin_hub: Mapped[str] = mapped_column(String(100))
    # deleted | withdrawn | removed | purged
    reason: Mapped[str] = mapped_column(String(20))
    date_added_us: Mapped[int] = mapped_column(BigInteger)
    # The signed JSON document exactly as it travels (varsel.provenance.seal.sign_tombstone).
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class TombstoneAudience(Base):
    """A hub organisation that could read what a tombstone withdraws, and so must hear of it."""

    __tablename__ = "tombstone_audience"

    tombstone_id: Mapped[int] = mapped_column(
        ForeignKey("tombstones.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class StreamPosition(Base):
    """How far a subscribing organisation has confirmed a collection's stream (its acks)."""

    __tablename__ = "stream_positions"

    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    position_us: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Recipient(Base):
    """An organisation or user named as a recipient of a TLP:RED object version."""

    __tablename__ = "recipients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    object_pk: Mapped[int] = mapped_column(
        ForeignKey("stix_objects.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # For an organisation of kind ``hub``: whom at that hub the producer named ("CERT-SE",
    # "user:alice"), so the version is sent there and read there by that recipient only.
    remote: Mapped[str | None] = mapped_column(String(200))


class Reshare(Base):
    """A member organisation passed a TLP:AMBER object version on to one of its clients."""

    __tablename__ = "reshares"
    __table_args__ = (UniqueConstraint("object_pk", "from_org_id", "to_org_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    object_pk: Mapped[int] = mapped_column(
        ForeignKey("stix_objects.id", ondelete="CASCADE"), index=True
    )
    from_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    to_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ObjectProducer(Base):
    """The organisation that first shared a STIX id in this hub, the only one to version it.

    Kept after the id's versions are deleted, so that nobody else can take the id over later.
    Objects shared by value (SCOs, the hub's own marking definitions) have no row here.
    """

    __tablename__ = "object_producers"

    stix_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class OrgIdentity(Base):
    """A STIX identity an organisation may name as ``created_by_ref``; one organisation each."""

    __tablename__ = "org_identities"

    identity_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class IngestStatus(Base):
    """A TAXII status resource: the outcome of one POST of an envelope."""

    __tablename__ = "ingest_status"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    request_timestamp: Mapped[str] = mapped_column(String(40))
    total_count: Mapped[int] = mapped_column(Integer)
    success_count: Mapped[int] = mapped_column(Integer)
    failure_count: Mapped[int] = mapped_column(Integer)
    # JSON text: {"successes": [...], "failures": [...]} as TAXII status details.
    details: Mapped[str] = mapped_column(Text)


# Bytewise comparison on both databases (SQLite's default BINARY; "C" on PostgreSQL), so that a
# prefix or address range selects the same terms everywhere, whatever the server's locale.
TermText = String(200).with_variant(String(200, collation="C"), "postgresql")


class ObjectTerm(Base):
    """One search term of one object version: an observable value it names, or a word.

    ``kind`` is an observable kind of :mod:`varsel.observables.normalize` (``ip``, ``cidr``,
    ``domain``, ``url``, ``email``, ``hash``) with its canonical value, or ``word``: a lower-cased
    word of the name or description. Addresses and blocks also carry ``lo``/``hi``, their first
    and last address as fixed-width hex (``4`` + 8 digits, ``6`` + 32), so that containment is
    a range comparison. Written at ingest (:mod:`varsel.sharing.terms`); readers reach the
    objects through :func:`varsel.policy.restrict` only. Docs: docs/web.md, "Search".
    """

    __tablename__ = "object_terms"
    __table_args__ = (
        # object_pk last: a word's or value's objects come out newest first from the index.
        Index("ix_object_terms_kind_value", "kind", "value", "object_pk"),
        # Addresses and blocks only: the words (most rows) have no range and skip this index.
        Index(
            "ix_object_terms_kind_lo",
            "kind",
            "lo",
            sqlite_where=text("lo IS NOT NULL"),
            postgresql_where=text("lo IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    object_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("stix_objects.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(TermText)
    lo: Mapped[str | None] = mapped_column(String(33))
    hi: Mapped[str | None] = mapped_column(String(33))
