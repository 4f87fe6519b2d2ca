"""The observable values an object is about, and whether one concerns a watched value."""

from __future__ import annotations

import ipaddress
from typing import Any

from varsel.errors import InvalidInput
from varsel.observables import patterns
from varsel.observables.normalize import (
    Kind,
    indicator_domain,
    indicator_email,
    indicator_hash,
    indicator_ip,
    indicator_url,
)
from varsel.observables.patterns import Atom

_VALUE_TYPES = {
    "ipv4-addr": Kind.IP,
    "ipv6-addr": Kind.IP,
    "domain-name": Kind.DOMAIN,
    "url": Kind.URL,
    "email-addr": Kind.EMAIL,
}


def atoms_of(obj: dict[str, Any]) -> list[Atom]:
    """Return the values of an indicator's STIX pattern or of an observable (SCO); [] if none."""
    kind = obj.get("type")
    try:
        if kind == "indicator" and obj.get("pattern_type", "stix") == "stix":
            pattern = obj.get("pattern")
            return patterns.parse(pattern) if isinstance(pattern, str) else []
        value = obj.get("value")
        if kind in _VALUE_TYPES and isinstance(value, str):
            target = _VALUE_TYPES[kind]
            if target is Kind.IP:
                found, canonical = indicator_ip(value)
                return [Atom(found, canonical)]
            if target is Kind.DOMAIN:
                return [Atom(Kind.DOMAIN, indicator_domain(value))]
            if target is Kind.EMAIL:
                return [Atom(Kind.EMAIL, indicator_email(value))]
            url = indicator_url(value)
            return [Atom(Kind.URL, url)] if url else []
        hashes = obj.get("hashes")
        if kind in ("file", "artifact") and isinstance(hashes, dict):
            return [
                Atom(Kind.HASH, indicator_hash(str(v), str(k)))
                for k, v in hashes.items()
                if str(k).upper().replace("-", "") in {"MD5", "SHA1", "SHA256", "SHA512"}
            ]
    except InvalidInput:
        return []  # a pattern the matcher cannot evaluate concerns no watched value
    return []


def _under(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


def _host_in(host: str | None, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")) in net
    except ValueError:
        return False


def _url_host(url: str) -> str | None:
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0]
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else None
    return host.rsplit(":", 1)[0] if ":" in host else host


def concerns(watch_kind: str, watch_value: str, atom: Atom) -> bool:
    """Return whether ``atom`` is about the watched value.

    An address or block watches addresses inside it, blocks overlapping it and URLs whose host
    is such an address; a domain watches itself and its subdomains (in domains, URL hosts and
    e-mail addresses, and ``LIKE '%.x'`` patterns over a domain it lies in); URLs, e-mail
    addresses and hashes are watched exactly.
    """
    if watch_kind in (Kind.IP, Kind.CIDR):
        net = _network(watch_value)
        try:
            if atom.kind is Kind.IP:
                return ipaddress.ip_address(atom.value) in net
            if atom.kind is Kind.CIDR:
                return _network(atom.value).overlaps(net)
        except (TypeError, ValueError):
            return False
        return atom.kind is Kind.URL and _host_in(_url_host(atom.value), net)
    if watch_kind == Kind.DOMAIN:
        if atom.kind is Kind.DOMAIN:
            # "%.x" is about the strict subdomains of x: a watch below x, or x below the watch.
            below = atom.subdomains and watch_value != atom.value
            return _under(atom.value, watch_value) or (below and _under(watch_value, atom.value))
        if atom.kind is Kind.URL:
            host = _url_host(atom.value)
            return host is not None and _under(host, watch_value)
        if atom.kind is Kind.EMAIL:
            return _under(atom.value.rpartition("@")[2], watch_value)
        return False
    return atom.kind.value == watch_kind and atom.value == watch_value
