"""Time helpers: the hub stores naive UTC datetimes and integer microseconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    """Return the current UTC time as a naive datetime (how the database stores it)."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive(moment: datetime) -> datetime:
    """Return ``moment`` as the naive UTC datetime the database stores."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def aware(moment: datetime | None) -> datetime | None:
    """Return a stored naive UTC datetime as an aware one."""
    return moment.replace(tzinfo=UTC) if moment is not None else None


def now_us() -> int:
    """Return the current time in microseconds since the epoch."""
    delta = datetime.now(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def us_to_datetime(value: int) -> datetime:
    """Return the aware UTC datetime for ``value`` microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=value)


def us_to_rfc3339(value: int) -> str:
    """Return ``value`` µs since the epoch as a STIX/TAXII timestamp with microseconds."""
    return us_to_datetime(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def datetime_to_us(value: datetime) -> int:
    """Return microseconds since the epoch for an aware (or naive UTC) datetime."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
