"""The hub's own properties on the STIX of a MISP event: what misp-stix does not carry.

Each is written by :mod:`._export` and read back by :mod:`._import`; none decides who may read
anything (markings and ``restrict()`` do).
"""

from __future__ import annotations

from typing import Final

from varsel.sharing.ingest import RECIPIENTS_PROPERTY

PUBLISHED_PROPERTY: Final = "x_varsel_published"
"""The grouping of a published event carries the time it was published."""
OBJECT_ATTRIBUTES_PROPERTY: Final = "x_varsel_misp_attributes"
"""Each MISP object's STIX object carries its attributes' ``[relation, value, uuid, timestamp,
comment]``, which misp-stix does not keep (it derives new uuids on the way back)."""
EVENT_PROPERTY: Final = "x_varsel_misp_event"
"""The grouping carries the event fields misp-stix does not convert (date, threat level, …)."""
EVENT_FIELDS: Final = ("date", "threat_level_id", "analysis", "extends_uuid")
CREATOR_PROPERTY: Final = "x_varsel_misp_orgc"
"""The grouping carries the event's creator as MISP names it (``Orgc``: name and uuid)."""
REFERENCE_PROPERTY: Final = "x_varsel_misp_reference"
"""The uuid of the MISP object reference a relationship stands for (misp-stix derives another)."""
COMMENT_PROPERTY: Final = "x_varsel_misp_comment"
"""The comment of an attribute misp-stix writes as observables, which have no description."""

OURS: Final = frozenset(
    {
        RECIPIENTS_PROPERTY,
        PUBLISHED_PROPERTY,
        OBJECT_ATTRIBUTES_PROPERTY,
        EVENT_PROPERTY,
        CREATOR_PROPERTY,
        REFERENCE_PROPERTY,
        COMMENT_PROPERTY,
    }
)
"""What the hub adds and takes away again before misp-stix reads an object."""

__all__ = [
    "COMMENT_PROPERTY",
    "CREATOR_PROPERTY",
    "EVENT_FIELDS",
    "EVENT_PROPERTY",
    "OBJECT_ATTRIBUTES_PROPERTY",
    "OURS",
    "PUBLISHED_PROPERTY",
    "RECIPIENTS_PROPERTY",
    "REFERENCE_PROPERTY",
]
