"""Server discovery, the API root and the status of earlier POSTs (§4 of TAXII 2.1).

There is one API root, ``hub``; its path is part of every route the package registers.
"""

from __future__ import annotations

from fastapi.responses import Response

from varsel.api.errors import TAXII_MEDIA_TYPE
from varsel.api.taxii._http import taxii_response
from varsel.http.deps import CurrentPrincipal, DbSession, Hub
from varsel.sharing import service as sharing

API_ROOT = "hub"


# Handlers that touch no database are ``async def``, which spares them a thread-pool hop.


async def discovery(state: Hub, principal: CurrentPrincipal) -> Response:
    """Describe this server and its API roots (§4.1 Server Discovery)."""
    root = f"/taxii2/{API_ROOT}/"
    return taxii_response(
        {
            "title": state.settings.title,
            "description": "Varsel: STIX 2.1 sharing under TLP 2.0 for the Nordic cyber-resilience "
            "initiative",
            "default": root,
            "api_roots": [root],
        }
    )


async def api_root(state: Hub, principal: CurrentPrincipal) -> Response:
    """Describe the API root (§4.2 Get API Root Information)."""
    return taxii_response(
        {
            "title": state.settings.title,
            "description": "The hub's shared collections",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": state.settings.max_content_length,
        }
    )


def status(status_id: str, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Return the status of an earlier POST of objects (§4.3 Get Status)."""
    row = sharing.get_status(session=session, status_id=status_id, principal=principal)
    details = sharing.status_details(row)
    return taxii_response(
        {
            "id": row.id,
            "status": "complete",
            "request_timestamp": row.request_timestamp,
            "total_count": row.total_count,
            "success_count": row.success_count,
            "successes": details["successes"],
            "failure_count": row.failure_count,
            "failures": details["failures"],
            "pending_count": 0,
            "pendings": [],
        }
    )
