"""Build a STIX 2.1 indicator from what a person typed: a value, its kind, a name and a TLP."""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from varsel.errors import InvalidInput
from varsel.sharing.patterns import validate_pattern
from varsel.sharing.tlp import TLP

RECIPIENTS_PROPERTY = "x_varsel_recipients"


@dataclass(frozen=True)
class Kind:
    """One kind of value the form offers, and the STIX object path its pattern compares."""

    key: str
    path: str
    hash_length: int | None = None


KINDS: tuple[Kind, ...] = (
    Kind("ipv4", "ipv4-addr:value"),
    Kind("ipv6", "ipv6-addr:value"),
    Kind("domain", "domain-name:value"),
    Kind("url", "url:value"),
    Kind("email", "email-addr:value"),
    Kind("md5", "file:hashes.'MD5'", 32),
    Kind("sha1", "file:hashes.'SHA-1'", 40),
    Kind("sha256", "file:hashes.'SHA-256'", 64),
    Kind("sha512", "file:hashes.'SHA-512'", 128),
)
_BY_KEY = {kind.key: kind for kind in KINDS}
# Default names of shared indicators; STIX content stays in English whatever the UI language.
_NAMES = {
    "ipv4": "IPv4",
    "ipv6": "IPv6",
    "domain": "Domain",
    "url": "URL",
    "email": "E-mail",
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "sha512": "SHA-512",
}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_URL_SCHEMES = {"http", "https", "ftp", "ftps", "sftp", "ws", "wss", "tcp", "udp"}


def _ip(value: str, version: int) -> str:
    try:
        if "/" in value:
            network = ipaddress.ip_network(value, strict=True)
            text = str(network)
        else:
            network = ipaddress.ip_address(value)  # type: ignore[assignment]
            text = str(network)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            fixed = ipaddress.ip_network(value, strict=False)
            raise InvalidInput(f"{value!r} has host bits set; did you mean {fixed}?") from None
        name = "IPv4" if version == 4 else "IPv6"
        raise InvalidInput(f"{value!r} is not an {name} address or CIDR block") from None
    if network.version != version:
        name = "IPv4" if version == 4 else "IPv6"
        raise InvalidInput(f"{value!r} is not an {name} address or CIDR block")
    return text


def _domain(value: str) -> str:
    name = value.rstrip(".")
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidInput(f"{value!r} is not a valid domain name") from None
    labels = ascii_name.split(".")
    if (
        len(ascii_name) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidInput(
            f"{value!r} is not a domain name such as bad.example (letters, digits and hyphens, "
            f"at least two labels)"
        )
    return name.lower()


def _url(value: str) -> str:
    if any(ch.isspace() for ch in value):
        raise InvalidInput("a URL cannot contain spaces; encode them as %20")
    parts = urlsplit(value)
    if parts.scheme.lower() not in _URL_SCHEMES or not parts.hostname:
        raise InvalidInput(f"{value!r} is not a full URL such as https://bad.example/path")
    return value


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not _LOCAL_PART.match(local) or local.startswith(".") or ".." in local:
        raise InvalidInput(f"{value!r} is not an e-mail address such as someone@bad.example")
    return f"{local}@{_domain(domain)}"


def _hash(value: str, kind: Kind) -> str:
    if not _HEX.match(value):
        raise InvalidInput(f"a {kind.key.upper()} hash is hexadecimal (0-9, a-f)")
    if len(value) != kind.hash_length:
        raise InvalidInput(
            f"a {kind.key.upper()} hash has {kind.hash_length} hexadecimal "
            f"digits; this one has {len(value)}"
        )
    return value.lower()


def normalise(kind_key: str, raw: str) -> str:
    """Return the value checked and normalised for its kind, or raise InvalidInput."""
    kind = _BY_KEY.get(kind_key)
    if kind is None:
        raise InvalidInput(f"unknown kind of value {kind_key!r}", field="kind")
    try:
        return _normalise(kind, raw)
    except InvalidInput as exc:
        # Every refusal below is about the value typed; the form shows it beside that field.
        raise InvalidInput(exc.message, field="value") from None


def _normalise(kind: Kind, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise InvalidInput("enter the value to share")
    if kind.hash_length:
        return _hash(value, kind)
    if kind.key == "ipv4":
        return _ip(value, 4)
    if kind.key == "ipv6":
        return _ip(value, 6)
    if kind.key == "domain":
        return _domain(value)
    if kind.key == "url":
        return _url(value)
    return _email(value)


def escape(value: str) -> str:
    """Return ``value`` as the inside of a STIX pattern string literal."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def pattern_for(kind_key: str, raw: str) -> str:
    """Return the STIX 2.1 pattern that matches the value, e.g. ``[url:value = '…']``."""
    value = normalise(kind_key, raw)
    pattern = f"[{_BY_KEY[kind_key].path} = '{escape(value)}']"
    problem = validate_pattern(pattern)
    if problem is not None:
        raise InvalidInput(
            f"the value does not make a valid STIX pattern: {problem}", field="value"
        )
    return pattern


def _stamp(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def build(
    *,
    kind: str,
    value: str,
    name: str,
    description: str,
    tlp: TLP,
    recipients: list[str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Return a valid STIX 2.1 indicator for ``value``, marked ``tlp``.

    A TLP:RED indicator must name its recipients ('ORG NAME' or 'user:USERNAME').
    """
    pattern = pattern_for(kind, value)
    if tlp is TLP.RED and not recipients:
        raise InvalidInput(
            "TLP:RED is for named recipients only: choose at least one organisation or user",
            field="recipients",
        )
    moment = now or datetime.now(UTC)
    stamp = _stamp(moment)
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": stamp,
        "modified": stamp,
        "name": name.strip() or f"{_NAMES[kind]} {normalise(kind, value)}",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": stamp,
        "object_marking_refs": [tlp.stix_id],
    }
    if description.strip():
        obj["description"] = description.strip()
    if tlp is TLP.RED:
        obj[RECIPIENTS_PROPERTY] = recipients
    return obj
