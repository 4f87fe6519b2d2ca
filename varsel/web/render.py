"""Render pages: the Jinja2 environment, the common page context and the security headers."""

from __future__ import annotations

import json
from functools import cache
from http import HTTPStatus
from typing import Any

from fastapi import Request
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.responses import HTMLResponse

from varsel.alerts import service as alerts
from varsel.error_map import BUSY_RETRY_SECONDS
from varsel.http.deps import HubState
from varsel.orgs.models import Role
from varsel.sharing.tlp import TLP
from varsel.web.i18n import (
    COOKIE,
    NAMES,
    available,
    day_filter,
    label,
    number_filter,
    page_callables,
    request_lang,
    utc_filter,
    when_filter,
)
from varsel.web.sessions import WebSession, ensure_cookie, web_session

# Everything is served by the hub itself; no inline script, no third-party origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def tlp_label(value: str) -> Markup:
    """Return the conventional coloured TLP label for a stored level, e.g. ``amber+strict``."""
    try:
        level = TLP(value)
    except ValueError:
        return Markup('<span class="tlp tlp-unknown">{}</span>').format(value)
    css = "tlp-" + level.value.replace("+", "-")
    return Markup('<span class="tlp {}">{}</span>').format(css, level.label)


def pretty_json(value: Any) -> str:
    """Return ``value`` as indented JSON."""
    return json.dumps(value, indent=2, ensure_ascii=False)


@cache
def environment() -> Environment:
    """Return the Jinja2 environment of the page templates (autoescaped)."""
    env = Environment(
        loader=PackageLoader("varsel.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # Newstyle gettext: ``_("%(n)s objects", n=3)`` fills in and escapes; the page's ``lang``
    # (a context variable) picks the catalogue, so one environment serves every language.
    env.install_gettext_callables(newstyle=True, **page_callables())  # type: ignore[attr-defined]
    env.globals["label_of"] = label
    env.filters["tlp"] = tlp_label
    # Dates, times and counts in the page's language (varsel/web/i18n.py); times stay in UTC.
    env.filters["timestamp"] = utc_filter  # µs since the epoch, e.g. an object's date_added
    env.filters["utc"] = utc_filter
    env.filters["when"] = when_filter
    env.filters["day"] = day_filter
    env.filters["number"] = number_filter
    env.globals["language_names"] = NAMES
    env.globals["languages"] = available
    env.filters["pretty_json"] = pretty_json
    env.globals["tlp_levels"] = list(TLP)
    env.globals["Role"] = Role
    return env


def _unread(state: HubState, session: WebSession) -> int | None:
    """Return the signed-in user's unread notifications for the header badge (capped)."""
    if session.principal is None:
        return None
    with state.readers() as db:
        return alerts.unread_count(session=db, principal=session.principal)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Return ``template`` rendered with the common context (user, CSRF token, ``t``)."""
    state: HubState = request.app.state.hub
    session: WebSession = web_session(request, state)
    lang = request_lang(request)
    page = (
        environment()
        .get_template(template)
        .render(
            request=request,
            lang=lang,
            lang_choice=request.cookies.get(COOKIE) if lang == request.cookies.get(COOKIE) else "",
            title_suffix=state.settings.title,
            me=session.principal,
            csrf=session.csrf,
            path=request.url.path,
            unread=_unread(state, session),
            **context,
        )
    )
    response = HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)
    if status_code == HTTPStatus.SERVICE_UNAVAILABLE:
        # Only errors.Busy is answered 503: a form the database had no time for, worth resending.
        response.headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
    ensure_cookie(response, state, session)
    return response
