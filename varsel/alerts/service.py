"""A user's own alert records, read and changed through the policy, and the idempotent insert.

Every read and change of preferences, watches, saved filters and notifications goes through
:func:`varsel.policy.restrict` (a user's own rows only). Changing where alerts are sent is
audited (``alerts.preferences``), naming the webhook's host, never its path or query, which may
hold a receiver's secret.

Errors: :class:`FieldError` (an :class:`~varsel.errors.InvalidInput`) names the form field at
fault, so a page can show the message beside it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from varsel import config
from varsel.alerts.models import (
    AlertPreference,
    DeliveryState,
    Notification,
    SavedFilter,
    Watch,
)
from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import InvalidInput, NotFound
from varsel.observables.normalize import (
    HASH_LENGTHS,
    BadValue,
    Kind,
    indicator_domain,
    indicator_email,
    indicator_ip,
    indicator_url,
)
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.reporting import notify as notifying
from varsel.sharing.browse import BrowseFilters

# The /objects filters a saved filter may hold (varsel.web.objects.FILTER_FIELDS).
FILTER_FIELDS = (
    "type",
    "tlp",
    "producer",
    "country",
    "community",
    "collection",
    "added_after",
    "q",
)
MAX_WATCHES = 500
MAX_FILTERS = 100
# The header badge counts up to here and then shows "99+": no slow COUNT of a large inbox.
BADGE_CAP = 100
_HEX = re.compile(r"[0-9a-f]+")


class FieldError(InvalidInput, ValueError):
    """A form value cannot be used; ``field`` names the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# Preferences ------------------------------------------------------------------------------


def preferences(*, session: Session, principal: Principal) -> AlertPreference | None:
    """Return my delivery preferences, or None when I never set any."""
    return session.execute(
        restrict(select(AlertPreference), principal, Action.READ)
    ).scalar_one_or_none()


def _check_email(text: str) -> str | None:
    if not text:
        return None
    if len(text) > 254:
        raise FieldError("email", "an e-mail address has at most 254 characters")
    try:
        indicator_email(text)
    except BadValue:
        raise FieldError("email", f"{text!r} is not an e-mail address") from None
    return text


def _check_webhook(text: str) -> str | None:
    if not text:
        return None
    if len(text) > 2000:
        raise FieldError("webhook_url", "a webhook URL has at most 2000 characters")
    try:
        notifying.check_webhook(text, config.current().webhook_hosts)
    except notifying.WebhookRefused as exc:
        raise FieldError("webhook_url", exc.message) from None
    return text


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def set_preferences(
    *, session: Session, principal: Principal, email: str, webhook_url: str
) -> AlertPreference:
    """Set where my alerts go besides the page (empty: nowhere); audited. Raise FieldError."""
    if principal.operator:
        raise InvalidInput("the local operator has no notifications")
    mail_to = _check_email(email.strip())
    hook = _check_webhook(webhook_url.strip())
    row = preferences(session=session, principal=principal)
    before = (row.email, row.webhook_url) if row is not None else (None, None)
    if row is None:
        row = AlertPreference(user_id=principal.user_id, updated_at=utcnow())
        session.add(row)
    row.email, row.webhook_url, row.updated_at = mail_to, hook, utcnow()
    session.flush()
    if before != (mail_to, hook):
        audit.record(
            session=session,
            actor=principal.label,
            action="alerts.preferences",
            target=f"user:{principal.user_id}",
            details={
                "email_changed": before[0] != mail_to,
                "email_set": mail_to is not None,
                "webhook_changed": before[1] != hook,
                # The host only: a webhook's path or query may carry the receiver's secret.
                "webhook_host": _host_of(hook),
            },
        )
    return row


# Watches ----------------------------------------------------------------------------------


def parse_watch(text: str) -> tuple[Kind, str]:
    """Return the kind and canonical form of a watched value, or raise FieldError."""
    value = text.strip()
    if not value:
        raise FieldError("value", "type a value to watch")
    if len(value) > 300:
        raise FieldError("value", "a watched value has at most 300 characters")
    try:
        if "://" in value:
            url = indicator_url(value)
            if url is None:
                raise FieldError("value", f"{value!r} is not an absolute URL")
            return Kind.URL, url
        if "@" in value:
            return Kind.EMAIL, indicator_email(value)
        lowered = value.lower()
        if len(lowered) in HASH_LENGTHS and _HEX.fullmatch(lowered):
            return Kind.HASH, lowered
        if value[0].isdigit() or ":" in value:
            try:
                return indicator_ip(value)
            except BadValue:
                if ":" in value or "/" in value:
                    raise
        domain = indicator_domain(value)
        if "." not in domain:
            raise FieldError("value", f"{value!r} is not a full domain name (no dot)")
        return Kind.DOMAIN, domain
    except BadValue:
        raise FieldError(
            "value",
            f"{value!r} is not an IP address, CIDR block, domain, URL, e-mail address or "
            "MD5/SHA-1/SHA-256/SHA-512 hash",
        ) from None


def watches(*, session: Session, principal: Principal) -> list[Watch]:
    """Return my watches, oldest first."""
    return list(
        session.execute(
            restrict(select(Watch), principal, Action.READ).order_by(Watch.id)
        ).scalars()
    )


def add_watch(*, session: Session, principal: Principal, text: str) -> Watch:
    """Watch a value from now on; raise FieldError for a value that cannot be watched."""
    if principal.operator:
        raise InvalidInput("the local operator has no notifications")
    kind, value = parse_watch(text)
    mine = watches(session=session, principal=principal)
    if any(w.kind == kind.value and w.value == value for w in mine):
        raise FieldError("value", f"you watch {value} already")
    if len(mine) >= MAX_WATCHES:
        raise FieldError("value", f"at most {MAX_WATCHES} watches per user")
    watch = Watch(user_id=principal.user_id, kind=kind.value, value=value, created_at=utcnow())
    session.add(watch)
    session.flush()
    return watch


