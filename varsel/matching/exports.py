"""Exports for sensors: Suricata rules and datasets, a Zeek intel file, plain lists, CSV, STIX.

Every export holds only what the caller may read (the same compile as ``varsel scan``) and is
served with a strong ETag: the SHA-256 of its body. So that a sensor polling every minute costs
one query of ids when nothing changed, bodies are cached per principal and export, keyed by a
fingerprint of the readable indicator rows (their count and a digest of their sorted ids) and
valid until the next moment an indicator becomes valid or expires.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import threading
import uuid
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from varsel.clock import datetime_to_us, now_us
from varsel.errors import InvalidInput, NotFound
from varsel.matching._compile import (
    Compiled,
    IndicatorRow,
    compile_rows,
    readable_indicator_rows,
    time_key,
)
from varsel.observables.normalize import Kind, hash_algorithm
from varsel.observables.patterns import DST, SRC, Atom
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import service as sharing
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP
from varsel.sharing.validation import InvalidStixObject, parse_timestamp

FORMATS: Final = ("suricata", "suricata-dataset", "zeek", "plain", "csv", "stix")
TYPES: Final = ("ip", "cidr", "domain", "url", "email", "md5", "sha1", "sha256", "sha512")
MEDIA: Final = {
    "suricata": "text/plain",
    "suricata-dataset": "text/plain",
    "zeek": "text/plain",
    "plain": "text/plain",
    "csv": "text/csv",
    "stix": "application/stix+json;version=2.1",
}
_EXTENSION: Final = {
    "suricata": "rules",
    "suricata-dataset": "lst",
    "zeek": "intel",
    "plain": "txt",
    "csv": "csv",
    "stix": "json",
}
_SID_BASE: Final = 3_000_000_000
_SID_SPAN: Final = 1_000_000_000
_DATASET_TYPES: Final = {
    "domain": "string",
    "url": "string",
    "email": "string",
    "md5": "md5",
    "sha256": "sha256",
    "ip": "ip",
}


@dataclass(frozen=True)
class Export:
    """An export's body and how to serve it."""

    body: str
    media_type: str
    filename: str
    etag: str
    count: int
    red: tuple[str, ...] = ()  # the TLP:RED indicators in the body (their delivery is audited)


def atom_type(atom: Atom) -> str:
    """Return the export type name of an atom (hashes by algorithm)."""
    if atom.kind is Kind.HASH:
        return hash_algorithm(atom.value).replace("-", "").lower()
    return atom.kind.value


def parse_types(types: list[str] | None) -> tuple[str, ...]:
    """Return the requested types, checked; all types when none are given."""
    if not types:
        return TYPES
    out = []
    for item in types:
        for name in item.split(","):
            name = name.strip().lower()
            if name not in TYPES:
                raise InvalidInput(f"unknown export type {name!r}; expected {', '.join(TYPES)}")
            out.append(name)
    return tuple(dict.fromkeys(out))


_AGE = re.compile(r"^(\d{1,6})\s*([hdw])$")
_AGE_US: Final = {"h": 3_600_000_000, "d": 86_400_000_000, "w": 7 * 86_400_000_000}


@dataclass(frozen=True)
class ExportFilters:
    """Which readable indicators an export holds: TLP levels, collections and age.

    Empty means "any". ``max_age`` ("30d", "12h", "2w") is kept as typed, so that the cache key
    stays the same from one poll to the next; :meth:`since_us` turns it into a moment.
    """

    tlp: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    since: str | None = None
    max_age: str | None = None

    @property
    def active(self) -> bool:
        """Return whether any filter narrows the export."""
        return bool(self.tlp or self.collections or self.since or self.max_age)

    def since_us(self, now: int | None = None) -> int | None:
        """Return the moment (µs) after which an indicator must have been added, if any."""
        bounds = []
        if self.since:
            bounds.append(_since_us(self.since))
        if self.max_age:
            match = _AGE.match(self.max_age)
            assert match is not None  # checked by parse_filters
            age = int(match.group(1)) * _AGE_US[match.group(2)]
            bounds.append((now if now is not None else now_us()) - age)
        return max(bounds) if bounds else None

    def conditions(self, *, now: int | None = None) -> list[ColumnElement[bool]]:
        """Return the SQL conditions these filters put on indicator rows."""
        out: list[ColumnElement[bool]] = []
        if self.tlp:
            out.append(StixObject.tlp.in_(self.tlp))
        if self.collections:
            out.append(StixObject.collection_id.in_(self.collections))
        after = self.since_us(now)
        if after is not None:
            out.append(StixObject.date_added_us >= after)
        return out


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for item in values or [] for part in item.split(",") if part.strip()]


