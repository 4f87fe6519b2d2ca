"""Ingest STIX objects into a collection: validate one by one, store versions, never half-write.

Ordering guarantee (what makes ``added_after`` polling exact): a writer first takes the lock of
its collection's row, then hands out ``date_added`` values strictly greater than every value
handed out before, then commits and releases the lock. So in each collection the committed
objects are always a prefix in ``date_added`` order; a reader that polls with the last
``date_added`` it saw can neither miss a later commit nor see one twice.

The private modules, by what they hold: ``_results`` (the outcome of each object and of the
envelope), ``_checks`` (warning lists, markings and TLP:RED recipients), ``_producers`` (who
may add versions of an id and name an identity as ``created_by_ref``), ``_store`` (the locked
write that keeps the ordering guarantee) and ``_ingest`` (:func:`ingest`, which runs them).
"""

from __future__ import annotations

from varsel.sharing.ingest._checks import RECIPIENTS_PROPERTY, preload_warning_lists
from varsel.sharing.ingest._ingest import ingest
from varsel.sharing.ingest._results import Addressee, Candidate, IngestResult, StatusDetail
from varsel.sharing.ingest._store import keep_seal, qualified_recipients, store

__all__ = [
    "RECIPIENTS_PROPERTY",
    "Addressee",
    "Candidate",
    "IngestResult",
    "StatusDetail",
    "ingest",
    "keep_seal",
    "preload_warning_lists",
    "qualified_recipients",
    "store",
]
