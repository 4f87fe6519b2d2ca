"""E-mail and webhook copies of notifications, each sent by one process at most once.

A run claims a notification by moving its attempt counter (``UPDATE … WHERE attempts = seen``)
and commits before sending, so two processes never send the same copy. Before sending, the
user must still read what the alert is about (the object, incident or clearance, through the
policy): a copy about something re-marked meanwhile is withheld. The copies carry no content
of the object (no name, value or pattern): the kind, its TLP and type, the user's own watched
value or the incident number, and the path of the page on the hub; the page shows the rest to
whoever signs in.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from varsel.alerts.flows._people import People
from varsel.alerts.models import AlertKind, AlertPreference, DeliveryState, Notification
from varsel.clearances.models import Clearance
from varsel.incidents.models import Incident
from varsel.orgs.models import Role
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.reporting import notify as notifying
from varsel.sharing.models import StixObject

log = logging.getLogger("varsel.alerts")
MAX_ATTEMPTS = 3
# What a copy may carry: never the object's name, value or pattern.
_SAFE = ("tlp", "type", "watch", "incident", "stage", "country", "deadline", "until")
_RETRY = (DeliveryState.PENDING.value, DeliveryState.FAILED.value)

SUBJECTS = {
    AlertKind.RED.value: "A new TLP:RED object is addressed to you",
    AlertKind.WATCH.value: "A new object concerns your watched value {watch}",
    AlertKind.SIGHTING.value: "A new sighting of one of your organisation's indicators",
    AlertKind.DEADLINE.value: "Incident #{incident}: a report is due within hours",
    AlertKind.CLEARANCE.value: "A clearance expires in {days} days",
    AlertKind.LAG.value: "Federation link #{link} to {peer} lags",
}


@dataclass
class DeliveryResult:
    """What one delivery pass did."""

    sent: int = 0
    failed: int = 0
    withheld: int = 0
    errors: list[str] = field(default_factory=list)


def still_readable(session: Session, principal: Principal, row: Notification) -> bool:
    """Return whether ``principal`` may still read what ``row`` is about."""
    params = json.loads(row.params)
    if row.object_id is not None:
        query: Any = select(StixObject.id).where(StixObject.stix_id == row.object_id)
    elif row.kind == AlertKind.DEADLINE.value:
        query = select(Incident.id).where(Incident.id == params.get("incident"))
    elif row.kind == AlertKind.CLEARANCE.value:
        query = select(Clearance.id).where(Clearance.id == params.get("clearance"))
    elif row.kind == AlertKind.LAG.value:
        return principal.role is Role.HUB_ADMIN
    else:
        return False
    return session.execute(restrict(query, principal, Action.READ).limit(1)).first() is not None


def payload(row: Notification) -> dict[str, Any]:
    """Return what an e-mail or webhook copy carries: never the object's content."""
    params = json.loads(row.params)
    kept = {k: params[k] for k in (*_SAFE, "days", "peer") if k in params}
    subject = SUBJECTS.get(row.kind, "New notification").format_map(_Blank(params))
    return {
        "event": f"alert.{row.kind}",
        "notification": row.id,
        "kind": row.kind,
        "created": row.created_at.isoformat(timespec="seconds") + "Z",
        "path": row.link or "/notifications",
        "subject": f"[Varsel] {subject}",
        **kept,
    }


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _text(data: dict[str, Any]) -> str:
    lines = [data["subject"].removeprefix("[Varsel] "), ""]
    for key in _SAFE:
        if key in data:
            lines.append(f"{key}: {data[key]}")
    lines += ["", f"Open {data['path']} on the hub (sign in) to see it.", ""]
    return "\n".join(lines)


def deliver(
    *, session: Session, settings: notifying.NotifySettings, limit: int = 200
) -> DeliveryResult:
    """Send the pending e-mail and webhook copies once each; retry failed ones a few times."""
    result = DeliveryResult()
    people = People(session)
    rows = list(
        session.execute(
            select(Notification.id, Notification.attempts)
            .where(
                or_(Notification.email_state.in_(_RETRY), Notification.webhook_state.in_(_RETRY)),
                Notification.attempts < MAX_ATTEMPTS,
            )
            .order_by(Notification.id)
            .limit(limit)
        )
    )
    session.commit()
    for nid, seen in rows:
        claimed = session.execute(
            update(Notification)
            .where(Notification.id == nid, Notification.attempts == seen)
            .values(attempts=seen + 1)
        )
        session.commit()
        if not getattr(claimed, "rowcount", 0):
            continue  # another process took it
        _send(session, people, settings, nid, result)
        session.commit()
    return result


def _send(
    session: Session,
    people: People,
    settings: notifying.NotifySettings,
    nid: int,
    result: DeliveryResult,
) -> None:
    row = session.get(Notification, nid)
    if row is None:
        return
    prefs = session.get(AlertPreference, row.user_id)
    principal = people.principal(row.user_id)
    if principal is None or prefs is None or not still_readable(session, principal, row):
        for attr in ("email_state", "webhook_state"):
            if getattr(row, attr) in _RETRY:
                setattr(row, attr, DeliveryState.WITHHELD.value)
                result.withheld += 1
        return
    data = payload(row)
    errors = []
    if row.email_state in _RETRY:
        try:
            if not prefs.email:
                raise notifying.DeliveryFailed("no e-mail address set any more")
            notifying.send_email(settings, prefs.email, data["subject"], _text(data))
            row.email_state = DeliveryState.SENT.value
            result.sent += 1
        except notifying.DeliveryFailed as exc:
            row.email_state = DeliveryState.FAILED.value
            errors.append(f"e-mail: {exc.message}")
    if row.webhook_state in _RETRY:
        try:
            if not prefs.webhook_url:
                raise notifying.DeliveryFailed("no webhook set any more")
            notifying.post_webhook(settings, prefs.webhook_url, data)
            row.webhook_state = DeliveryState.SENT.value
            result.sent += 1
        except notifying.DeliveryFailed as exc:
            row.webhook_state = DeliveryState.FAILED.value
            errors.append(f"webhook: {exc.message}")
    row.delivery_error = "; ".join(errors)[:300] or None
    if errors:
        result.failed += len(errors)
        result.errors.extend(errors)
        # The messages name no address, URL or secret (varsel.reporting.notify).
        log.warning("alert %s to user %s not delivered: %s", row.id, row.user_id, "; ".join(errors))
