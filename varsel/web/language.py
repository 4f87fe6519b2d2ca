"""The reader's choice of language, kept in a cookie that wins over Accept-Language."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from varsel.http.deps import Hub
from varsel.web.auth import safe_next
from varsel.web.i18n import COOKIE, available
from varsel.web.sessions import CheckedForm

router = APIRouter()

# A year: the choice is a preference, not a credential.
COOKIE_SECONDS = 365 * 24 * 3600


@router.post("/language")
def choose_language(state: Hub, form: CheckedForm) -> Response:
    """Keep the chosen language in a cookie and go back to the page it was chosen on.

    A language without a catalogue is ignored; "auto" (or anything else) forgets the choice,
    so the browser's Accept-Language decides again.
    """
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    lang = form.get("lang")
    if isinstance(lang, str) and lang in available():
        response.set_cookie(
            COOKIE,
            lang,
            max_age=COOKIE_SECONDS,
            path="/",
            httponly=True,
            samesite="lax",
            secure=state.settings.secure_cookies,
        )
    else:
        response.delete_cookie(COOKIE, path="/")
    return response