def _since_us(value: str) -> int:
    text = value.strip()
    if len(text) == 10:
        text += "T00:00:00Z"
    try:
        return datetime_to_us(parse_timestamp(text))
    except InvalidStixObject:
        raise InvalidInput(
            f"'since' must be a date (YYYY-MM-DD) or an RFC 3339 time, got {value!r}"
        ) from None


def parse_filters(
    *,
    session: Session,
    principal: Principal,
    tlp: list[str] | None = None,
    collection: list[str] | None = None,
    since: str | None = None,
    max_age: str | None = None,
) -> ExportFilters:
    """Return export filters from query parameters, checked, or raise InvalidInput/NotFound.

    A collection is named by id, alias or title, and only as ``principal`` may see it: one it
    may not see is answered like one that does not exist.
    """
    levels = []
    for name in _split(tlp):
        try:
            levels.append(TLP.parse(name).value)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    ids = []
    for ref in _split(collection):
        try:
            ids.append(sharing.find_collection(session=session, principal=principal, ref=ref).id)
        except NotFound:
            raise NotFound(f"no collection {ref!r} that you may read") from None
    since = (since or "").strip() or None
    if since:
        _since_us(since)
    max_age = (max_age or "").strip().lower() or None
    if max_age and not _AGE.match(max_age):
        raise InvalidInput(
            f"'max_age' is a number of hours, days or weeks such as 12h, 30d or 2w; got {max_age!r}"
        )
    return ExportFilters(
        tlp=tuple(sorted(set(levels))),
        collections=tuple(sorted(set(ids))),
        since=since,
        max_age=max_age,
    )


def _selected(compiled: Compiled, types: tuple[str, ...]) -> list[tuple[int, Atom]]:
    entries = compiled.entries or []
    return sorted(
        {(m, a) for m, a in entries if atom_type(a) in types},
        key=lambda e: (
            atom_type(e[1]),
            e[1].value,
            compiled.ids[e[0]],
            e[1].direction,
            e[1].subdomains,
        ),
    )


def _red_in_body(
    compiled: Compiled, rows: list[IndicatorRow], fmt: str, types: tuple[str, ...]
) -> tuple[str, ...]:
    """Return the TLP:RED indicators that an export of ``compiled`` in ``fmt`` shows."""
    red = {r.stix_id for r in rows if r.red}
    if not red:
        return ()
    if fmt == "stix":
        shown = red & (set(compiled.ids) | {i for i, _ in compiled.report.unsupported})
    else:
        members = {i for i, ident in enumerate(compiled.ids) if ident in red}
        shown = {compiled.ids[m] for m, _ in _selected(compiled, types) if m in members}
    return tuple(sorted(shown))


def render(
    compiled: Compiled, rows: list[IndicatorRow], fmt: str, types: tuple[str, ...]
) -> tuple[str, int]:
    """Return (body, number of entries) of an export of ``compiled`` in ``fmt``."""
    if fmt == "stix":
        # Unsupported patterns are still valid STIX for other tools: they go in the bundle.
        wanted = set(compiled.ids) | {i for i, _ in compiled.report.unsupported}
        chosen = [r for r in rows if r.stix_id in wanted]
        objects = [json.loads(r.raw) for r in chosen]
        # A bundle id derived from its content keeps the body, and so the ETag, stable.
        seed = hashlib.sha256("\n".join(sorted(r.raw for r in chosen)).encode()).hexdigest()
        bundle = {
            "type": "bundle",
            "id": f"bundle--{uuid.uuid5(uuid.NAMESPACE_URL, seed)}",
            "objects": objects,
        }
        return json.dumps(bundle, indent=1, sort_keys=True) + "\n", len(objects)
    entries = _selected(compiled, types)
    if fmt == "plain":
        values = list(dict.fromkeys(("." if a.subdomains else "") + a.value for _, a in entries))
        return "".join(v + "\n" for v in values), len(values)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["indicator_id", "type", "value", "subdomains", "direction", "name"])
        for member, atom in entries:
            writer.writerow(
                [
                    compiled.ids[member],
                    atom_type(atom),
                    atom.value,
                    "true" if atom.subdomains else "false",
                    {SRC: "src", DST: "dst"}.get(atom.direction, "any"),
                    compiled.names[member] or "",
                ]
            )
        return out.getvalue(), len(entries)
    if fmt == "zeek":
        return _zeek(compiled, entries)
    if fmt == "suricata-dataset":
        return _dataset(entries, types)
    return _suricata(compiled, entries)


