"""Exactly what a hub signs, and how a receiving hub checks it (docs/federation.md).

A *version* is the producer's STIX bytes as stored (``raw``) plus its *provenance*: a small
canonical JSON object naming the origin hub, the producing organisation there, the TLP the origin
decided, the recipients qualified with their hub (``ORG@hub``, ``user:NAME@hub``) and the
classification. Its digest is SHA-256 over ``b"varsel-version/1\\n" + provenance + b"\\n" + raw``.

Ed25519 costs 30 µs to sign and 100 µs to verify on this project's machines, more than storing an
object, so a hub signs a *seal* per share instead of each version: the seal lists the digests of
the versions the share stored, and the signature covers ``b"varsel-seal/1\\n" + origin + b"\\n"
+ seal id + b"\\n"`` followed by the digests. A receiver verifies a seal once and then checks
each version's digest against it, so a relay can forward any subset of a seal's versions and the
origin's signature still proves every byte. A tombstone is signed on its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from varsel.provenance.keys import HubKey

_VERSION = b"varsel-version/1\n"
_SEAL = b"varsel-seal/1\n"
_TOMBSTONE = b"varsel-tombstone/1\n"


def provenance(
    *,
    origin: str,
    producer: str,
    tlp: str,
    recipients: Iterable[str] = (),
    classification: Sequence[Any] | None = None,
) -> str:
    """Return the canonical provenance text of a version (the exact bytes that are signed)."""
    doc = {
        "class": list(classification) if classification else None,
        "origin": origin,
        "producer": producer,
        "recipients": sorted(set(recipients)),
        "tlp": tlp,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_provenance(text: str) -> dict[str, Any]:
    """Return the fields of a provenance text (a new dict); ValueError if it is not one."""
    return dict(_parsed(text))


@lru_cache(maxsize=4096)
def _parsed(text: str) -> dict[str, Any]:
    # Cached: the versions of one share carry the same few provenance texts. Callers get copies.
    doc = json.loads(text)
    if not isinstance(doc, dict) or set(doc) != {
        "class",
        "origin",
        "producer",
        "recipients",
        "tlp",
    }:
        raise ValueError("not a Varsel provenance record")
    if not all(isinstance(doc[k], str) for k in ("origin", "producer", "tlp")):
        raise ValueError("origin, producer and tlp must be strings")
    recipients, classification = doc["recipients"], doc["class"]
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise ValueError("recipients must be a list of strings")
    if classification is not None and (
        not isinstance(classification, list)
        or not all(isinstance(c, str | int) and not isinstance(c, bool) for c in classification)
    ):
        raise ValueError("class must be null or a list of strings and numbers")
    if text != provenance(
        origin=doc["origin"],
        producer=doc["producer"],
        tlp=doc["tlp"],
        recipients=recipients,
        classification=classification,
    ):
        raise ValueError("provenance is not in canonical form")
    return doc


def digest(provenance_text: str, raw: str) -> str:
    """Return the hex SHA-256 a seal lists for one version."""
    h = hashlib.sha256(_VERSION)
    h.update(provenance_text.encode("utf-8"))
    h.update(b"\n")
    h.update(raw.encode("utf-8"))
    return h.hexdigest()


def _seal_message(origin: str, seal_id: str, manifest: str) -> bytes:
    head = _SEAL + origin.encode("utf-8") + b"\n" + seal_id.encode("utf-8") + b"\n"
    return head + manifest.encode("ascii")


@dataclass(frozen=True)
class Seal:
    """A signed list of version digests: ``manifest`` is the digests joined by newlines."""

    id: str
    origin: str
    manifest: str
    signature: str

    @cached_property
    def digests(self) -> frozenset[str]:
        """Return the digests this seal covers (built once: a receiver asks per version)."""
        return frozenset(self.manifest.split("\n")) if self.manifest else frozenset()

    def to_json(self) -> dict[str, str]:
        """Return the seal as it travels between hubs."""
        return {
            "id": self.id,
            "origin": self.origin,
            "manifest": self.manifest,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, doc: Any) -> Seal:
        """Return the seal in ``doc``; ValueError if it is malformed."""
        if not isinstance(doc, dict) or not all(
            isinstance(doc.get(k), str) for k in ("id", "origin", "manifest", "signature")
        ):
            raise ValueError("a seal needs string id, origin, manifest and signature")
        return cls(doc["id"], doc["origin"], doc["manifest"], doc["signature"])


def make_seal(key: HubKey, seal_id: str, digests: Sequence[str]) -> Seal:
    """Return the seal of this hub over ``digests``."""
    manifest = "\n".join(digests)
    return Seal(seal_id, key.name, manifest, key.sign(_seal_message(key.name, seal_id, manifest)))


def _verify(public: Ed25519PublicKey, signature: str, message: bytes) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def verify_seal(seal: Seal, public: Ed25519PublicKey) -> bool:
    """Return whether ``seal`` was signed by the holder of ``public``."""
    return _verify(public, seal.signature, _seal_message(seal.origin, seal.id, seal.manifest))


def tombstone_message(doc: dict[str, Any]) -> bytes:
    """Return the bytes a tombstone's signature covers (its fields, canonical JSON)."""
    body = {k: v for k, v in doc.items() if k != "signature"}
    return _TOMBSTONE + json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign_tombstone(key: HubKey, doc: dict[str, Any]) -> str:
    """Return this hub's signature of tombstone ``doc``."""
    return key.sign(tombstone_message(doc))


def verify_tombstone(doc: dict[str, Any], public: Ed25519PublicKey) -> bool:
    """Return whether tombstone ``doc`` carries a valid signature of ``public``'s holder."""
    signature = doc.get("signature")
    return isinstance(signature, str) and _verify(public, signature, tombstone_message(doc))
