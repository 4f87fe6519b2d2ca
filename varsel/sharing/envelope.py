"""Split a TAXII envelope or STIX bundle into its objects' raw JSON, byte for byte.

The hub keeps each object exactly as it was received. ``json.loads`` would lose that (key order
is kept, but spacing, escapes and number spelling are not), so the top level is walked here and
every value is decoded by the C decoder's ``raw_decode``, which also yields where it ended.

Only strict JSON (RFC 8259 and I-JSON, RFC 7493) is kept, so that every reader can serve what
is stored: an element of ``objects`` holding ``NaN`` or ``Infinity``, a number too large for a
double, an integer of more than :data:`MAX_INTEGER_DIGITS` digits, a lone UTF-16 surrogate
escape, a name twice in one JSON object, or nesting deeper than :data:`MAX_DEPTH` becomes a
:class:`RefusedElement`, which validation refuses with its reason while the rest of the
envelope goes on. The same in the envelope's own properties, or a body that is not JSON as a
whole, is :class:`InvalidInput`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final

from varsel.errors import InvalidInput

# Levels of objects and arrays in one STIX object, the object itself being the first. STIX
# needs a handful; 64 leaves room for deep custom extensions and keeps every reader (the C
# encoder, the templates of the object page) far below Python's recursion limit.
MAX_DEPTH: Final = 64
# Digits of one JSON integer: any 64-bit integer, signed or not, fits. STIX 2.1 §2.9 asks for
# 54-bit integers; longer ones cost quadratic time to convert (Python refuses beyond 4,300).
MAX_INTEGER_DIGITS: Final = 20

_WS = " \t\n\r"
# A \uD800-\uDFFF escape: only then can a decoded string hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# A JSON string, or one bracket: enough to find where a value too deep to decode ends.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_ID = re.compile(r'"id"\s*:\s*"([a-z0-9][a-z0-9-]{0,248}--[0-9a-f-]{36})"')


class _NotStrict(InvalidInput):
    """A value that strict JSON cannot hold; ``reason`` says which, ``end`` where it ends."""

    def __init__(self, reason: str, end: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.end = end


def _parse_int(text: str) -> int:
    # Checked before int() converts it: that costs quadratic time in the number of digits.
    if len(text) > MAX_INTEGER_DIGITS and len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _NotStrict(f"an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrict(f"a number that is not finite as a double: {text[:30]}")
    return value


def _parse_constant(name: str) -> Any:
    raise _NotStrict(f"{name} (not a JSON value)")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7493 §2.3: names are unique. The raw text is served as received, and a reader that
    # keeps the first of two object_marking_refs would see other markings than the hub did.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _NotStrict(f"the name {name[:60]!r} twice in one JSON object")
            seen.add(name)
    return obj


_decoder = json.JSONDecoder(
    object_pairs_hook=_object,
    parse_int=_parse_int,
    parse_float=_parse_float,
    parse_constant=_parse_constant,
)


class RefusedElement(dict[str, Any]):
    """An element of ``objects`` that is not strict JSON: its id (when found) and the reason."""

    def __init__(self, reason: str, stix_id: str | None) -> None:
        super().__init__({"id": stix_id} if stix_id else {})
        self.reason = reason


@dataclass
class Envelope:
    """The envelope's own properties and each element of its ``objects`` list."""

    properties: dict[str, Any] = field(default_factory=dict)
    # (raw text, decoded value) per element of "objects", in order; a RefusedElement for an
    # element that is not strict JSON.
    objects: list[tuple[str, Any]] = field(default_factory=list)


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _depth(value: Any) -> int:
    """Return how many levels of objects and arrays ``value`` nests, without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _check_decoded(raw: str, value: Any) -> None:
    """Raise _NotStrict if ``value``, decoded from ``raw``, nests too deep or holds a lone
    surrogate; the cheap tests on ``raw`` spare the walk for nearly every object."""
    if raw.count("[") + raw.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise _NotStrict(f"objects and arrays nested more than {MAX_DEPTH} levels deep")
    if _SURROGATE_ESCAPE.search(raw) is not None:
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _NotStrict(
                "a string with a lone UTF-16 surrogate escape (such as \\ud800), which is "
                "no Unicode text"
            ) from None


def _end_of_value(text: str, pos: int) -> int:
    """Return where the array or object starting at ``pos`` ends, for one too deep to decode."""
    depth = 0
    for match in _TOKEN.finditer(text, pos):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
        elif token in ("]", "}"):
            depth -= 1
            if depth == 0:
                return match.end()
    raise InvalidInput("the body is not valid JSON: an array or object is never closed")


def _strict(text: str, pos: int) -> tuple[Any, int, str]:
    """Decode the value at ``pos`` and return it, where it ends and its text; raise _NotStrict
    (with where it ends, when known) or InvalidInput."""
    try:
        value, end = _decoder.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise _NotStrict(f"objects and arrays nested more than {MAX_DEPTH} levels deep") from None
    raw = text[pos:end]
    try:
        _check_decoded(raw, value)
    except _NotStrict as exc:
        exc.end = end
        raise
    return value, end, raw


def _decode(text: str, pos: int) -> tuple[Any, int]:
    try:
        value, end, _ = _strict(text, pos)
    except _NotStrict as exc:
        raise InvalidInput(f"the body is not acceptable JSON: it holds {exc.reason}") from None
    return value, end


def _element(text: str, pos: int) -> tuple[str, Any, int]:
    """Return the raw text and value of the ``objects`` element at ``pos``, and where it ends."""
    try:
        value, end, raw = _strict(text, pos)
    except _NotStrict as exc:
        if exc.end is not None:
            end = exc.end
        elif text[pos] in "[{":
            end = _end_of_value(text, pos)
        else:
            # A scalar the decoder refused (a bare NaN, a huge integer): skip past it.
            end = _skip_scalar(text, pos)
        raw = text[pos:end]
        found = _ID.search(raw)
        reason = f"not stored: it holds {exc.reason}"
        return raw, RefusedElement(reason, found.group(1) if found else None), end
    return raw, value, end


def _skip_scalar(text: str, pos: int) -> int:
    end = pos
    while end < len(text) and text[end] not in ",]}" + _WS:
        end += 1
    return end


def _expect(text: str, pos: int, char: str, what: str) -> int:
    pos = _skip(text, pos)
    if pos >= len(text) or text[pos] != char:
        found = repr(text[pos]) if pos < len(text) else "the end of the body"
        raise InvalidInput(
            f"the body is not valid JSON: expected {what} at offset {pos}, found {found}"
        )
    return pos + 1


def split(text: str) -> Envelope:
    """Parse ``text`` as a JSON object and return its properties and raw ``objects`` elements.

    Raise InvalidInput for a body that is not a JSON object as a whole, or whose own properties
    are not strict JSON; an element of ``objects`` that is not strict JSON is kept as a
    RefusedElement.
    """
    envelope = Envelope()
    pos = _expect(text, 0, "{", "'{' (a JSON object)")
    pos = _skip(text, pos)
    if pos < len(text) and text[pos] == "}":
        pos += 1
    else:
        while True:
            pos = _skip(text, pos)
            key, pos = _decode(text, pos)
            if not isinstance(key, str):
                raise InvalidInput("the body is not valid JSON: object keys must be strings")
            pos = _expect(text, pos, ":", "':'")
            pos = _skip(text, pos)
            if key == "objects" and pos < len(text) and text[pos] == "[":
                envelope.objects = []
                pos = _skip(text, pos + 1)
                if pos < len(text) and text[pos] == "]":
                    pos += 1
                else:
                    while True:
                        pos = _skip(text, pos)
                        if pos >= len(text):
                            raise InvalidInput("the body is not valid JSON: it ends too early")
                        raw, value, pos = _element(text, pos)
                        envelope.objects.append((raw, value))
                        pos = _skip(text, pos)
                        if pos < len(text) and text[pos] == ",":
                            pos += 1
                            continue
                        pos = _expect(text, pos, "]", "',' or ']' in the objects list")
                        break
                envelope.properties[key] = None
            else:
                value, pos = _decode(text, pos)
                envelope.properties[key] = value
            pos = _skip(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            pos = _expect(text, pos, "}", "',' or '}'")
            break
    if _skip(text, pos) != len(text):
        raise InvalidInput("the body is not valid JSON: extra data after the top-level object")
    return envelope
