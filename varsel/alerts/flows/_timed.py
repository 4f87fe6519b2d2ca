"""Alerts that come with time: report deadlines, clearances expiring, federation links lagging.

Each is found for the users it concerns and kept only where the policy lets that user read the
incident or clearance (through the domains' own read functions, which ``restrict()``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from varsel.alerts.flows._people import People
from varsel.alerts.models import AlertKind
from varsel.alerts.service import NewNotification
from varsel.clearances import service as register
from varsel.clearances.models import Clearance, Person
from varsel.clearances.notices import THRESHOLDS
from varsel.clock import aware, naive
from varsel.federation.models import Peer, PeerLink
from varsel.incidents import flows as incident_flows
from varsel.incidents.models import Incident, Participant, Status
from varsel.orgs.models import Organisation, Role, User
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal

# A report due within this many hours is alerted (issue 15: "a deadline within 6 hours").
DEADLINE_HOURS = 6
# A lagging link is alerted again at most once in this many hours.
LAG_REPEAT_HOURS = 6


def _participants(session: Session, people: People) -> list[int]:
    """Return the users taking part in open incidents (as users or through their organisation)."""
    users: set[int] = set()
    for org_id, user_id in session.execute(
        select(Participant.org_id, Participant.user_id)
        .join(Incident, Incident.id == Participant.incident_id)
        .where(Incident.status != Status.CLOSED.value)
    ):
        if user_id is not None:
            users.add(user_id)
        elif org_id is not None:
            users.update(people.of_org(org_id))
    return sorted(users)


def _takes_part(session: Session, principal: Principal) -> set[int]:
    return set(
        session.execute(
            select(Participant.incident_id).where(
                or_(
                    Participant.org_id == principal.org_id,
                    Participant.user_id == principal.user_id,
                )
            )
        ).scalars()
    )


def deadlines(*, session: Session, people: People, now: datetime) -> list[NewNotification]:
    """Return an alert per report due within DEADLINE_HOURS, for each participating user."""
    found = []
    for uid in _participants(session, people):
        principal = people.principal(uid)
        if principal is None:
            continue
        mine = _takes_part(session, principal)
        # The clock reads only the incidents this principal may read (restrict()).
        for row in incident_flows.clock(
            session=session, principal=principal, now=now, within_hours=DEADLINE_HOURS
        ):
            if row["incident"] not in mine or row["status"] != "due" or not row["deadline_utc"]:
                continue
            found.append(
                NewNotification(
                    user_id=uid,
                    kind=AlertKind.DEADLINE.value,
                    key="|".join(
                        str(row[k])
                        for k in ("incident", "entity", "country", "stage", "deadline_utc")
                    ),
                    params={
                        "incident": row["incident"],
                        "stage": row["stage"],
                        "country": row["country"],
                        "deadline": row["deadline_utc"],
                    },
                    link=f"/incidents/{row['incident']}/obligations",
                )
            )
    return found


def _threshold(days_left: int) -> int | None:
    due = [t for t in THRESHOLDS if days_left <= t]
    return min(due) if due else None


def clearances(*, session: Session, people: People, now: datetime) -> list[NewNotification]:
    """Return an alert per clearance reaching a 60/30/7-day threshold, for its holder and its
    security officers (the org-admins of the holder's employer) who may read it."""
    today = naive(now).date()
    found = []
    for clearance in register.expiring(
        session=session, principal=None, within_days=max(THRESHOLDS), today=today
    ):
        days_left = (clearance.valid_until - today).days
        threshold = _threshold(days_left)
        person = session.get(Person, clearance.person_id)
        if threshold is None or person is None:
            continue
        users = set(
            session.execute(
                select(User.id).where(
                    User.org_id == person.employer_org_id, User.role == Role.ORG_ADMIN.value
                )
            ).scalars()
        )
        if person.user_id is not None:
            users.add(person.user_id)
        for uid in sorted(users):
            principal = people.principal(uid)
            if principal is None or not _may_read_clearance(session, principal, clearance.id):
                continue
            found.append(
                NewNotification(
                    user_id=uid,
                    kind=AlertKind.CLEARANCE.value,
                    key=f"{clearance.id}|{threshold}",
                    params={
                        "clearance": clearance.id,
                        "person": person.name,
                        "level": clearance.level,
                        "country": clearance.country,
                        "until": clearance.valid_until.isoformat(),
                        "days": days_left,
                        "own": uid == person.user_id,
                    },
                    link=None if uid == person.user_id else "/clearances/expiring",
                )
            )
    return found


def _may_read_clearance(session: Session, principal: Principal, clearance_id: int) -> bool:
    return (
        session.execute(
            restrict(
                select(Clearance.id).where(Clearance.id == clearance_id), principal, Action.READ
            )
        ).scalar_one_or_none()
        is not None
    )


def lagging_links(
    *, session: Session, people: People, now: datetime, threshold_s: int
) -> list[NewNotification]:
    """Return an alert per federation link lagging over ``threshold_s``, for each hub-admin."""
    moment = naive(now)
    lagging = []
    for link, peer in session.execute(
        select(PeerLink, Peer.name).join(Peer, Peer.id == PeerLink.peer_id).order_by(PeerLink.id)
    ):
        since = link.last_success_at or link.created_at
        stalled = link.state in ("retrying", "error") and moment - since > timedelta(
            seconds=threshold_s
        )
        if (link.lag_seconds or 0) > threshold_s or stalled:
            lagging.append((link, peer, since))
    if not lagging:
        return []
    admins = session.execute(
        select(User.id)
        .join(Organisation, Organisation.id == User.org_id)
        .where(User.role == Role.HUB_ADMIN.value, Organisation.kind != "hub")
        .order_by(User.id)
    ).scalars()
    bucket = int(aware(moment).timestamp() // (LAG_REPEAT_HOURS * 3600))  # type: ignore[union-attr]
    found = []
    for uid in admins:
        if people.principal(uid) is None:
            continue
        for link, peer, since in lagging:
            found.append(
                NewNotification(
                    user_id=uid,
                    kind=AlertKind.LAG.value,
                    key=f"{link.id}|{bucket}",
                    params={
                        "peer": peer,
                        "link": link.id,
                        "direction": link.direction,
                        "state": link.state,
                        "minutes": int(
                            max(link.lag_seconds or 0, (moment - since).total_seconds()) // 60
                        )
                        if link.state in ("retrying", "error")
                        else int((link.lag_seconds or 0) // 60),
                    },
                    link="/admin/federation",
                )
            )
    return found
