"""What every HTTP interface shares, below all of them.

TAXII and REST (:mod:`varsel.api`), the pages (:mod:`varsel.web`) and each domain's ``views``
import from here, never from one another: :mod:`~varsel.http.deps` (FastAPI dependencies as
``Annotated`` aliases: the hub state, the database session, the principal). Refusals at the
HTTP level are domain errors of :mod:`varsel.errors`, answered through :mod:`varsel.error_map`.
"""
