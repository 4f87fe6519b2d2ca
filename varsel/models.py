"""Every table of the hub, imported explicitly so metadata and migrations see them all."""

from varsel.audit.models import AuditEvent, AuditHead
from varsel.clearances.models import Clearance, ExpiryNotice, Person, RecognitionRequest
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
    ClientRelation,
    Community,
    CommunityMember,
    Organisation,
    User,
)
from varsel.sharing.models import Collection, IngestStatus, Recipient, Reshare, StixObject
from varsel.web.models import WebSignIn

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AuditHead",
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
