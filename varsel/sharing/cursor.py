"""Stateless, signed ``next`` cursors for TAXII paging.

A cursor is the position (date_added in µs, row id) of the last object on the page, signed with
the hub's secret key. It needs no server-side state, so it survives restarts and works across
workers; the signature stops a client from forging a position outside its own query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

from varsel.errors import InvalidInput

_FORMAT = ">qq"


def _mac(key: str, payload: bytes) -> bytes:
    return hmac.new(key.encode("utf-8"), b"varsel-cursor:" + payload, hashlib.sha256).digest()[:12]


def encode(key: str, date_added_us: int, row_id: int) -> str:
    """Return the opaque cursor for a position."""
    payload = struct.pack(_FORMAT, date_added_us, row_id)
    return base64.urlsafe_b64encode(payload + _mac(key, payload)).decode("ascii").rstrip("=")


def decode(key: str, cursor: str) -> tuple[int, int]:
    """Return the position in ``cursor``; raise InvalidInput if it was not made by this hub."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError):
        raise InvalidInput("the 'next' value is not a cursor issued by this server") from None
    size = struct.calcsize(_FORMAT)
    payload, mac = raw[:size], raw[size:]
    if len(payload) != size or not hmac.compare_digest(mac, _mac(key, payload)):
        raise InvalidInput("the 'next' value is not a cursor issued by this server")
    date_added_us, row_id = struct.unpack(_FORMAT, payload)
    return date_added_us, row_id
