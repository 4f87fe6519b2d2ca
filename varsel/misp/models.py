"""The hub administrator's MISP mapping: where organisations' events land, sharing groups, ceilings.

Read by :func:`varsel.misp.service.mapping_of` into a :class:`varsel.misp.sharing.Mapping`;
changed only through :mod:`varsel.misp.service`, which asks the policy and audits each change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from varsel.db import Base


class MispOrgCollection(Base):
    """The collection an organisation's events land in when it adds them through MISP's API."""

    __tablename__ = "misp_org_collections"

    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    set_by: Mapped[str] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class MispSharingGroup(Base):
    """A MISP sharing group known to the hub, by its uuid, with the name MISP gives it."""

    __tablename__ = "misp_sharing_groups"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class MispSharingGroupOrg(Base):
    """A hub organisation that an item shared with a sharing group is addressed to."""

    __tablename__ = "misp_sharing_group_orgs"

    group_uuid: Mapped[str] = mapped_column(
        ForeignKey("misp_sharing_groups.uuid", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class MispCeiling(Base):
    """The least restrictive TLP level an item of MISP distribution 0–3 may get here."""

    __tablename__ = "misp_distribution_ceilings"

    distribution: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tlp: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime)
