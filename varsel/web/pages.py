"""What the form pages share: form fields, the notice after a redirect, the page with an error.

A page that takes a form renders with an optional error message and status code (the status of
the refused change); after a successful change it redirects with a notice key, which the page
shows only if it is one of its own keys, so no free text from the address is ever displayed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from varsel.errors import VarselError
from varsel.web.render import render


def field(form: FormData, name: str) -> str:
    """Return a form field as stripped text ('' when absent)."""
    return str(form.get(name) or "").strip()


def done(path: str, notice: str, anchor: str = "") -> Response:
    """Return the redirect after a successful form, with the notice to show."""
    return RedirectResponse(f"{path}?notice={notice}{anchor}", status_code=303)


def notice(request: Request, notices: Collection[str]) -> str | None:
    """Return the notice key in the address if it is one of ``notices`` (never echo free text)."""
    value = request.query_params.get("notice")
    return value if value in notices else None


def refusal(
    exc: VarselError, fields: Mapping[str, str] | None = None, *, form: str | None = None
) -> dict[str, Any]:
    """Return the page context for a refused form: the message beside its field, or on top.

    ``exc.field`` names the input in the domain's words; ``fields`` maps such names to the
    form's own where they differ (``{"password": "new"}``). The result is ``error`` (a message
    for the whole form, else None) and ``errors`` ({form field: message}) for the
    ``_macros.html`` field macros. On a page of several forms, ``form`` names the one refused
    and the key becomes ``form.field`` (``task.title``), so another form's ``title`` stays clean.
    """
    name = (fields or {}).get(exc.field, exc.field) if exc.field else None
    if name and form:
        name = f"{form}.{name}"
    if name:
        return {"error": None, "errors": {name: exc.message}}
    return {"error": exc.message, "errors": {}}


def form_page(
    request: Request,
    template: str,
    *,
    notices: Collection[str],
    status_code: int = 200,
    error: str | None = None,
    **context: Any,
) -> Response:
    """Render a form page with its notice, an optional error message and status code."""
    return render(
        request,
        template,
        status_code=status_code,
        error=error,
        notice=notice(request, notices),
        **context,
    )
