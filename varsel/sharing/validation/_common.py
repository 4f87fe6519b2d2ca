"""The error type, timestamps, identifiers and the per-property checks shared by every rule."""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from varsel.errors import InvalidInput

__all__ = ["Checker", "InvalidStixObject", "parse_timestamp", "split_identifier", "timestamp_key"]

# STIX 2.1 §2.7 / §3.1: lowercase ASCII letters, digits and single hyphens, 3..250 characters.
_TYPE_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]")
# Canonical 8-4-4-4-12 lowercase hex.  The version and variant nibbles are not checked: the hub
# must accept ids minted by tools that got them wrong, and they carry no meaning here.
_UUID_RE: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# STIX 2.1 §3.2: RFC 3339, always UTC with a capital 'Z', optional fractional seconds.  Field
# ranges are in the pattern so that only days 29-31 need a calendar check.  Year 0000 and leap
# second 60 are refused because a Python datetime cannot represent them.
_TIMESTAMP_RE: Final = re.compile(
    r"(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.([0-9]+))?Z"
)
_SHOWN_CHARS: Final = 80


class InvalidStixObject(InvalidInput):
    """Raised for an object that is not valid STIX 2.1; .reason is a precise one-line message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def show(value: object) -> str:
    """Render `value` for a one-line message, shortened so that a huge value cannot flood logs."""
    text = repr(value)
    if len(text) > _SHOWN_CHARS:
        return text[: _SHOWN_CHARS - 3] + "..."
    return text


@lru_cache(maxsize=8192)
def _key_or_none(value: str) -> str | None:
    """Return the sort key of timestamp `value`, or None if it is not a valid STIX timestamp."""
    match = _TIMESTAMP_RE.fullmatch(value)
    if match is None:
        return None
    day = int(match[2])
    if day > 28 and day > monthrange(int(value[:4]), int(match[1]))[1]:
        return None
    # Digits beyond nanoseconds are dropped so every key has the same width and sorts as text.
    return f"{value[:19]}.{(match[3] or '')[:9].ljust(9, '0')}Z"


def timestamp_key(value: str) -> str:
    """Return `value` as a fixed-width sortable key with nine fractional digits, or raise."""
    key = _key_or_none(value) if isinstance(value, str) else None
    if key is None:
        raise InvalidStixObject(f"not an RFC 3339 STIX timestamp: {show(value)}")
    return key


def parse_timestamp(value: str) -> datetime:
    """Parse a STIX timestamp into an aware UTC datetime, truncated to microseconds, or raise."""
    key = timestamp_key(value)
    return datetime(
        int(key[0:4]),
        int(key[5:7]),
        int(key[8:10]),
        int(key[11:13]),
        int(key[14:16]),
        int(key[17:19]),
        int(key[20:26]),
        tzinfo=UTC,
    )


def is_type_name(value: str) -> bool:
    """Return whether `value` is a well-formed STIX object type name."""
    return _TYPE_RE.fullmatch(value) is not None and "--" not in value


def split_identifier(value: object) -> str | None:
    """Return the type part of a STIX identifier '<type>--<UUID>', or None if malformed."""
    if not isinstance(value, str):
        return None
    type_name, separator, uuid = value.partition("--")
    if not separator or not is_type_name(type_name) or _UUID_RE.fullmatch(uuid) is None:
        return None
    return type_name


class Checker:
    """Check the properties of one object, naming it and the property in every failure."""

    __slots__ = ("obj", "prefix")

    def __init__(self, obj: Mapping[str, Any], prefix: str) -> None:
        self.obj = obj
        self.prefix = prefix

    def fail(self, message: str) -> InvalidStixObject:
        """Build the error for `message`, prefixed with the object's id when known."""
        return InvalidStixObject(f"{self.prefix}{message}")

    def require(self, *names: str) -> None:
        """Fail unless every property in `names` is present."""
        for name in names:
            if name not in self.obj:
                raise self.fail(f"required property '{name}' is missing")

    def require_one_of(self, *names: str) -> None:
        """Fail unless at least one property in `names` is present."""
        if not any(name in self.obj for name in names):
            listed = ", ".join(f"'{name}'" for name in names)
            raise self.fail(f"at least one of the properties {listed} is required")

    def exclusive(self, first: str, second: str) -> None:
        """Fail if both `first` and `second` are present."""
        if first in self.obj and second in self.obj:
            raise self.fail(f"properties '{first}' and '{second}' must not both be present")

    def string(self, name: str, *, required: bool = False, allowed: Collection[str] = ()) -> None:
        """Check that `name` is a string (one of `allowed` if given)."""
        if name not in self.obj:
            if required:
                raise self.fail(f"required property '{name}' is missing")
            return
        value = self.obj[name]
        if not isinstance(value, str):
            raise self.fail(f"property '{name}' must be a string, not {show(value)}")
        if allowed and value not in allowed:
            choices = ", ".join(sorted(allowed))
            raise self.fail(f"property '{name}' must be one of {choices}: {show(value)}")

    def boolean(self, name: str, *, required: bool = False) -> None:
        """Check that `name` is a JSON boolean."""
        if name not in self.obj:
            if required:
                raise self.fail(f"required property '{name}' is missing")
            return
        if not isinstance(self.obj[name], bool):
            raise self.fail(f"property '{name}' must be a boolean, not {show(self.obj[name])}")

    def integer(self, name: str, low: int, high: int, *, required: bool = False) -> None:
        """Check that `name` is an integer in [low, high]."""
        if name not in self.obj:
            if required:
                raise self.fail(f"required property '{name}' is missing")
            return
        value = self.obj[name]
        # bool is an int subclass in Python but not an integer in JSON.
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"property '{name}' must be an integer, not {show(value)}")
        if not low <= value <= high:
            raise self.fail(f"property '{name}' must be between {low} and {high}: {value}")

    def number(self, name: str, low: float, high: float) -> None:
        """Check that `name`, if present, is a number in [low, high]."""
        if name not in self.obj:
            return
        value = self.obj[name]
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(f"property '{name}' must be a number, not {show(value)}")
        if not low <= value <= high:
            raise self.fail(f"property '{name}' must be between {low} and {high}: {value}")

    def timestamp(self, name: str, *, required: bool = False) -> str | None:
        """Check that `name` is a STIX timestamp and return its sort key (None when absent)."""
        if name not in self.obj:
            if required:
                raise self.fail(f"required property '{name}' is missing")
            return None
        value = self.obj[name]
        key = _key_or_none(value) if isinstance(value, str) else None
        if key is None:
            raise self.fail(f"property '{name}' is not an RFC 3339 timestamp: {show(value)}")
        return key

    def ordered(self, earlier: str, later: str, *, strict: bool = False) -> None:
        """Check that timestamp `later` is not before (or, if strict, is after) `earlier`."""
        first = self.timestamp(earlier)
        second = self.timestamp(later)
        if first is None or second is None:
            return
        if second < first or (strict and second == first):
            relation = "later than" if strict else "equal to or later than"
            raise self.fail(f"property '{later}' must be {relation} '{earlier}'")

    def identifier(self, name: str, types: Collection[str] = (), *, required: bool = False) -> None:
        """Check that `name` is a STIX identifier, of one of `types` if given."""
        if name not in self.obj:
            if required:
                raise self.fail(f"required property '{name}' is missing")
            return
        self._check_identifier(name, self.obj[name], types)

    def identifiers(
        self,
        name: str,
        types: Collection[str] = (),
        *,
        required: bool = False,
        allow_empty: bool = False,
    ) -> None:
        """Check that `name` is a list of STIX identifiers, of `types` if given."""
        if name not in self.obj:
            if required:
                raise self.fail(f"required property '{name}' is missing")
            return
        values = self.obj[name]
        if not isinstance(values, list) or not (values or allow_empty):
            kind = "list" if allow_empty else "non-empty list"
            raise self.fail(f"property '{name}' must be a {kind} of identifiers")
        for value in values:
            self._check_identifier(name, value, types)

    def _check_identifier(self, name: str, value: object, types: Collection[str]) -> None:
        """Fail unless `value`, an item of `name`, is an identifier of one of `types`."""
        type_name = split_identifier(value)
        if type_name is None:
            raise self.fail(f"property '{name}' holds a malformed identifier: {show(value)}")
        if types and type_name not in types:
            expected = " or ".join(sorted(types))
            raise self.fail(f"property '{name}' must refer to {expected}, not {show(value)}")

    def strings(self, name: str, *, required: bool = False, allow_empty: bool = False) -> None:
        """Check that `name` is a list of strings."""
        if name not in self.obj:
            if required:
                raise self.fail(f"required property '{name}' is missing")
            return
        values = self.obj[name]
        if (
            not isinstance(values, list)
            or not (values or allow_empty)
            or not all(isinstance(value, str) for value in values)
        ):
            kind = "list" if allow_empty else "non-empty list"
            raise self.fail(f"property '{name}' must be a {kind} of strings")

    def mapping(self, name: str, *, required: bool = False) -> None:
        """Check that `name` is a non-empty JSON object."""
        if name not in self.obj:
            if required:
                raise self.fail(f"required property '{name}' is missing")
            return
        value = self.obj[name]
        if not isinstance(value, dict) or not value:
            raise self.fail(f"property '{name}' must be a non-empty object, not {show(value)}")
