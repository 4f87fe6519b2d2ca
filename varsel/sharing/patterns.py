"""STIX 2.1 patterning validation: a fast path for the common forms, the reference parser otherwise.

The reference validator (``stix2patterns``, an ANTLR parser) costs about a millisecond per
pattern, which alone would cap ingestion far below the hub's target.  Almost every indicator in
the wild is one observation expression holding a few comparisons, so those are recognised here
with a hand-written scanner.  The scanner is deliberately conservative: it answers "valid" only
for inputs whose tokenisation and parse it fully understands, and hands everything else — every
error included — to the reference, so error messages always come from the reference.
"""

from __future__ import annotations

import re
import threading
import warnings
from functools import lru_cache
from typing import Final

# stix2patterns ships no type information (mypy runs with --ignore-missing-imports).
from stix2patterns.v21.object_validator import HASHES_REGEX
from stix2patterns.validator import run_validator

__all__ = ["reference_validate", "validate_pattern"]

# Whitespace the fast path understands.  The reference lexer skips more (NBSP, U+2028, ...) but
# Python's ``\s`` also matches characters the lexer rejects (U+001C..U+001F), so only these four.
_WS: Final = r"[ \t\r\n]*"
_WS1: Final = r"[ \t\r\n]+"

# Keywords win over identifiers of the same length in the reference lexer, so an identifier that
# spells one of them is not an identifier at all.
_KEYWORDS: Final = (
    "AND|OR|NOT|FOLLOWEDBY|LIKE|MATCHES|ISSUPERSET|ISSUBSET|EXISTS|LAST|IN|START|STOP|SECONDS"
    "|true|false|WITHIN|REPEATS|TIMES"
)
# An object type lexes as IdentifierWithHyphen; a path step must be IdentifierWithoutHyphen.
_TYPE: Final = rf"(?!(?:{_KEYWORDS})(?![A-Za-z0-9_-]))[A-Za-z_][A-Za-z0-9_-]*"
_IDENT: Final = rf"(?!(?:{_KEYWORDS})(?![A-Za-z0-9_]))[A-Za-z_][A-Za-z0-9_]*"
# StringLiteral: a backslash may only escape a quote or a backslash.
_STRING: Final = r"'(?:[^'\\]|\\['\\])*'"
# IntPosLiteral / IntNegLiteral without the optional '+'; a leading zero would split in two.
_INT: Final = r"-?(?:0|[1-9][0-9]*)"
_VALUE: Final = rf"(?:{_STRING}|{_INT})"

_OPEN: Final = re.compile(rf"{_WS}\[{_WS}")
_CLOSE: Final = re.compile(rf"{_WS}\]{_WS}\Z")
_JOIN: Final = re.compile(rf"{_WS1}(?:AND|OR){_WS1}")
_COMPARISON: Final = re.compile(
    rf"(?P<type>{_TYPE}):(?P<first>{_IDENT})(?P<steps>(?:\.(?:{_IDENT}|{_STRING}))*)"
    rf"(?:"
    rf"{_WS}(?P<cmp>!=|<=|>=|=|<|>){_WS}(?P<value>{_VALUE})"
    rf"|{_WS1}IN{_WS}\({_WS}(?P<set>{_VALUE}(?:{_WS},{_WS}{_VALUE})*){_WS}\)"
    rf"|{_WS1}(?P<strop>LIKE|MATCHES|ISSUBSET|ISSUPERSET){_WS}(?P<strvalue>{_STRING})"
    rf")"
)
_STEP: Final = re.compile(rf"\.(?:({_IDENT})|({_STRING}))")

_MAX_CACHED: Final = 32_768
_MAX_CACHED_LENGTH: Final = 2_048
_REFERENCE_LOCK: Final = threading.Lock()


def _decode_string(literal: str) -> str:
    """Unquote a StringLiteral exactly as stix2patterns' inspector does."""
    return literal[1:-1].replace("\\'", "'").replace("\\\\", "\\")


def _hash_check_passes(first: str, steps: str, value: str | None) -> bool:
    """Mirror the reference's hash check on one comparison; False means "ask the reference"."""
    path = [first]
    for match in _STEP.finditer(steps):
        ident, literal = match.groups()
        path.append(ident if ident is not None else _decode_string(literal))
    if "hashes" not in path:
        return True
    hash_type = path[-1].upper().replace("-", "").replace("'", "")
    if hash_type not in HASHES_REGEX:
        return True
    if value is None:
        return False
    return re.match(HASHES_REGEX[hash_type][0], value.replace("'", "")) is not None


def _fast_accepts(pattern: str) -> bool:
    """Return True only if `pattern` is one of the common forms and certainly valid."""
    opened = _OPEN.match(pattern)
    if opened is None:
        return False
    pos = opened.end()
    # Only a comparison whose path mentions "hashes" can fail the reference's semantic check.
    check_hashes = "hashes" in pattern
    while True:
        comparison = _COMPARISON.match(pattern, pos)
        if comparison is None:
            return False
        if check_hashes:
            # The reference checks the literal's text; an IN set is never a well-formed hash.
            value = None if comparison["set"] is not None else comparison["value"]
            if comparison["strop"] is not None:
                value = comparison["strvalue"]
            if not _hash_check_passes(comparison["first"], comparison["steps"], value):
                return False
        pos = comparison.end()
        joined = _JOIN.match(pattern, pos)
        if joined is None:
            break
        pos = joined.end()
    return _CLOSE.match(pattern, pos) is not None


def reference_validate(pattern: str) -> str | None:
    """Validate `pattern` with the stix2patterns reference; return None or a one-line error."""
    if not pattern.strip():
        # The reference crashes on an empty string instead of reporting it.
        return "pattern is empty"
    try:
        # The lock keeps the ANTLR parser's shared DFA cache and the warnings filter state from
        # being mutated by two threads at once; this is the slow path, so serialising costs little.
        with _REFERENCE_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            errors = run_validator(pattern, "2.1")
    except Exception as exc:  # the reference crashes on some inputs, e.g. "[file:hashes[0] = 'x']"
        return f"pattern could not be parsed: {type(exc).__name__}: {exc}"
    if not errors:
        return None
    # Messages may quote offending newlines; collapse whitespace so the reason stays one line.
    return "; ".join(" ".join(str(error).split()) for error in errors)


def _validate(pattern: str) -> str | None:
    """Validate `pattern`, trying the fast path before the reference."""
    if _fast_accepts(pattern):
        return None
    return reference_validate(pattern)


_validate_cached: Final = lru_cache(maxsize=_MAX_CACHED)(_validate)


def validate_pattern(pattern: str) -> str | None:
    """Return None if `pattern` is a valid STIX 2.1 pattern, else a one-line error message."""
    # Only short patterns are cached, so the cache's memory stays bounded whatever is sent.
    if len(pattern) <= _MAX_CACHED_LENGTH:
        return _validate_cached(pattern)
    return _validate(pattern)
