"""What the MISP interface does, above the service: reading events, sharing them, importing files.

``reading`` (events a principal may read, as MISP events), ``writing`` (a MISP event shared
into a collection through :func:`varsel.sharing.ingest.ingest`) and ``importing`` (files, feed
directories and archives read into events). Import them by module; this package re-exports
nothing.
"""
