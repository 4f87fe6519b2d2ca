"""The Federation page for hub-admins: this hub's key, its peers, links, lag, errors and acks.

Everything shown comes from :func:`varsel.federation.queries.overview`, the read that
``/metrics`` and ``varsel peer status`` use too, so the three never disagree. The page changes
nothing: peers and links are managed with ``varsel peer`` (docs/federation.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from varsel.federation import queries
from varsel.federation.queries import FederationOverview
from varsel.http.deps import DbSession, Hub
from varsel.web import charts
from varsel.web.i18n import Translator, request_lang
from varsel.web.render import render
from varsel.web.sessions import HubAdmin, NotPermitted

router = APIRouter(prefix="/admin")
_LABEL = 24  # characters of a link's name in the chart before it is cut


def _lag_chart(view: FederationOverview, t: Translator) -> str | None:
    """Return a bar chart of every measured link's lag in objects, or None if none is."""
    bars = []
    for link in view.links:
        if link.lag_objects is None:
            continue
        label = f"{link.peer} #{link.id} {link.direction}"
        label = label if len(label) <= _LABEL else label[: _LABEL - 1] + "…"
        bars.append(charts.Bar(label, link.lag_objects))
    if not bars:
        return None
    return charts.horizontal(
        bars,
        title=t.gettext("Lag per link (objects)"),
        description=t.gettext(
            "Objects not yet moved over each link, as its last exchange measured; "
            "the table below lists the same numbers."
        ),
    )


@router.get("/federation")
def federation(request: Request, state: Hub, db: DbSession, principal: HubAdmin) -> Response:
    """Show this hub's federation: key, peers, links, refusals, pending tombstones, acks."""
    if principal.hub:
        # A peer hub's user never learns who else this hub peers with, whatever its role.
        raise NotPermitted("this page is for this hub's own hub-admins")
    view = queries.overview(session=db, settings=state.settings)
    db.rollback()  # read only; end the read transaction before rendering
    t = Translator(request_lang(request))
    return render(request, "admin_federation.html", view=view, lag_svg=_lag_chart(view, t))
