"""Turn a STIX 2.1 pattern into the atoms a single-observable matcher can evaluate.

An atom is one value to look for (an address, a block, a domain, a URL, an e-mail address or a
digest). A pattern is evaluable when it is a disjunction of atoms: one or more observation
expressions joined by OR, each holding comparisons joined by OR, with ``=``, ``IN``,
``ISSUBSET`` (address blocks) and ``LIKE '%.example.org'`` (subdomains). ``X_ref.type``
assertions ANDed with the matching ``X_ref.value`` comparison are accepted, since they only
restate the value's type. Anything else (AND across observables, FOLLOWEDBY, qualifiers,
MATCHES, negation, unsupported object paths) raises :class:`Unsupported` with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from varsel.errors import InvalidInput
from varsel.observables.normalize import (
    BadValue,
    Kind,
    indicator_domain,
    indicator_email,
    indicator_hash,
    indicator_ip,
    indicator_url,
)


class Unsupported(InvalidInput, ValueError):
    """A pattern the matcher cannot evaluate; ``str()`` is the reason."""


ANY, SRC, DST = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Atom:
    """One canonical value to look for; ``subdomains`` matches strict subdomains only."""

    kind: Kind
    value: str
    direction: int = ANY
    subdomains: bool = False


_STRING: Final = r"'(?:[^'\\]|\\['\\])*'"
_SIMPLE: Final = re.compile(rf"^\s*\[\s*([a-z0-9-]+):([A-Za-z0-9_.'-]+)\s*=\s*({_STRING})\s*\]\s*$")
_PATH_TEXT: Final = rf"[a-z0-9-]+:(?:[A-Za-z0-9_]+|{_STRING})(?:\.(?:[A-Za-z0-9_]+|{_STRING}))*"
_TOKEN: Final = re.compile(
    rf"\s*(?:(?P<str>{_STRING})|(?P<path>{_PATH_TEXT})|(?P<op>!=|<=|>=|=|<|>|\[|\]|\(|\)|,)"
    rf"|(?P<word>[A-Za-z0-9_.+-]+))"
)
_PATH: Final = re.compile(r"^([a-z0-9-]+):(.+)$")
_HASH_PATH: Final = re.compile(r"^hashes\.(?:'([^']+)'|([A-Za-z0-9-]+))$")
_VALUE_PATHS: Final = {
    ("ipv4-addr", "value"): (Kind.IP, ANY),
    ("ipv6-addr", "value"): (Kind.IP, ANY),
    ("network-traffic", "src_ref.value"): (Kind.IP, SRC),
    ("network-traffic", "dst_ref.value"): (Kind.IP, DST),
    ("domain-name", "value"): (Kind.DOMAIN, ANY),
    ("url", "value"): (Kind.URL, ANY),
    ("email-addr", "value"): (Kind.EMAIL, ANY),
}
_HASHED_TYPES: Final = ("file", "artifact")
_REF_TYPE_PATHS: Final = {"src_ref.type": "src_ref.value", "dst_ref.type": "dst_ref.value"}


def _unquote(literal: str) -> str:
    return literal[1:-1].replace("\\'", "'").replace("\\\\", "\\")


def _atoms_for(obj_type: str, path: str, op: str, values: list[str]) -> list[Atom]:
    """Return the atoms of one comparison, or raise Unsupported."""
    if obj_type in _HASHED_TYPES and (found := _HASH_PATH.match(path)):
        algorithm = found.group(1) or found.group(2)
        if op not in ("=", "IN"):
            raise Unsupported(f"operator {op} on {obj_type}:{path} is not supported")
        try:
            return [Atom(Kind.HASH, indicator_hash(v, algorithm)) for v in values]
        except BadValue as exc:
            raise Unsupported(str(exc)) from None
    target = _VALUE_PATHS.get((obj_type, path))
    if target is None:
        raise Unsupported(f"object path {obj_type}:{path} is not one the matcher evaluates")
    kind, direction = target
    try:
        if kind is Kind.IP:
            if op not in ("=", "IN", "ISSUBSET"):
                raise Unsupported(f"operator {op} on {obj_type}:{path} is not supported")
            atoms = []
            for v in values:
                found_kind, canonical = indicator_ip(v)
                if op == "ISSUBSET" and "/" not in v:
                    raise Unsupported(f"ISSUBSET needs a CIDR block, got {v!r}")
                atoms.append(Atom(found_kind, canonical, direction))
            return atoms
        if kind is Kind.DOMAIN and op == "LIKE":
            return [_like_domain(v) for v in values]
        if op not in ("=", "IN"):
            raise Unsupported(f"operator {op} on {obj_type}:{path} is not supported")
        if kind is Kind.DOMAIN:
            return [Atom(Kind.DOMAIN, indicator_domain(v)) for v in values]
        if kind is Kind.EMAIL:
            return [Atom(Kind.EMAIL, indicator_email(v)) for v in values]
        atoms = []
        for v in values:
            url = indicator_url(v)
            if url is None:
                raise Unsupported(f"{v!r} is not an absolute URL")
            atoms.append(Atom(Kind.URL, url))
        return atoms
    except BadValue as exc:
        raise Unsupported(str(exc)) from None


def _like_domain(value: str) -> Atom:
    if "%" not in value and "_" not in value:
        return Atom(Kind.DOMAIN, indicator_domain(value))
    if value.startswith("%.") and "%" not in value[2:] and "_" not in value[2:]:
        return Atom(Kind.DOMAIN, indicator_domain(value[2:]), subdomains=True)
    raise Unsupported(f"LIKE {value!r}: only '%.domain' (subdomains) is supported")


def parse(pattern: str) -> list[Atom]:
    """Return the atoms whose disjunction ``pattern`` is, or raise Unsupported with a reason."""
    simple = _SIMPLE.match(pattern)
    if simple is not None:
        obj_type, path, literal = simple.groups()
        return _atoms_for(obj_type, path, "=", [_unquote(literal)])
    return _parse_general(pattern)


def _tokens(pattern: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = pattern.rstrip()
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if found is None or found.end() == pos:
            raise Unsupported(f"cannot read the pattern at offset {pos}")
        kind = found.lastgroup or "op"
        out.append((kind, found.group(kind)))
        pos = found.end()
    return out


def _parse_general(pattern: str) -> list[Atom]:
    tokens = _tokens(pattern)
    atoms: list[Atom] = []
    i = 0
    while True:
        if i >= len(tokens) or tokens[i] != ("op", "["):
            raise Unsupported(
                "expected '[' (parenthesised observation expressions and "
                "qualifiers are not supported)"
            )
        close = next((j for j in range(i + 1, len(tokens)) if tokens[j] == ("op", "]")), None)
        if close is None:
            raise Unsupported("unbalanced '['")
        atoms.extend(_observation(tokens[i + 1 : close]))
        i = close + 1
        if i == len(tokens):
            return atoms
        word = tokens[i][1]
        if word != "OR":
            raise Unsupported(
                f"{word!r} after an observation: only OR between observations is "
                "supported (AND, FOLLOWEDBY and qualifiers need correlation)"
            )
        i += 1


def _observation(tokens: list[tuple[str, str]]) -> list[Atom]:
    comparisons: list[tuple[str, str, str, list[str]]] = []
    joins: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, word = tokens[i]
        path = _PATH.match(word) if kind == "path" else None
        if path is None:
            raise Unsupported(f"expected an object path, got {word!r}")
        if i + 2 >= len(tokens):
            raise Unsupported("incomplete comparison")
        op = tokens[i + 1][1]
        if op == "NOT":
            raise Unsupported("negated comparisons are not supported")
        if op == "IN":
            values, i = _set_literal(tokens, i + 2)
        else:
            if tokens[i + 2][0] != "str":
                raise Unsupported(f"operator {op} needs a string literal here")
            values, i = [_unquote(tokens[i + 2][1])], i + 3
        comparisons.append((path.group(1), path.group(2), op, values))
        if i < len(tokens):
            joins.add(tokens[i][1])
            i += 1
    if joins - {"AND", "OR"}:
        raise Unsupported(f"unexpected {sorted(joins - {'AND', 'OR'})[0]!r} in an observation")
    if "AND" in joins:
        return _and_observation(comparisons, joins)
    atoms: list[Atom] = []
    for obj_type, obj_path, op, values in comparisons:
        atoms.extend(_atoms_for(obj_type, obj_path, op, values))
    return atoms


def _and_observation(
    comparisons: list[tuple[str, str, str, list[str]]], joins: set[str]
) -> list[Atom]:
    # Only "X_ref.type = '...' AND X_ref.value = '...'" restates a type; anything else needs
    # two fields of one record to be correlated, which a value matcher cannot do.
    if "OR" in joins:
        raise Unsupported("AND mixed with OR inside an observation is not supported")
    values = [c for c in comparisons if c[1] not in _REF_TYPE_PATHS]
    asserted = [c for c in comparisons if c[1] in _REF_TYPE_PATHS]
    if len(values) != 1 or not asserted:
        raise Unsupported("AND of comparisons on different values needs correlation; not supported")
    obj_type, path, op, vals = values[0]
    for a_type, a_path, a_op, a_vals in asserted:
        if (
            a_type != obj_type
            or _REF_TYPE_PATHS[a_path] != path
            or a_op != "="
            or a_vals[0] not in ("ipv4-addr", "ipv6-addr")
        ):
            raise Unsupported(
                "AND of comparisons on different values needs correlation; not supported"
            )
    return _atoms_for(obj_type, path, op, vals)


def _set_literal(tokens: list[tuple[str, str]], i: int) -> tuple[list[str], int]:
    if tokens[i] != ("op", "("):
        raise Unsupported("IN needs a parenthesised set")
    values: list[str] = []
    i += 1
    while i < len(tokens):
        kind, word = tokens[i]
        if kind != "str":
            raise Unsupported("IN sets must hold string literals")
        values.append(_unquote(word))
        sep = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        i += 2
        if sep == ")":
            return values, i
        if sep != ",":
            raise Unsupported("malformed IN set")
    raise Unsupported("unterminated IN set")
