"""Whether a person may see classified material, decided and written to the audit log.

The decision itself is :func:`varsel.clearances.decision.decide`; the audit record is the
proof afterwards of what was decided, when and why.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clearances import rules
from varsel.clearances.decision import Context, Decision, decide
from varsel.clearances.models import Person
from varsel.clearances.service._common import actor_label
from varsel.errors import InvalidInput, NotFound
from varsel.orgs import service as orgs
from varsel.orgs.models import Community, Organisation
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal


def check(
    *,
    session: Session,
    principal: Principal | None,
    person: Person,
    label: str,
    at: datetime | None = None,
    community: str | None = None,
) -> Decision:
    """Decide whether ``person`` may see material ``label`` (``NO:KONFIDENSIELT``); audited."""
    try:
        material = rules.parse_label(label)
    except rules.UnknownLevel as exc:
        raise InvalidInput(str(exc)) from None
    context = None
    if community:
        found = orgs.get_community(session=session, name=community)
        # A community the asker may not see is answered as one that does not exist.
        if (
            principal is not None
            and not session.execute(
                restrict(
                    select(Community.id).where(Community.id == found.id), principal, Action.READ
                )
            ).first()
        ):
            raise NotFound(f"no community called {community!r}")
        context = Context(community_id=found.id, community_name=found.name)
    at = at or datetime.now(UTC)
    decision = decide(
        session=session,
        person=person,
        country=material.scheme,
        level=material.name,
        at=at,
        context=context,
    )
    employer = session.get(Organisation, person.employer_org_id)
    audit.record(
        session=session,
        actor=actor_label(principal),
        action="clearance.check",
        target=f"person:{person.id}",
        details={
            "material": material.label,
            "allowed": decision.allowed,
            "employer": employer.name if employer else None,
            "at": at.isoformat(),
            "reasons": decision.reasons,
        },
    )
    return decision
