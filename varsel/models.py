"""Every table of the hub, imported explicitly so metadata and migrations see them all."""

from varsel.audit.models import AuditEvent, AuditHead
from varsel.clearances.models import Clearance, ExpiryNotice, Person, RecognitionRequest
from varsel.federation.models import Lease, Peer, PeerLink, Refusal, TrustedHub
from varsel.incidents.models import (
    EntityProfile,
    ImpactFact,
    Incident,
    NotificationLog,
    ObjectLink,
    Participant,
    ReportSubmission,
    Task,
    TimelineEntry,
)
from varsel.orgs.models import (
    ApiToken,
    AuthFailure,
    ClientRelation,
    Community,
    CommunityMember,
    MembershipRequest,
    Organisation,
    User,
)
from varsel.sharing.models import (
    Collection,
    IngestStatus,
    Recipient,
    Reshare,
    Seal,
    StixObject,
    StreamPosition,
    Tombstone,
    TombstoneAudience,
)
from varsel.web.models import WebSignIn

__all__ = [
    "TombstoneAudience",
    "Tombstone",
    "StreamPosition",
    "Seal",
    "TrustedHub",
    "Refusal",
    "PeerLink",
    "Peer",
    "Lease",
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "AuthFailure",
    "Clearance",
    "ClientRelation",
    "Collection",
    "Community",
    "CommunityMember",
    "ExpiryNotice",
    "EntityProfile",
    "ImpactFact",
    "Incident",
    "IngestStatus",
    "MembershipRequest",
    "NotificationLog",
    "ObjectLink",
    "Participant",
    "ReportSubmission",
    "Task",
    "TimelineEntry",
    "Organisation",
    "Person",
    "RecognitionRequest",
    "Recipient",
    "Reshare",
    "StixObject",
    "User",
    "WebSignIn",
]
