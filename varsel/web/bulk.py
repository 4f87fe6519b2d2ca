"""Act on the rows ticked in the object list: share elsewhere, re-share to a client, revoke.

The list's table sits in one form, so ticking rows and choosing an action works without
script. The action goes through :func:`varsel.sharing.bulk.act` (the same services and policy
as acting on one object), and the page reports per row what happened.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from varsel.error_map import status_of
from varsel.errors import Forbidden, InvalidInput
from varsel.http.deps import DbSession
from varsel.sharing import bulk
from varsel.web import listing
from varsel.web.render import render
from varsel.web.sessions import CheckedForm, SignedIn

router = APIRouter()


def _back(value: object) -> str:
    """Return the list URL to go back to; only a path of the object list, never elsewhere."""
    text = str(value or "")
    return text if text.startswith("/objects") and not text.startswith("//") else "/objects"


@router.post("/objects/bulk")
def bulk_action(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm
) -> Response:
    """Do one action to every ticked row; show what happened to each."""
    back = _back(form.get("back"))
    action_name = str(form.get("action") or "")
    target = str(form.get("target_collection") or "").strip()
    client = str(form.get("client") or "").strip()
    try:
        try:
            action = bulk.Bulk(action_name)
        except ValueError:
            raise InvalidInput("choose what to do with the selected objects") from None
        try:
            pks = [int(str(v)) for v in form.getlist("pick")]
        except ValueError:
            raise InvalidInput("the selection is not a list of rows") from None
        outcomes = bulk.act(
            session=db,
            principal=principal,
            action=action,
            pks=pks,
            collection=target or None,
            client=client or None,
        )
    except (InvalidInput, Forbidden) as exc:
        db.rollback()
        return render(
            request,
            "objects_bulk.html",
            status_code=status_of(exc),
            error=exc.message,
            outcomes=[],
            values={},
            action=action_name,
            back=back,
        )
    db.commit()
    done = sum(1 for o in outcomes if o.result is bulk.Result.DONE)
    return render(
        request,
        "objects_bulk.html",
        error=None,
        outcomes=outcomes,
        action=action_name,
        done=done,
        refused=sum(1 for o in outcomes if o.result is bulk.Result.REFUSED),
        values={o.pk: listing.value_of(o.raw) for o in outcomes},
        back=back,
    )
