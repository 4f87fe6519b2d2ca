"""A plain reference matcher: every value against every atom, one Python comparison at a time.

It exists to be obviously right, so that the differential tests can prove the fast matcher
returns exactly the same matches. Never use it on real volumes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

from varsel.matching._fields import zeek_fields
from varsel.matching._index import Hit
from varsel.matching._readers import open_log
from varsel.observables.normalize import Kind, Role, log_domain, log_ip, log_token, log_url
from varsel.observables.patterns import ANY, Atom

_ROLE_KINDS = {
    Role.IP: (Kind.IP, Kind.CIDR),
    Role.DOMAIN: (Kind.DOMAIN,),
    Role.URL: (Kind.URL,),
    Role.EMAIL: (Kind.EMAIL,),
    Role.HASH: (Kind.HASH,),
    Role.ANY: tuple(Kind),
}


def _value_for(atom: Atom, raw: str) -> str | None:
    """Return the canonical log value if ``raw`` matches ``atom``, else None."""
    if atom.kind in (Kind.IP, Kind.CIDR):
        parsed = log_ip(raw)
        if parsed is None:
            return None
        text, version, number = parsed
        if atom.kind is Kind.IP:
            return text if text == atom.value else None
        network = ipaddress.ip_network(atom.value)
        return (
            text
            if network.version == version
            and int(network.network_address) <= number <= int(network.broadcast_address)
            else None
        )
    if atom.kind is Kind.DOMAIN:
        name = log_domain(raw)
        if atom.subdomains:
            return name if name.endswith("." + atom.value) else None
        return name if name == atom.value else None
    if atom.kind is Kind.URL:
        url = log_url(raw) if "://" in raw else None
        return url if url == atom.value else None
    token = log_token(raw)
    return token if token == atom.value else None


class ReferenceMatcher:
    """The same interface as the fast matcher's ``match``, over plain Python lists."""

    def __init__(self, entries: Iterable[tuple[int, Atom]]) -> None:
        self.entries = list(entries)

    def match(self, values: list[str | None], role: Role, direction: int = ANY) -> set[Hit]:
        """Return (position, indicator, canonical value) for every value matching an atom."""
        kinds = _ROLE_KINDS[role]
        hits: set[Hit] = set()
        for position, raw in enumerate(values):
            if raw is None:
                continue
            for member, atom in self.entries:
                if atom.kind not in kinds or atom.direction not in (ANY, direction):
                    continue
                value = _value_for(atom, raw)
                if value is not None:
                    hits.add((position, member, value))
        return hits


def reference_scan_zeek(
    path: Path, entries: Iterable[tuple[int, Atom]]
) -> set[tuple[int, str, str, int]]:
    """Return (line number, field, value, indicator) for every match in a Zeek TSV log."""
    matcher = ReferenceMatcher(entries)
    sep, set_sep, log_path = "\t", ",", ""
    fields: list[str] = []
    types: list[str] = []
    found: set[tuple[int, str, str, int]] = set()
    with open_log(path) as handle:
        lines = handle.read().decode("utf-8", "replace").split("\n")
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if line.startswith("#separator"):
            sep = line[len("#separator") :].strip().encode().decode("unicode_escape")
            continue
        if line.startswith("#"):
            key, _, rest = line[1:].partition(sep)
            values = rest.split(sep)
            if key == "set_separator":
                set_sep = values[0]
            elif key == "path":
                log_path = values[0]
            elif key == "fields":
                fields, types = values, []
            elif key == "types":
                types = values
            continue
        cells = line.split(sep)
        if not line or len(cells) != len(fields):
            continue
        record = dict(zip(fields, cells, strict=True))
        kinds = dict(zip(fields, types, strict=False))
        if log_path == "http" and "host" in record and "uri" in record:
            uri = record["uri"]
            record["url"] = f"http://{record['host']}{uri}" if uri.startswith("/") else uri
        for spec in zeek_fields(log_path, fields, types):
            if spec.name not in record:
                continue
            raw = record[spec.name]
            values = (
                raw.split(set_sep)
                if kinds.get(spec.name, "").startswith(("set[", "vector["))
                else [raw]
            )
            for _, member, value in matcher.match(list(values), spec.role, spec.direction):
                found.add((number, spec.name, value, member))
    return found
