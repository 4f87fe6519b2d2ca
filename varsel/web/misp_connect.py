"""The "connect your MISP" page (``/connect/misp``).

What a MISP administrator pastes into MISP to read from the hub and share with it: the feed
URL of each collection the user may see, the remote-server settings (the URL of the hub's MISP
API and, as the Authkey, an API token the user makes on the tokens page: a token is never shown
again, so none is shown here), and the collection the organisation's MISP events land in. The
page reads the collections through ``restrict()`` like every other page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from varsel.http.deps import DbSession
from varsel.misp import service
from varsel.misp.flows import reading
from varsel.web.render import render
from varsel.web.sessions import SignedIn

router = APIRouter()


def _base(request: Request) -> str:
    """Return the hub's address as the browser reached it (scheme, host and port)."""
    return str(request.base_url).rstrip("/")


@router.get("/connect/misp")
def connect_misp(request: Request, db: DbSession, principal: SignedIn) -> Response:
    """Show the feed URLs and remote-server settings to paste into MISP."""
    base = _base(request)
    collections = reading.readable_collections(session=db, principal=principal)
    landing = service.collection_for(db, principal.org_id)
    return render(
        request,
        "connect_misp.html",
        api_url=f"{base}/misp",
        feeds=[
            {"title": c.title, "id": c.id, "url": f"{base}/misp/feeds/{c.id}"} for c in collections
        ],
        landing=landing,
    )
