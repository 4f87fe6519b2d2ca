"""Federation: hubs exchange intelligence over TAXII 2.1 and a signed stream (docs/federation.md).

Inbound, a peer hub is an ordinary user of an organisation of kind ``hub`` and reads through
``restrict()`` like anyone else. Outbound, this package keeps the peers this hub pulls from and
pushes to, the origin keys it trusts, and the worker that moves versions and tombstones.
"""
