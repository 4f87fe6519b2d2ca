"""What the clearance forms share: their notices, a refusal's status, numbers and dates.

Only the notice keys listed here are ever shown after a redirect; a domain error becomes the
status code of the page that shows it; ids and dates are read from form fields or refused
with a message fit for the person who filled in the form.
"""

from __future__ import annotations

from datetime import date

from starlette.datastructures import FormData

from varsel.errors import InvalidInput
from varsel.web.pages import field

# Notices shown after a redirect; only these keys are ever displayed.
NOTICES = {
    "person_added",
    "clearance_added",
    "clearance_verified",
    "clearance_revoked",
    "recognition_requested",
    "recognition_approved",
    "recognition_refused",
}


def form_int(form: FormData, name: str, what: str) -> int:
    """Return form field ``name`` as an integer, or refuse it."""
    value = field(form, name)
    if not value.isdigit():
        raise InvalidInput(f"choose {what}")
    return int(value)


def form_day(form: FormData, name: str, what: str) -> date:
    """Return form field ``name`` as a date (YYYY-MM-DD), or refuse it."""
    value = field(form, name)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a date written YYYY-MM-DD, got {value!r}") from None
