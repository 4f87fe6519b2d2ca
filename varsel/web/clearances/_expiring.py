"""Clearances expiring soon, in the 60, 30 and 7-day bands, and the warnings already sent."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import select
from starlette.responses import Response

from varsel.clearances import service as register
from varsel.clearances.models import ExpiryNotice
from varsel.clearances.notices import THRESHOLDS
from varsel.http.deps import DbSession
from varsel.policy import Action, restrict
from varsel.web.clearances._pages import row_of
from varsel.web.render import render
from varsel.web.sessions import Admin


def expiring_page(request: Request, db: DbSession, principal: Admin) -> Response:
    """List clearances ending within 60, 30 and 7 days, and the warnings already sent."""
    now = datetime.now(UTC)
    rows = [
        row_of(c, now)
        for c in register.expiring(session=db, principal=principal, within_days=max(THRESHOLDS))
    ]
    buckets = []
    for days in sorted(THRESHOLDS):
        lower = max([t for t in THRESHOLDS if t < days], default=-1)
        buckets.append((days, [r for r in rows if lower < r.days_left <= days]))
    notices = list(
        db.execute(
            restrict(select(ExpiryNotice), principal, Action.READ).order_by(
                ExpiryNotice.created_at.desc(), ExpiryNotice.id.desc()
            )
        ).scalars()
    )
    return render(
        request,
        "clearances_expiring.html",
        buckets=buckets,
        notices=notices,
        clearances={c.id: c for c in register.list_clearances(session=db, principal=principal)},
        persons={p.id: p for p in register.list_persons(session=db, principal=principal)},
    )
