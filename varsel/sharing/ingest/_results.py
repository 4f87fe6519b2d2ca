"""What an ingest reports and what it carries between its steps.

:class:`StatusDetail` and :class:`IngestResult` are the content of the TAXII status resource;
``Candidate`` is an object that passed every check, with what storing it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

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


class Addressee(NamedTuple):
    """A named recipient of a version: a local organisation or user, or someone at a peer hub.

    For someone at another hub (``ORG@hub-b``, ``user:NAME@hub-b``) ``org_id`` is the local
    organisation of kind ``hub`` standing for that hub and ``remote`` whom there the producer
    named (``"ORG"`` or ``"user:NAME"``, as written): docs/federation.md, "TLP across hubs".
    """

    org_id: int | None
    user_id: int | None
    remote: str | None = None


@dataclass(slots=True)
class Candidate:
    """An object that passed every check, with what storing it needs."""

    raw: str
    obj: dict[str, Any]
    facts: ValidatedObject
    tlp: TLP
    # The recipients named (TLP:RED always, TLP:AMBER+STRICT when it names any).
    recipients: tuple[Addressee, ...] = ()
    classification: dict[str, Any] = field(default_factory=lambda: dict(UNCLASSIFIED))
    warnings: tuple[str, ...] = ()
    # Set for a version received from another hub (varsel.federation): the provenance text
    # its origin signed, the seal that lists its digest and the origin hub's name. A version
    # without them is first stored here, and this hub seals it (ingest._store).
    provenance: str | None = None
    seal_id: str | None = None
    origin_hub: str | None = None
