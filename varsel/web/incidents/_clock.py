"""The clock: every due and overdue report across the incidents I may read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import Response

from varsel.http.deps import DbSession
from varsel.incidents import flows
from varsel.web.i18n import Translator, format_weekday, request_lang
from varsel.web.incidents._common import (
    CLOCK_DAYS,
    from_iso,
    local_text,
    utc_text,
)
from varsel.web.render import render
from varsel.web.sessions import SignedIn

router = APIRouter()


_COLOURS = {"overdue": "#a4262c", "due": "#1f5f8b"}


def clock_chart(
    rows: list[dict[str, Any]], now: datetime, t: Translator, *, width: int = 1100
) -> Markup:
    """Return an inline SVG of the next days: one mark per deadline, overdue ones at the left."""
    left, right, height, axis_y = 110, 12, 120, 92
    span = width - left - right
    end = now + timedelta(days=CLOCK_DAYS)
    overdue = [r for r in rows if r["status"] == "overdue"]
    ahead = [(r, d) for r in rows if (d := from_iso(r["deadline_utc"])) and now <= d <= end]
    title = t.ngettext(
        "Deadlines in the next %(num)s day", "Deadlines in the next %(num)s days", CLOCK_DAYS
    )
    # One sentence per count, so that each takes its own plural form in every language.
    desc = " ".join(
        (
            t.ngettext(
                "%(num)s deadline in the next %(days)s days.",
                "%(num)s deadlines in the next %(days)s days.",
                len(ahead),
                days=CLOCK_DAYS,
            ),
            t.ngettext("%(num)s report overdue.", "%(num)s reports overdue.", len(overdue)),
        )
    )
    parts = [
        Markup(
            '<svg class="chart" viewBox="0 0 {w} {h}" width="100%" role="img" '
            'aria-labelledby="clk-t clk-d" xmlns="http://www.w3.org/2000/svg">'
            '<title id="clk-t">{title}</title><desc id="clk-d">{desc}</desc>'
            '<line x1="{l}" x2="{r}" y1="{y}" y2="{y}" stroke="#5a6570"/>'
        ).format(w=width, h=height, title=title, desc=desc, l=left, r=width - right, y=axis_y)
    ]
    parts.append(
        Markup(
            '<rect x="4" y="18" width="{bw}" height="{bh}" rx="4" fill="{fill}"/>'
            '<text x="{tx}" y="46" text-anchor="middle" fill="#fff" font-size="22" '
            'font-weight="700">{n}</text><text x="{tx}" y="66" text-anchor="middle" '
            'fill="#fff" font-size="12">{label}</text>'
        ).format(
            bw=left - 18,
            bh=60,
            fill=_COLOURS["overdue"] if overdue else "#5a6570",
            tx=4 + (left - 18) / 2,
            n=len(overdue),
            label=t.gettext("overdue"),
        )
    )
    for day in range(CLOCK_DAYS + 1):
        x = left + span * day / CLOCK_DAYS
        tick = now + timedelta(days=day)
        parts.append(
            Markup(
                '<line x1="{x}" x2="{x}" y1="{y1}" y2="{y2}" stroke="#d5dbe0"/>'
                '<text x="{x}" y="{ty}" text-anchor="{anchor}" font-size="11" fill="#5a6570">'
                "{label}</text>"
            ).format(
                x=round(x, 1),
                anchor="start" if day == 0 else "end" if day == CLOCK_DAYS else "middle",
                y1=10,
                y2=axis_y + 4,
                ty=axis_y + 18,
                label=t.gettext("now") if day == 0 else format_weekday(tick, t.lang),
            )
        )
    for index, (row, deadline) in enumerate(sorted(ahead, key=lambda p: p[1])):
        x = left + span * (deadline - now).total_seconds() / (CLOCK_DAYS * 86400)
        y = axis_y - 14 - (index % 4) * 18  # stagger marks that fall close together
        parts.append(
            Markup(
                '<a href="/incidents/{iid}/obligations#{cc}">'
                '<line x1="{x}" x2="{x}" y1="{y}" y2="{ay}" stroke="{c}" stroke-width="1.5"/>'
                '<circle cx="{x}" cy="{y}" r="6" fill="{c}"{dash}/>'
                "<title>#{iid} {cc} {stage}: {when}</title></a>"
            ).format(
                iid=row["incident"],
                cc=row["country"],
                x=round(x, 1),
                y=y,
                ay=axis_y,
                c=_COLOURS["due"],
                dash=Markup(' fill-opacity=".45" stroke="#1f5f8b"') if row["conditional"] else "",
                stage=row["stage"],
                when=utc_text(deadline),
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


@router.get("/clock")
def clock(request: Request, db: DbSession, principal: SignedIn) -> Response:
    """Show every due and overdue report across the incidents I may read, by deadline."""
    now = datetime.now(UTC)
    rows = flows.clock(session=db, principal=principal, now=now)
    t = Translator(request_lang(request))
    shown = [
        {
            **r,
            "utc": utc_text(from_iso(r["deadline_utc"])),
            "local": local_text(from_iso(r["deadline_utc"]), r["timezone"]),
        }
        for r in rows
    ]
    return render(
        request,
        "clock.html",
        rows=shown,
        now=now,
        overdue=sum(1 for r in rows if r["status"] == "overdue"),
        due=sum(1 for r in rows if r["status"] == "due"),
        chart=clock_chart(rows, now, t),
        utc_text=utc_text,
    )
