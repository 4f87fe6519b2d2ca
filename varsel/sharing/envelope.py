"""Split a TAXII envelope or STIX bundle into its objects' raw JSON, byte for byte.

The hub keeps each object exactly as it was received. ``json.loads`` would lose that (key order
is kept, but spacing, escapes and number spelling are not), so the top level is walked here and
every value is decoded by the C decoder's ``raw_decode``, which also yields where it ended.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from varsel.errors import InvalidInput

_decoder = json.JSONDecoder()
_WS = " \t\n\r"


@dataclass
class Envelope:
    """The envelope's own properties and each element of its ``objects`` list."""

    properties: dict[str, Any] = field(default_factory=dict)
    # (raw text, decoded value) per element of "objects", in order.
    objects: list[tuple[str, Any]] = field(default_factory=list)


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _decode(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _decoder.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def _expect(text: str, pos: int, char: str, what: str) -> int:
    pos = _skip(text, pos)
    if pos >= len(text) or text[pos] != char:
        found = repr(text[pos]) if pos < len(text) else "the end of the body"
        raise InvalidInput(
            f"the body is not valid JSON: expected {what} at offset {pos}, found {found}"
        )
    return pos + 1


def split(text: str) -> Envelope:
    """Parse ``text`` as a JSON object and return its properties and raw ``objects`` elements."""
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
                        start = pos
                        value, pos = _decode(text, pos)
                        envelope.objects.append((text[start:pos], value))
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
