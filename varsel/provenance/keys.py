"""This hub's Ed25519 key pair: created once in the data directory, private key mode 0600.

The public key is exchanged as base64 of its 32 raw bytes (``varsel hub id``); peers pin it
with ``varsel peer add --public-key`` or ``varsel peer trust``.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from varsel.errors import InvalidInput, Misconfigured

KEY_FILE = "hub-ed25519.pem"


@dataclass(frozen=True)
class HubKey:
    """This hub's name and private key; ``public`` is the base64 the peers pin."""

    name: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> str:
        """Return the public key as base64 of its 32 raw bytes."""
        return public_text(self.private.public_key())

    def sign(self, message: bytes) -> str:
        """Return the base64 Ed25519 signature of ``message``."""
        return base64.b64encode(self.private.sign(message)).decode("ascii")


def public_text(key: Ed25519PublicKey) -> str:
    """Return ``key`` as base64 of its 32 raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def parse_public(text: str) -> Ed25519PublicKey:
    """Return the public key written as base64 of 32 raw bytes; InvalidInput otherwise."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("a public key must be base64 (as `varsel hub id` prints it)") from None
    if len(raw) != 32:
        raise InvalidInput(f"an Ed25519 public key has 32 bytes, this one {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def key_path(data_dir: Path) -> Path:
    """Return where the private key of the hub whose data directory is ``data_dir`` lives."""
    return data_dir / KEY_FILE


def create(data_dir: Path) -> bool:
    """Create the key pair in ``data_dir`` unless it exists; return whether it was created."""
    path = key_path(data_dir)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        # O_EXCL: two processes starting at once keep one key, never two.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return True


def load(data_dir: Path, name: str) -> HubKey:
    """Return the hub key in ``data_dir`` (creating it on first use) named ``name``."""
    create(data_dir)
    path = key_path(data_dir)
    if path.stat().st_mode & 0o077:
        raise Misconfigured(f"{path} must be readable by the hub's user only (chmod 600)")
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise Misconfigured(f"{path} does not hold an Ed25519 private key")
    return HubKey(name=name, private=private)


_cache: dict[tuple[Path, str], HubKey] = {}
_lock = threading.Lock()


def current(data_dir: Path, name: str) -> HubKey:
    """Return the hub key for ``data_dir``, loaded once per process."""
    key = (data_dir.resolve(), name)
    with _lock:
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = load(data_dir, name)
        return found
