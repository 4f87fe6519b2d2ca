"""Which log fields hold which observables: the per-format field maps, as data.

A :class:`FieldSpec` names a column of a batch, how its values are matched (a :class:`Role`) and
which side of a connection it is (so ``network-traffic:src_ref`` indicators only match sources).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from varsel.observables.normalize import Role
from varsel.observables.patterns import ANY, DST, SRC


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One column to match: its name, role and direction (ANY, SRC or DST)."""

    name: str
    role: Role
    direction: int = ANY


# Zeek: by log path; set/vector fields are recognised from #types. The virtual field "url" of
# http.log is composed from host and uri by the reader.
ZEEK_FIELDS: Final[dict[str, tuple[FieldSpec, ...]]] = {
    "conn": (FieldSpec("id.orig_h", Role.IP, SRC), FieldSpec("id.resp_h", Role.IP, DST)),
    "dns": (
        FieldSpec("id.orig_h", Role.IP, SRC),
        FieldSpec("id.resp_h", Role.IP, DST),
        FieldSpec("query", Role.DOMAIN),
        FieldSpec("answers", Role.ANY),
    ),
    "http": (
        FieldSpec("id.orig_h", Role.IP, SRC),
        FieldSpec("id.resp_h", Role.IP, DST),
        FieldSpec("host", Role.DOMAIN),
        FieldSpec("url", Role.URL),
        FieldSpec("referrer", Role.URL),
    ),
    "ssl": (
        FieldSpec("id.orig_h", Role.IP, SRC),
        FieldSpec("id.resp_h", Role.IP, DST),
        FieldSpec("server_name", Role.DOMAIN),
    ),
    "files": (
        FieldSpec("id.orig_h", Role.IP, SRC),
        FieldSpec("id.resp_h", Role.IP, DST),
        FieldSpec("tx_hosts", Role.IP),
        FieldSpec("rx_hosts", Role.IP),
        FieldSpec("md5", Role.HASH),
        FieldSpec("sha1", Role.HASH),
        FieldSpec("sha256", Role.HASH),
    ),
}
_ZEEK_NAMED_ROLES: Final = {
    "query": Role.DOMAIN,
    "server_name": Role.DOMAIN,
    "host": Role.DOMAIN,
    "md5": Role.HASH,
    "sha1": Role.HASH,
    "sha256": Role.HASH,
    "mailfrom": Role.EMAIL,
}


def zeek_fields(path: str, fields: list[str], types: list[str]) -> list[FieldSpec]:
    """Return the specs for a Zeek log of ``path``; unknown paths are read from #types."""
    present = set(fields)
    known = ZEEK_FIELDS.get(path)
    if known is not None:
        return [s for s in known if s.name in present or (s.name == "url" and "uri" in present)]
    specs = []
    for name, kind in zip(fields, types or [""] * len(fields), strict=False):
        if kind == "addr" or kind in ("set[addr]", "vector[addr]"):
            direction = SRC if name == "id.orig_h" else DST if name == "id.resp_h" else ANY
            specs.append(FieldSpec(name, Role.IP, direction))
        elif name in _ZEEK_NAMED_ROLES:
            specs.append(FieldSpec(name, _ZEEK_NAMED_ROLES[name]))
    return specs


# Suricata EVE: dotted paths into the event; "[]" walks a list. "http.url" is rebuilt into an
# absolute URL from http.hostname by the reader.
EVE_FIELDS: Final = (
    FieldSpec("src_ip", Role.IP, SRC),
    FieldSpec("dest_ip", Role.IP, DST),
    FieldSpec("dns.rrname", Role.DOMAIN),
    FieldSpec("dns.queries[].rrname", Role.DOMAIN),
    FieldSpec("dns.answers[].rdata", Role.ANY),
    FieldSpec("dns.grouped.A[]", Role.IP),
    FieldSpec("dns.grouped.AAAA[]", Role.IP),
    FieldSpec("dns.grouped.CNAME[]", Role.DOMAIN),
    FieldSpec("http.hostname", Role.DOMAIN),
    FieldSpec("http.url", Role.URL),
    FieldSpec("http.http_refer", Role.URL),
    FieldSpec("tls.sni", Role.DOMAIN),
    FieldSpec("fileinfo.md5", Role.HASH),
    FieldSpec("fileinfo.sha1", Role.HASH),
    FieldSpec("fileinfo.sha256", Role.HASH),
    FieldSpec("email.from", Role.EMAIL),
    FieldSpec("email.to[]", Role.EMAIL),
    FieldSpec("smtp.mail_from", Role.EMAIL),
    FieldSpec("smtp.rcpt_to[]", Role.EMAIL),
)

_NAME_ROLES: Final = (
    (re.compile(r"(^|[._])(src|source|client|orig)[._]?(ip|addr|address|h)?$"), Role.IP, SRC),
    (
        re.compile(r"(^|[._])(dst|dest|destination|server|resp)[._]?(ip|addr|address|h)?$"),
        Role.IP,
        DST,
    ),
    (re.compile(r"(^|[._])(ip|ipaddr|ip_address|address|addr)$"), Role.IP, ANY),
    (
        re.compile(r"(^|[._])(domain|hostname|host|fqdn|query|qname|sni|server_name)$"),
        Role.DOMAIN,
        ANY,
    ),
    (re.compile(r"(^|[._])(url|uri|referrer|referer)$"), Role.URL, ANY),
    (re.compile(r"(^|[._])(email|e-mail|mail|from|to|sender|recipient)$"), Role.EMAIL, ANY),
    (re.compile(r"(^|[._])(md5|sha1|sha-1|sha256|sha-256|sha512|sha-512|hash)$"), Role.HASH, ANY),
)
_ROLE_NAMES: Final = {r.value: r for r in Role}
_DIRECTIONS: Final = {"src": SRC, "dst": DST, "any": ANY}


def guess_fields(names: list[str]) -> list[FieldSpec]:
    """Return specs guessed from column names; every column is matched as ANY if none fit."""
    specs = []
    for name in names:
        lowered = name.strip().lower()
        for pattern, role, direction in _NAME_ROLES:
            if pattern.search(lowered):
                specs.append(FieldSpec(name, role, direction))
                break
    return specs or [FieldSpec(name, Role.ANY) for name in names]


def parse_mapping(items: list[str]) -> list[FieldSpec]:
    """Parse ``COLUMN=ROLE[:src|dst]`` items (roles: ip, domain, url, email, hash, any)."""
    specs = []
    for item in items:
        column, sep, target = item.rpartition("=")
        role_name, _, side = target.partition(":")
        role = _ROLE_NAMES.get(role_name.strip().lower())
        direction = _DIRECTIONS.get(side.strip().lower() or "any")
        if not sep or not column or role is None or direction is None:
            raise ValueError(
                f"column mapping {item!r} must read COLUMN=ROLE[:src|dst] with a "
                f"role among {', '.join(_ROLE_NAMES)}"
            )
        specs.append(FieldSpec(column, role, direction))
    return specs


TIME_FIELDS: Final = ("ts", "timestamp", "@timestamp", "time", "datetime", "date", "event_time")


def to_rfc3339(value: object) -> str | None:
    """Return a log time (epoch seconds or an ISO 8601 text) as RFC 3339 UTC, or None."""
    if value is None or value in ("", "-"):
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        text = str(value).strip().replace(" ", "T", 1)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if not 0 <= seconds < 253402300800:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
