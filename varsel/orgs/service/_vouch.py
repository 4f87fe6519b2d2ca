"""Vouching: a hub-admin's word that an organisation is real and distinct from the others.

Sighting aggregates count only vouched organisations (docs/matching.md): without that, anyone
able to create organisations — or to have them created — could supply k-1 made-up sightings and
single out the one real contributor. Vouching and its withdrawal are audited.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.orgs.models import Organisation
from varsel.orgs.service._orgs import get_org


def vouch_org(*, session: Session, name: str, actor: str, remove: bool = False) -> Organisation:
    """Vouch for the organisation called ``name`` (or withdraw it); audit any change."""
    org = get_org(session=session, name=name)
    if remove == (org.vouched_at is None):
        return org  # already as asked: nothing to change, nothing to record
    if remove:
        details = {"vouched_at": org.vouched_at, "vouched_by": org.vouched_by}
        org.vouched_at, org.vouched_by = None, None
    else:
        org.vouched_at, org.vouched_by = utcnow(), actor
        details = {"vouched_at": org.vouched_at}
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="org.unvouch" if remove else "org.vouch",
        target=org.name,
        details=details,
    )
    return org