def remove_watch(*, session: Session, principal: Principal, watch_id: int) -> None:
    """Stop watching; a watch that is not mine is not found."""
    mine = restrict(select(Watch.id).where(Watch.id == watch_id), principal, Action.DELETE)
    gone = session.execute(delete(Watch).where(Watch.id.in_(mine)))
    if not getattr(gone, "rowcount", 0):
        raise NotFound("no such watch")


# Saved filters ----------------------------------------------------------------------------


def clean_query(query: str) -> str:
    """Return the /objects filter in ``query`` (its known, non-empty fields), or raise."""
    text = query.lstrip("?")
    if len(text) > 2000:
        raise FieldError("name", "the filter is longer than 2000 characters")
    values = {k: v.strip() for k, v in parse_qsl(text) if k in FILTER_FIELDS and v.strip()}
    try:
        BrowseFilters.parse(
            type=values.get("type"),
            tlp=values.get("tlp"),
            collection=values.get("collection"),
            producer=values.get("producer"),
            country=values.get("country"),
            community=values.get("community"),
            added_after=values.get("added_after"),
            text=values.get("q"),
        )
    except InvalidInput as exc:
        raise FieldError("name", exc.message) from None
    return urlencode(sorted(values.items()))


def saved_filters(*, session: Session, principal: Principal) -> list[SavedFilter]:
    """Return my saved filters by name."""
    return list(
        session.execute(
            restrict(select(SavedFilter), principal, Action.READ).order_by(SavedFilter.name)
        ).scalars()
    )


def save_filter(*, session: Session, principal: Principal, name: str, query: str) -> SavedFilter:
    """Save the /objects filter ``query`` as ``name`` (replacing one of that name)."""
    if principal.operator:
        raise InvalidInput("the local operator has no notifications")
    name = name.strip()
    if not name or len(name) > 100:
        raise FieldError("name", "give the filter a name of 1-100 characters")
    cleaned = clean_query(query)
    mine = saved_filters(session=session, principal=principal)
    same = next((f for f in mine if f.name == name), None)
    if same is not None:
        same.query = cleaned
        return same
    if len(mine) >= MAX_FILTERS:
        raise FieldError("name", f"at most {MAX_FILTERS} saved filters per user")
    row = SavedFilter(user_id=principal.user_id, name=name, query=cleaned, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def remove_filter(*, session: Session, principal: Principal, filter_id: int) -> None:
    """Delete one of my saved filters."""
    mine = restrict(
        select(SavedFilter.id).where(SavedFilter.id == filter_id), principal, Action.DELETE
    )
    gone = session.execute(delete(SavedFilter).where(SavedFilter.id.in_(mine)))
    if not getattr(gone, "rowcount", 0):
        raise NotFound("no such saved filter")


# Notifications ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewNotification:
    """What the evaluator found for one user; ``key`` names the event (deduplicated)."""

    user_id: int
    kind: str
    key: str
    params: dict[str, Any]
    link: str | None = None
    object_id: str | None = None


def dedupe_key(*parts: object) -> str:
    """Return the 64-hex key of an event for one user (the unique column)."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def insert_once(
    *, session: Session, new: NewNotification, email: bool, webhook: bool, now: datetime
) -> int | None:
    """Insert ``new`` unless its key exists; return its id, or None when it was there already.

    ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` on both databases: a second process
    evaluating the same event inserts nothing and gets no id, so only one process delivers it,
    and neither sees an error.
    """
    values = {
        "user_id": new.user_id,
        "kind": new.kind,
        "params": json.dumps(new.params, sort_keys=True, ensure_ascii=False),
        "link": new.link,
        "object_id": new.object_id,
        "dedupe_key": dedupe_key(new.user_id, new.kind, new.key),
        "created_at": now,
        "email_state": DeliveryState.PENDING.value if email else None,
        "webhook_state": DeliveryState.PENDING.value if webhook else None,
        "attempts": 0,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Notification)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification.id)
    )
    return session.execute(statement).scalar_one_or_none()


def notifications(
    *, session: Session, principal: Principal, limit: int = 50, before: int | None = None
) -> list[Notification]:
    """Return my notifications, newest first, ``limit`` at a time (before id ``before``)."""
    query = restrict(select(Notification), principal, Action.READ)
    if before is not None:
        query = query.where(Notification.id < before)
    return list(session.execute(query.order_by(Notification.id.desc()).limit(limit)).scalars())


def unread_count(*, session: Session, principal: Principal, cap: int = BADGE_CAP) -> int:
    """Return how many of my notifications are unread, counting at most ``cap``."""
    inner = (
        restrict(select(Notification.id), principal, Action.READ)
        .where(Notification.read_at.is_(None))
        .limit(cap)
        .subquery()
    )
    return int(session.execute(select(func.count()).select_from(inner)).scalar_one())


def mark_read(*, session: Session, principal: Principal, notification_id: int | None) -> int:
    """Mark one of my notifications read (all of them for None); return how many changed."""
    mine = select(Notification.id).where(Notification.read_at.is_(None))
    if notification_id is not None:
        mine = mine.where(Notification.id == notification_id)
    ids = restrict(mine, principal, Action.WRITE)
    done = session.execute(
        update(Notification).where(Notification.id.in_(ids)).values(read_at=utcnow())
    )
    return int(getattr(done, "rowcount", 0) or 0)
