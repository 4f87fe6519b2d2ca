"""What an ingest reports and what it carries between its steps.

:class:`StatusDetail` and :class:`IngestResult` are the content of the TAXII status resource;
``Candidate`` is an object that passed every check, with what storing it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from varsel.sharing.ingest.marking import UNCLASSIFIED
from varsel.sharing.tlp import TLP
from varsel.sharing.validation import ValidatedObject


@dataclass(frozen=True, slots=True)
class StatusDetail:
    """What happened to one object of an envelope (a TAXII status-details entry)."""

    id: str | None
    version: str | None
    message: str | None = None

    def as_taxii(self) -> dict[str, Any]:
        """Return the TAXII 2.1 status-details form."""
        out: dict[str, Any] = {"id": self.id or "", "version": self.version or ""}
        if self.message:
            out["message"] = self.message
        return out


@dataclass
class IngestResult:
    """The outcome of one envelope: the TAXII status resource's content."""

    status_id: str
    request_timestamp: str
    successes: list[StatusDetail] = field(default_factory=list)
    failures: list[StatusDetail] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Return how many objects the envelope held."""
        return len(self.successes) + len(self.failures)


@dataclass(slots=True)
class Candidate:
    """An object that passed every check, with what storing it needs."""

    raw: str
    obj: dict[str, Any]
    facts: ValidatedObject
    tlp: TLP
    recipients: tuple[tuple[int | None, int | None], ...] = ()
    classification: dict[str, Any] = field(default_factory=lambda: dict(UNCLASSIFIED))
    warnings: tuple[str, ...] = ()
    # Set for a version received from another hub (varsel.federation): the provenance text
    # its origin signed, the seal that lists its digest and the origin hub's name. A version
    # without them is first stored here, and this hub seals it (ingest._store).
    provenance: str | None = None
    seal_id: str | None = None
    origin_hub: str | None = None
    # Recipients at other hubs: (the local organisation of kind ``hub``, whom the producer
    # named there: "CERT-SE" or "user:alice"), stored as recipient rows with ``remote`` set.
    remote_recipients: tuple[tuple[int, str], ...] = ()
