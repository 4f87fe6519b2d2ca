"""Provenance: this hub's Ed25519 key pair and the seals that sign every version it stores.

``keys`` loads or creates the key pair in the data directory; ``seal`` defines exactly which
bytes are signed (docs/federation.md, "Signatures") and verifies them. Nothing here touches the
database: the tables that keep seals are in ``varsel.sharing.models``.
"""
