"""The home page: what was shared with me recently, by country, by TLP and by day."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from varsel.clock import now_us, us_to_rfc3339
from varsel.http.deps import DbSession, Hub
from varsel.sharing import browse
from varsel.sharing import service as sharing
from varsel.sharing.browse import BrowseFilters
from varsel.sharing.tlp import TLP, colours
from varsel.web import charts, listing
from varsel.web.i18n import Translator, request_lang
from varsel.web.render import render
from varsel.web.sessions import SignedIn

router = APIRouter()
DAYS = 30
DAY_US = 86_400 * 1_000_000
RECENT = 10


def window_start(now: int | None = None) -> int:
    """Return the start (00:00 UTC, in µs) of the first day the home page counts."""
    today = (now if now is not None else now_us()) // DAY_US * DAY_US
    return today - (DAYS - 1) * DAY_US


@router.get("/")
def home(request: Request, state: Hub, db: DbSession, principal: SignedIn) -> Response:
    """Show what was shared with the signed-in user over the last days."""
    t = Translator(request_lang(request))
    start = window_start()
    # "added after" is strict, so one µs before the first day counts all of that day.
    since = us_to_rfc3339(start - 1)
    recent = BrowseFilters(added_after_us=start - 1)
    by_tlp = dict(browse.tally(session=db, principal=principal, filters=recent, by="tlp"))
    by_country = browse.tally(session=db, principal=principal, filters=recent, by="country")
    by_day = dict(browse.tally(session=db, principal=principal, filters=recent, by="day"))
    days = [(start + i * DAY_US, int(by_day.get(start + i * DAY_US, 0))) for i in range(DAYS)]
    total_recent = sum(n for _, n in days)
    latest = browse.search(
        session=db,
        principal=principal,
        filters=BrowseFilters(),
        limit=RECENT,
        next_cursor=None,
        secret_key=state.settings.secret_key,
    )
    # Capped and time-bounded: a COUNT of a million readable objects took seconds.
    total = (
        browse.count_capped(
            session=db, principal=principal, filters=BrowseFilters(), at_least=len(latest.rows)
        )
        if latest.more
        else browse.Count(len(latest.rows), exact=True)
    )
    db.commit()  # reading TLP:RED objects is audited

    def link(**params: str) -> str:
        return "/objects?" + urlencode({**params, "added_after": since})

    tlp_rows = [(level, int(by_tlp.get(level.value, 0))) for level in TLP]
    tlp_bars = [
        charts.Bar(level.label, n, link(tlp=level.value), fill=colours(level)[0], stroke="#1d252c")
        for level, n in tlp_rows
    ]
    country_bars = [
        charts.Bar(str(country), n, link(country=str(country))) for country, n in by_country
    ]
    return render(
        request,
        "home.html",
        total=total.n,
        total_exact=total.exact,
        total_recent=total_recent,
        since=since,
        days=days,
        tlp_rows=tlp_rows,
        country_rows=by_country,
        latest=listing.rows(session=db, principal=principal, hits=latest.rows),
        link=link,
        titles={
            c.id: c.title for c, _ in sharing.visible_collections(session=db, principal=principal)
        },
        activity_svg=charts.activity(
            days,
            lang=t.lang,
            title=t.gettext("Sharing activity, last 30 days"),
            description=t.ngettext(
                "Objects shared per day over the last %(num)s day that you may read; "
                "%(count)s in all.",
                "Objects shared per day over the last %(num)s days that you may read; "
                "%(count)s in all.",
                DAYS,
                count=t.number(total_recent),
            ),
        ),
        tlp_svg=charts.horizontal(
            tlp_bars,
            title=t.gettext("By TLP, last 30 days"),
            description=t.ngettext(
                "Objects you may read, shared in the last %(num)s day, per TLP level.",
                "Objects you may read, shared in the last %(num)s days, per TLP level.",
                DAYS,
            ),
        ),
        country_svg=charts.horizontal(
            country_bars,
            title=t.gettext("By producer's country, last 30 days"),
            description=t.ngettext(
                "Objects you may read, shared in the last %(num)s day, "
                "per country of the producing organisation.",
                "Objects you may read, shared in the last %(num)s days, "
                "per country of the producing organisation.",
                DAYS,
            ),
        ),
    )
