"""MISP interoperability: a hub speaks MISP's event JSON, feeds and REST API (docs/misp.md).

Nearly every Nordic CSIRT runs MISP; this package lets a stock MISP instance and PyMISP scripts
share with a hub as if it were MISP. MISP events become STIX 2.1 in the hub through CIRCL's
``misp-stix`` (wrapped where it lacks TLP 2.0, reports, sightings and versions), and every read
and write goes through the same policy and ingest as any other share.

Modules, top to bottom (the ``rooms`` contract in pyproject.toml):

- ``views`` — MISP's REST API under ``/misp/`` (``views.read``: what PyMISP and MISP's pull
  read, and the feeds; ``views.write``: events/add, events/edit, sightings/add);
- ``cli`` — ``varsel misp …`` (``cli.importing``: ``import``; ``cli.admin``: ``set-collection``
  and the sharing mapping);
- ``flows`` — ``flows.reading`` (events a principal may read, as MISP events), ``flows.writing``
  (a MISP event shared into a collection), ``flows.importing`` (files, feed directories and
  archives read into events);
- ``service`` and ``models`` — the hub administrator's mapping (which collection an
  organisation's events land in; sharing groups and distribution levels ⇄ recipients and TLP);
- ``convert`` — MISP event ⇄ STIX 2.1 objects, pure (no database);
- ``sharing`` — MISP distribution, sharing groups and ``tlp:*`` tags ⇄ TLP 2.0 and recipients,
  pure, never broader than the source allowed.
"""
