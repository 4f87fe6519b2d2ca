"""Organisations, their users and API tokens, and the communities they share in."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from varsel.db import Base


class OrgKind(StrEnum):
    """What kind of body an organisation is."""

    COMPANY = "company"
    AUTHORITY = "authority"
    CSIRT = "csirt"
    DEFENCE = "defence"
    INTERNATIONAL_PARTNER = "international-partner"
    HUB = "hub"
    """Another Varsel hub: its peer users read and write here like any organisation's."""


class Role(StrEnum):
    """A user's role in the hub."""

    ANALYST = "analyst"
    ORG_ADMIN = "org-admin"
    HUB_ADMIN = "hub-admin"


class Organisation(Base):
    """A company, authority, CSIRT, defence body or international partner that shares."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # NFKC, case-folded and with look-alike characters mapped to their Latin prototype
    # (varsel.orgs.names): unique, so "Svea Moln АB" (Cyrillic А) cannot sit beside "Svea Moln AB".
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(32))
    sector: Mapped[str | None] = mapped_column(String(100))
    subsector: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # A hub-admin vouched that this is a real, distinct organisation: only such organisations
    # count toward sighting aggregates' k (docs/matching.md), so sybils cannot make up k.
    vouched_at: Mapped[datetime | None] = mapped_column(DateTime)
    vouched_by: Mapped[str | None] = mapped_column(String(200))


class ClientRelation(Base):
    """``client`` is a registered client of ``provider`` (an MSSP and its customer)."""

    __tablename__ = "client_relations"

    provider_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class User(Base):
    """A person who signs in; belongs to exactly one organisation."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    # Case-insensitive key (varsel.orgs.names): "Analyst.no" and "analyst.no" are one user.
    username_key: Mapped[str] = mapped_column(String(150), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # A disabled user signs in with nothing; disabling ends their sessions and revokes tokens.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)

    org: Mapped[Organisation] = relationship(lazy="joined")


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    # A token minted with a token: bounded by its parent's expiry and scope, revoked with it.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    # "read" or "read-write" (TokenScope): a read token changes nothing, whatever its user may do.
    scope: Mapped[str] = mapped_column(
        String(16), default="read-write", server_default="read-write"
    )


class TokenScope(StrEnum):
    """What a request authenticated by an API token may do."""

    READ = "read"
    READ_WRITE = "read-write"


class AuthFailure(Base):
    """Failed password sign-ins of one account from one address, and when it may try again.

    Keyed by a digest of (username key, address), so the table holds no plaintext of either.
    Throttling per account *and* address means nobody locks anyone else out from elsewhere.
    """

    __tablename__ = "auth_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class AddressFailure(Base):
    """Failed authentications from one client address in one window (a minute by default).

    Keyed by a digest of (address, window number); in the database so that every hub process
    counts against the same limit.
    """

    __tablename__ = "address_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(DateTime, index=True)


class Visibility(StrEnum):
    """Who may see that a community exists, its members and its collections."""

    LISTED = "listed"
    """Every authenticated user."""
    UNLISTED = "unlisted"
    """Only the users of its member organisations and hub-admins (the default)."""


class Community(Base):
    """A named sharing group of organisations."""

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Membership of a sharing group can itself be sensitive (a defence-sector group), so a
    # community is unlisted unless someone decides otherwise (docs/access-policy.md).
    visibility: Mapped[str] = mapped_column(
        String(16), default=Visibility.UNLISTED.value, server_default=Visibility.UNLISTED.value
    )


class CommunityMember(Base):
    """Membership of one organisation in one community; takes effect at once."""

    __tablename__ = "community_members"
    __table_args__ = (UniqueConstraint("community_id", "org_id"),)

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class MembershipRequest(Base):
    """A pending addition of an organisation to a community, awaiting a second party.

    Adding a member widens who reads the community's material, so outside the local operator's
    CLI it takes effect only once an org-admin of another member organisation approves it.
    """

    __tablename__ = "membership_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    requested_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    requested_by: Mapped[str] = mapped_column(String(300))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(300))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    approved: Mapped[bool | None] = mapped_column(Boolean)
