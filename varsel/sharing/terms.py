"""The search terms of an object version, and writing them beside it (``object_terms``).

Search and the observable look-up must answer in milliseconds over a million objects, which a
``LIKE '%x%'`` over raw JSON cannot. So each version stored gets its terms, written in the
same transaction as the version (:func:`write`, called by ingest):

* the observable values it names, canonical as :mod:`varsel.observables.normalize` makes
  them: an indicator's STIX pattern through :func:`varsel.observables.patterns.parse` (or, for
  a pattern the matcher cannot evaluate, the values :func:`varsel.observables.extract.extract`
  finds in its string literals), and a cyber-observable's value or hashes;
* the words of its name and description, lower-cased (``str.lower``) in Python, so that the
  same text gives the same terms, and so the same results, on SQLite and PostgreSQL.

Words rather than each database's full-text engine: SQLite FTS5 and PostgreSQL's text search
stem and split differently, and would answer one query differently on the two databases.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import Connection, insert
from sqlalchemy.exc import DBAPIError

from varsel.observables.extract import extract
from varsel.observables.normalize import (
    BadValue,
    Kind,
    indicator_domain,
    indicator_email,
    indicator_hash,
    indicator_ip,
    indicator_url,
)
from varsel.observables.patterns import Unsupported, parse
from varsel.sharing.models import ObjectTerm

WORD: Final = "word"
MAX_WORDS: Final = 64  # distinct words per version: a long description is not a document store
MAX_TERM: Final = 200
_WORDS: Final = re.compile(r"\w{2,}")
_LITERAL: Final = re.compile(r"'((?:[^'\\]|\\.)*)'")
_EXTRACTED_KIND: Final = {
    "ipv4": Kind.IP.value,
    "ipv6": Kind.IP.value,
    "domain": Kind.DOMAIN.value,
    "url": Kind.URL.value,
    "email": Kind.EMAIL.value,
    "md5": Kind.HASH.value,
    "sha1": Kind.HASH.value,
    "sha256": Kind.HASH.value,
    "sha512": Kind.HASH.value,
}
_HASH_NAMES: Final = {32: "MD5", 40: "SHA-1", 64: "SHA-256", 128: "SHA-512"}

Term = tuple[str, str, str | None, str | None]  # kind, value, lo, hi
COLUMNS: Final = ("object_pk", "kind", "value", "lo", "hi")


def address_key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Return an address as fixed-width hex led by its version, ordered as the addresses are."""
    if address.version == 4:
        return f"4{int(address):08x}"
    return f"6{int(address):032x}"


def ip_term(kind: str, value: str) -> Term:
    """Return the term of a canonical address or block, with its range."""
    if kind == Kind.IP.value and ":" not in value:
        # A canonical IPv4 address: four decimal octets (normalize); no ipaddress object.
        a, b, c, d = (int(part) for part in value.split("."))
        key = f"4{(a << 24) | (b << 16) | (c << 8) | d:08x}"
        return kind, value, key, key
    if kind == Kind.CIDR.value:
        network = ipaddress.ip_network(value)
        return kind, value, address_key(network[0]), address_key(network[-1])
    key = address_key(ipaddress.ip_address(value))
    return kind, value, key, key


def observable_term(kind: str, value: str) -> Term:
    """Return the term of an extracted value (:mod:`varsel.observables.extract` kinds)."""
    if kind in ("ipv4", "ipv6"):
        return ip_term(Kind.CIDR.value if "/" in value else Kind.IP.value, value)
    return _EXTRACTED_KIND[kind], value, None, None


def words(text: str) -> list[str]:
    """Return the distinct search words of ``text``, lower-cased, in order."""
    seen: dict[str, None] = {}
    for word in _WORDS.findall(text.lower()):
        seen.setdefault(word[:MAX_TERM], None)
    return list(seen)


def _pattern_terms(pattern: str) -> list[Term]:
    try:
        atoms = parse(pattern)
    except Unsupported:
        # Not evaluable as a disjunction of values (AND, FOLLOWEDBY, …), but it still names
        # them: look in its string literals.
        literals = " ".join(m.group(1) for m in _LITERAL.finditer(pattern))
        return [observable_term(f.kind, f.value) for f in extract(literals)]
    out: list[Term] = []
    for atom in atoms:
        if atom.kind in (Kind.IP, Kind.CIDR):
            out.append(ip_term(atom.kind.value, atom.value))
        else:
            out.append((atom.kind.value, atom.value, None, None))
    return out


def _sco_terms(obj: dict[str, Any]) -> list[Term]:
    kind = obj.get("type")
    value = obj.get("value")
    try:
        if kind in ("ipv4-addr", "ipv6-addr") and isinstance(value, str):
            ip_kind, address = indicator_ip(value)
            return [ip_term(ip_kind.value, address)]
        if kind == "domain-name" and isinstance(value, str):
            return [(Kind.DOMAIN.value, indicator_domain(value), None, None)]
        if kind == "email-addr" and isinstance(value, str):
            return [(Kind.EMAIL.value, indicator_email(value), None, None)]
        if kind == "url" and isinstance(value, str):
            url = indicator_url(value)
            return [(Kind.URL.value, url, None, None)] if url else []
    except BadValue:
        return []
    hashes = obj.get("hashes")
    if kind in ("file", "artifact") and isinstance(hashes, dict):
        out: list[Term] = []
        for algorithm, digest in hashes.items():
            if not isinstance(digest, str) or not isinstance(algorithm, str):
                continue
            try:
                out.append((Kind.HASH.value, indicator_hash(digest, algorithm), None, None))
            except BadValue:
                continue
        return out
    return []


def terms_of(obj: dict[str, Any]) -> list[Term]:
    """Return the distinct search terms of one STIX object."""
    found: list[Term] = []
    pattern = obj.get("pattern")
    if obj.get("type") == "indicator" and isinstance(pattern, str):
        if obj.get("pattern_type", "stix") == "stix":
            found.extend(_pattern_terms(pattern))
    else:
        found.extend(_sco_terms(obj))
    text = " ".join(
        v for v in (obj.get("name"), obj.get("description")) if isinstance(v, str) and v
    )
    found.extend((WORD, w, None, None) for w in words(text)[:MAX_WORDS])
    unique: dict[tuple[str, str], Term] = {}
    for term in found:
        if len(term[1]) <= MAX_TERM:
            unique.setdefault((term[0], term[1]), term)
    return list(unique.values())


def write(connection: Connection, rows: Iterable[tuple[int, dict[str, Any]]]) -> int:
    """Write the terms of each (object row id, object); return how many were written.

    One DBAPI executemany on SQLite, COPY on PostgreSQL: the same shape as storing the
    versions themselves (``varsel.sharing.ingest._store``).
    """
    table: list[Sequence[Any]] = [(pk, *term) for pk, obj in rows for term in terms_of(obj)]
    if not table:
        return 0
    columns = ", ".join(COLUMNS)
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            f"INSERT INTO object_terms ({columns}) VALUES (?, ?, ?, ?, ?)", table
        )
        return len(table)
    if connection.dialect.name != "postgresql":
        connection.execute(insert(ObjectTerm), [dict(zip(COLUMNS, r, strict=True)) for r in table])
        return len(table)
    statement = f"COPY object_terms ({columns}) FROM STDIN"
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        with cursor.copy(statement) as copy:
            for row in table:
                copy.write_row(row)
    except dbapi_error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi_error) from exc
    return len(table)
