"""Every table of the hub, imported explicitly so metadata and migrations see them all."""

from varsel.audit.models import AuditEvent, AuditHead
from varsel.orgs.models import (
    ApiToken,
    ClientRelation,
    Community,
    CommunityMember,
    Organisation,
    User,
)
from varsel.sharing.models import Collection, IngestStatus, Recipient, Reshare, StixObject

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "ClientRelation",
    "Collection",
    "Community",
    "CommunityMember",
    "IngestStatus",
    "Organisation",
    "Recipient",
    "Reshare",
    "StixObject",
    "User",
]