_ZEEK_TYPES: Final = {
    Kind.IP: "Intel::ADDR",
    Kind.CIDR: "Intel::SUBNET",
    Kind.DOMAIN: "Intel::DOMAIN",
    Kind.URL: "Intel::URL",
    Kind.EMAIL: "Intel::EMAIL",
    Kind.HASH: "Intel::FILE_HASH",
}


def _zeek_text(text: str) -> str:
    # The intel file is TSV: tabs and newlines inside a field would break its columns.
    return " ".join(text.split()) or "-"


def _zeek(compiled: Compiled, entries: list[tuple[int, Atom]]) -> tuple[str, int]:
    lines = ["#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url"]
    skipped = 0
    for member, atom in entries:
        if atom.subdomains:
            skipped += 1  # the intel framework matches exact domains only
            continue
        value = atom.value.split("://", 1)[1] if atom.kind is Kind.URL else atom.value
        desc = compiled.names[member] or compiled.ids[member]
        lines.append(
            f"{_zeek_text(value)}\t{_ZEEK_TYPES[atom.kind]}\tvarsel\t"
            f"{_zeek_text(desc)} ({compiled.ids[member]})\t-"
        )
    if skipped:
        lines.insert(
            0, f"# {skipped} subdomain indicators left out: Zeek intel matches exact domains only"
        )
    return "\n".join(lines) + "\n", len(lines) - 1 - (1 if skipped else 0)


def _content(text: str) -> str:
    # Suricata content strings: quote, semicolon, backslash and pipe go in as hex bytes.
    out = []
    for char in text:
        out.append(f"|{ord(char):02X}|" if char in '";\\|' or not char.isprintable() else char)
    return "".join(out)


def _msg(text: str) -> str:
    return "".join(c for c in text if c not in '";\\|\n\r')[:200]


def _dataset(entries: list[tuple[int, Atom]], types: tuple[str, ...]) -> tuple[str, int]:
    if len(types) != 1 or types[0] not in _DATASET_TYPES:
        raise InvalidInput(
            "a Suricata dataset holds one type: choose type " + ", ".join(_DATASET_TYPES)
        )
    values = list(dict.fromkeys(a.value for _, a in entries if not a.subdomains))
    if _DATASET_TYPES[types[0]] == "string":
        values = [base64.b64encode(v.encode()).decode("ascii") for v in values]
    return "".join(v + "\n" for v in values), len(values)


def _suricata(compiled: Compiled, entries: list[tuple[int, Atom]]) -> tuple[str, int]:
    used: set[int] = set()
    rules: list[str] = [
        "# Varsel indicators for Suricata; hash rules read the plain exports",
        "# varsel-md5.txt, varsel-sha1.txt and varsel-sha256.txt.",
    ]
    hash_types: set[str] = set()

    def sid_for(key: str) -> int:
        sid = _SID_BASE + zlib.crc32(key.encode()) % _SID_SPAN
        while sid in used:  # probe so that every rule keeps a distinct sid
            sid = _SID_BASE + (sid - _SID_BASE + 1) % _SID_SPAN
        used.add(sid)
        return sid

    for member, atom in entries:
        ident = compiled.ids[member]
        msg = _msg(f"VARSEL {compiled.names[member] or ident}")
        meta = f"metadata:varsel_indicator {ident}"
        key = f"{ident}|{atom.kind}|{atom.value}|{atom.direction}|{atom.subdomains}"
        if atom.kind in (Kind.IP, Kind.CIDR):
            target = f"[{atom.value}]"
            head = {SRC: f"{target} any -> any any", DST: f"any any -> {target} any"}.get(
                atom.direction, f"{target} any <> any any"
            )
            rules.append(f'alert ip {head} (msg:"{msg}"; {meta}; sid:{sid_for(key)}; rev:1;)')
        elif atom.kind is Kind.DOMAIN:
            value = _content(("." if atom.subdomains else "") + atom.value)
            match = (
                f'content:"{value}"; nocase; endswith;'
                if atom.subdomains
                else f'bsize:{len(atom.value)}; content:"{value}"; nocase;'
            )
            for proto, buffer in (("dns", "dns.query"), ("tls", "tls.sni")):
                rules.append(
                    f'alert {proto} any any -> any any (msg:"{msg}"; {buffer}; {match} '
                    f"{meta}; sid:{sid_for(key + proto)}; rev:1;)"
                )
        elif atom.kind is Kind.URL:
            rest = atom.value.split("://", 1)[1]
            host, slash, path = rest.partition("/")
            uri = slash + path
            rules.append(
                f'alert http any any -> any any (msg:"{msg}"; http.host; '
                f'content:"{_content(host.split(":")[0])}"; bsize:{len(host.split(":")[0])}; '
                f'http.uri; content:"{_content(uri)}"; bsize:{len(uri.encode())}; {meta}; '
                f"sid:{sid_for(key)}; rev:1;)"
            )
        elif atom.kind is Kind.HASH:
            hash_types.add(atom_type(atom))
        else:
            rules.append(
                f"# e-mail indicator {ident} ({_msg(atom.value)}) has no Suricata "
                "keyword; use the plain export"
            )
    for algorithm in sorted(hash_types & {"md5", "sha1", "sha256"}):
        rules.append(
            f'alert ip any any -> any any (msg:"VARSEL known-bad file {algorithm}"; '
            f"file{algorithm}:varsel-{algorithm}.txt; "
            f"sid:{sid_for('file' + algorithm)}; rev:1;)"
        )
    if "sha512" in hash_types:
        rules.append("# SHA-512 digests have no Suricata keyword; use the plain export")
    return "\n".join(rules) + "\n", sum(1 for r in rules if r.startswith("alert"))


