"""Checks and conversions of incident fields: choices, TLP, contacts, countries, stored times.

The entity-profile vocabularies (entity types, NIS2 classes, DORA kinds) live here too, so the
forms and the service offer the same choices. Every check raises InvalidInput with a message
fit to show the person who typed the value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from varsel.errors import InvalidInput
from varsel.reporting import notify
from varsel.sharing.tlp import TLP

_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
ENTITY_TYPES = (
    "dns",
    "tld",
    "cloud",
    "data-centre",
    "cdn",
    "msp",
    "mssp",
    "marketplace",
    "search-engine",
    "social-network",
    "trust-service",
    "electronic-communications",
)
NIS2_CLASSES = ("essential", "important")
DORA_KINDS = (
    "credit-institution",
    "central-counterparty",
    "trading-venue",
    "investment-firm",
    "payment-institution",
    "insurance-undertaking",
    "other",
)


def choice(
    value: str, allowed: tuple[str, ...] | type[Any], what: str, field: str | None = None
) -> str:
    """Return ``value`` lower-cased if it is one of ``allowed``, or refuse it (about ``field``)."""
    options = tuple(v.value for v in allowed) if isinstance(allowed, type) else allowed
    value = value.strip().lower()
    if value not in options:
        raise InvalidInput(
            f"unknown {what} {value!r}; expected one of {', '.join(options)}", field=field
        )
    return value


def tlp_level(value: str) -> str:
    """Return the TLP level ``value`` names, or refuse it."""
    try:
        return TLP.parse(value).value
    except ValueError as exc:
        raise InvalidInput(str(exc), field="tlp") from None


def emails(values: list[str]) -> str:
    """Return the notification addresses joined by commas, each checked."""
    for value in values:
        if len(value) > 254 or not _EMAIL.match(value):
            raise InvalidInput(f"{value[:60]!r} is not an e-mail address")
    joined = ",".join(values)
    if len(joined) > 2000:
        raise InvalidInput("the notification addresses exceed 2,000 characters together")
    return joined


def webhook(url: str | None) -> str | None:
    """Return the webhook URL if the hub's allowed hosts accept it (None for none)."""
    if url is None or url == "":
        return None
    if len(url) > 2000 or not re.match(r"^https?://[^\s/]+", url):
        raise InvalidInput("a webhook URL must start with http:// or https://")
    # Checked again at every send (with the name resolved): the list may shrink meanwhile.
    try:
        notify.check_webhook(url, notify.webhook_hosts())
    except notify.WebhookRefused as exc:
        raise InvalidInput(str(exc)) from None
    return url


# Clocks of the caller and the hub may differ a little; more than this ahead is a typo.
_SKEW = timedelta(minutes=5)


def not_future(moment: datetime, what: str, field: str | None = None) -> None:
    """Refuse a time in the future: what was done or sent cannot have happened yet."""
    now = datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > now + _SKEW:
        raise InvalidInput(
            f"{what} ({moment.astimezone(UTC).isoformat().replace('+00:00', 'Z')}) is in the "
            f"future; record it when it has happened",
            field=field,
        )


def clean_text(value: str | None, limit: int, what: str) -> str | None:
    """Return ``value`` if it is at most ``limit`` characters long, or refuse it."""
    if value is not None and len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return value


def countries(values: list[str] | tuple[str, ...], what: str) -> str:
    """Return the ISO 3166-1 alpha-2 codes in ``values`` joined by spaces, each checked."""
    if len(values) > 40:
        raise InvalidInput(f"{what}: at most 40 countries")
    codes = [v.strip().upper() for v in values if v.strip()]
    for code in codes:
        if not _COUNTRY.match(code):
            raise InvalidInput(f"{what}: {code!r} is not an ISO 3166-1 alpha-2 code")
    return " ".join(dict.fromkeys(codes))
