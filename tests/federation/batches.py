"""Batches as a peer hub sends them, signed with keys the tests make (docs/federation.md)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from tests import factories as f
from varsel.clock import utcnow
from varsel.federation.models import TrustedHub
from varsel.provenance import seal
from varsel.provenance.keys import HubKey


def hub_key(name: str) -> HubKey:
    """Return a fresh key pair for a hub named ``name``."""
    return HubKey(name=name, private=Ed25519PrivateKey.generate())


def trust(session: Session, key: HubKey, country: str = "SE") -> int:
    """Pin ``key`` as origin ``key.name`` (its organisation of kind hub made); return the org."""
    org_id = f.org(session, key.name, country, kind="hub")
    session.add(
        TrustedHub(
            name=key.name,
            public_key=key.public,
            org_id=org_id,
            pinned_at=utcnow(),
            pinned_by="test",
        )
    )
    session.flush()
    return org_id


def version(
    obj: dict[str, Any],
    *,
    origin: str,
    producer: str = "CERT-A",
    tlp: str = "amber",
    recipients: Sequence[str] = (),
    classification: Sequence[Any] | None = None,
) -> tuple[str, str]:
    """Return (raw, provenance) of a version first stored at ``origin``."""
    raw = json.dumps(obj, separators=(",", ":"))
    prov = seal.provenance(
        origin=origin,
        producer=producer,
        tlp=tlp,
        recipients=recipients,
        classification=classification,
    )
    return raw, prov


def batch(
    key: HubKey,
    versions: Sequence[tuple[str, str]],
    *,
    tombstones: Sequence[dict[str, Any]] = (),
    signed: Sequence[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Return a batch carrying ``versions`` under one seal of ``key``.

    ``signed`` are the versions the seal lists, when they should differ from those sent.
    """
    seal_id = f"{key.name}/{uuid.uuid4()}"
    listed = versions if signed is None else signed
    made = seal.make_seal(key, seal_id, [seal.digest(p, r) for r, p in listed])
    return {
        "collection": "remote-collection",
        "position": 1,
        "head": 1,
        "remaining": 0,
        "seals": {seal_id: made.to_json()} if versions else {},
        "objects": [
            {"raw": r, "provenance": p, "seal": seal_id, "date_added": "2026-12-05T12:00:00Z"}
            for r, p in versions
        ],
        "tombstones": list(tombstones),
    }


def tombstone(
    key: HubKey,
    stix_id: str,
    *,
    versions: list[str] | None = None,
    reason: str = "deleted",
    origin: str | None = None,
) -> dict[str, Any]:
    """Return a tombstone of origin ``origin`` (default: the key's hub) signed with ``key``."""
    name = origin or key.name
    doc: dict[str, Any] = {
        "type": "varsel-tombstone",
        "id": f"{name}/{uuid.uuid4()}",
        "origin": name,
        "stix_id": stix_id,
        "versions": versions,
        "reason": reason,
        "issued": "2026-12-05T12:00:00.000000Z",
    }
    doc["signature"] = seal.sign_tombstone(key, doc)
    return doc