# ETags and the body cache --------------------------------------------------------------


def fingerprint(
    *,
    session: Session,
    principal: Principal,
    conditions: list[ColumnElement[bool]] | None = None,
) -> tuple[int, str]:
    """Return (count, digest of the sorted row ids) of the indicator rows the caller may read.

    Exact, not a checksum of sums: rows are never changed in place (a new version, revocation
    or withdrawal is a new row, a different id), so the same set of ids is the same set of
    readable indicators. A sum of ids was not enough: losing rows {3, 7} and gaining {4, 6}
    (a membership swap) kept count, sum and newest alike and reused a stale matcher.
    """
    ids = (
        session.execute(
            restrict(
                select(StixObject.id).where(
                    StixObject.type == "indicator",
                    StixObject.is_latest.is_(True),
                    *(conditions or []),
                ),
                principal,
                Action.READ,
            ).order_by(StixObject.id)
        )
        .scalars()
        .all()
    )
    digest = hashlib.blake2b(b"".join(i.to_bytes(8, "little") for i in ids), digest_size=16)
    return len(ids), digest.hexdigest()


_CACHE: OrderedDict[tuple[object, ...], tuple[Export, str | None]] = OrderedDict()
_CACHE_LOCK: Final = threading.Lock()
_CACHE_SIZE: Final = 32


def cache_clear() -> None:
    """Forget every cached export (tests use this)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def export(
    *,
    session: Session,
    principal: Principal,
    fmt: str,
    types: list[str] | None = None,
    at: datetime | None = None,
    filters: ExportFilters | None = None,
) -> Export:
    """Return the export of what ``principal`` may read in ``fmt``, from cache when unchanged.

    ``filters`` narrow it to TLP levels, collections and an age; the ETag stays the digest of
    the body, and the cache key holds the filters as given and the fingerprint of the rows
    they select now, so a relative age that lets an indicator out is a new body and ETag.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; expected {', '.join(FORMATS)}")
    chosen = parse_types(types)
    moment = at or datetime.now(UTC)
    narrowed = filters or ExportFilters()
    conditions = narrowed.conditions(now=datetime_to_us(moment))
    key = (
        principal.user_id,
        principal.org_id,
        principal.role.value,
        fmt,
        chosen,
        narrowed,
        fingerprint(session=session, principal=principal, conditions=conditions),
    )
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None and (cached[1] is None or time_key(moment) < cached[1]):
            _CACHE.move_to_end(key)
            return cached[0]
    rows = list(
        readable_indicator_rows(session=session, principal=principal, conditions=conditions)
    )
    compiled = compile_rows(rows, at=moment, warn=False, keep_entries=True)
    body, count = render(compiled, rows, fmt, chosen)
    digest = hashlib.sha256(f"{fmt}\n{body}".encode()).hexdigest()[:40]
    suffix = "" if chosen == TYPES else "-" + "-".join(chosen)
    result = Export(
        body=body,
        media_type=MEDIA[fmt],
        etag=f'"{digest}"',
        count=count,
        filename=f"varsel-{fmt}{suffix}.{_EXTENSION[fmt]}",
        red=_red_in_body(compiled, rows, fmt, chosen),
    )
    with _CACHE_LOCK:
        _CACHE[key] = (result, compiled.report.next_change)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result
