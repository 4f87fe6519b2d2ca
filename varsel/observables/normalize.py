"""Canonical forms of observable values, shared by the fast matcher and the reference.

Indicator values (from STIX patterns) and log values are both brought to one canonical text per
kind so that matching is string equality, plus range search for CIDR blocks and suffix search for
subdomains. Log values get the cheap forms only (what a vectorised kernel can reproduce exactly):
ASCII lower-casing and trailing-dot stripping; IPv6 and URLs are canonicalised in Python.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from varsel.errors import InvalidInput


class Kind(StrEnum):
    """What an indicator value is; hashes are told apart by their length."""

    IP = "ip"
    CIDR = "cidr"
    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    HASH = "hash"


class Role(StrEnum):
    """How a log field is matched: as one kind of observable, or as anything."""

    IP = "ip"
    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    HASH = "hash"
    ANY = "any"


HASH_LENGTHS: Final = {32: "MD5", 40: "SHA-1", 64: "SHA-256", 128: "SHA-512"}
HASH_ALGORITHMS: Final = {
    "MD5": 32,
    "SHA-1": 40,
    "SHA1": 40,
    "SHA-256": 64,
    "SHA256": 64,
    "SHA-512": 128,
    "SHA512": 128,
}
_HEX: Final = re.compile(r"[0-9a-f]+")
# The exact IPv4 form Python's ipaddress accepts: four decimal octets without leading zeros.
IPV4_SHAPE: Final = r"^(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}$"
_IPV4: Final = re.compile(IPV4_SHAPE)
_DOMAIN: Final = re.compile(
    r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$"
)
_ASCII_LOWER: Final = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT: Final = re.compile(r"%([0-9A-Fa-f]{2})")


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only (what DNS and pyarrow's ascii_lower do), leaving other letters."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


# Log-side forms: the vectorised scanner reproduces these exactly. ------------------------


def log_domain(value: str) -> str:
    """Return the canonical form of a domain seen in a log: ASCII-lower, no trailing dots."""
    return ascii_lower(value).rstrip(".")


def log_token(value: str) -> str:
    """Return the canonical form of an e-mail address or hash seen in a log."""
    return ascii_lower(value)


def log_ip(value: str) -> tuple[str, int, int] | None:
    """Return (canonical text, version, integer) of an IP address in a log, or None."""
    if ":" not in value:
        if _IPV4.match(value) is None:
            return None
        octets = value.split(".")
        if any(int(o) > 255 for o in octets):
            return None
        a, b, c, d = (int(o) for o in octets)
        return value, 4, (a << 24) | (b << 16) | (c << 8) | d
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    return address.compressed, address.version, int(address)


def log_url(value: str) -> str | None:
    """Return the canonical form of a URL seen in a log, or None if it is not absolute."""
    return indicator_url(value)


# Indicator-side forms: strict, with a reason when a value cannot be used. ---------------


class BadValue(InvalidInput, ValueError):
    """An indicator value that cannot be brought to canonical form."""


def indicator_ip(value: str) -> tuple[Kind, str]:
    """Return (IP, address) or (CIDR, network) for an address or block; raise BadValue."""
    text = value.strip()
    if _IPV4.match(text) and all(int(o) < 256 for o in text.split(".")):
        return Kind.IP, text
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=False)
            if network.num_addresses == 1:
                return Kind.IP, network.network_address.compressed
            return Kind.CIDR, network.compressed
        return Kind.IP, ipaddress.ip_address(text).compressed
    except ValueError:
        raise BadValue(f"{value!r} is not an IP address or CIDR block") from None


def _idna(host: str) -> str:
    if host.isascii():
        return ascii_lower(host)
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadValue(f"{host!r} is not a valid internationalised domain name") from None


def indicator_domain(value: str) -> str:
    """Return the canonical form of a domain name from an indicator; raise BadValue."""
    host = _idna(value.strip().rstrip("."))
    if len(host) > 253 or not _DOMAIN.match(host):
        raise BadValue(f"{value!r} is not a domain name")
    return host


def indicator_email(value: str) -> str:
    """Return the canonical form of an e-mail address; raise BadValue."""
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in local):
        raise BadValue(f"{value!r} is not an e-mail address")
    return f"{ascii_lower(local)}@{indicator_domain(domain)}"


def indicator_hash(value: str, algorithm: str) -> str:
    """Return the lower-case hex digest; raise BadValue if it does not fit ``algorithm``."""
    digest = value.strip().lower()
    expected = HASH_ALGORITHMS.get(algorithm.upper())
    if expected is None:
        raise BadValue(f"hash algorithm {algorithm!r} is not one the matcher knows")
    if len(digest) != expected or not _HEX.fullmatch(digest):
        raise BadValue(f"{value!r} is not a {algorithm} digest ({expected} hex digits)")
    return digest


def _normalise_escapes(part: str) -> str:
    # RFC 3986 §6.2.2: upper-case escapes, and decode those of unreserved characters.
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PCT.sub(fix, part)


def indicator_url(value: str) -> str | None:
    """Return the canonical form of an absolute URL, or None if it has no scheme and host.

    Scheme and host are lower-cased, a default port and the fragment dropped, escapes
    normalised (RFC 3986 §6.2.2) and an empty path written as ``/``.
    """
    text = value.strip()
    # split() breaks on exactly what str.isspace() calls whitespace, in C.
    if "://" not in text or len(text.split(None, 1)) > 1:
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
        host = parts.hostname
    except ValueError:
        return None
    if not parts.scheme or not host:
        return None
    scheme = ascii_lower(parts.scheme)
    try:
        host = _idna(host) if not host.startswith("[") and ":" not in host else host
    except BadValue:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    path = _normalise_escapes(parts.path) or "/"
    query = f"?{_normalise_escapes(parts.query)}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"


def hash_algorithm(digest: str) -> str:
    """Return the algorithm a canonical digest belongs to, by its length."""
    return HASH_LENGTHS[len(digest)]
