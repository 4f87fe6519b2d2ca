"""Events posted to another hub's ``/misp/events/add``, its answer read into an outcome."""

from __future__ import annotations

from typing import Any

import httpx

from varsel.misp.flows import writing
from varsel.misp.flows.importing._files import Item


def post_event(
    client: httpx.Client, *, base_url: str, collection: str, item: Item
) -> writing.EventOutcome:
    """Post one event to a hub's ``/misp/events/add`` and return what the hub made of it."""
    assert item.event is not None
    uid, info = writing.describe(item.event)
    url = base_url.rstrip("/") + "/misp/events/add"
    try:
        response = client.post(url, params={"collection": collection}, json=item.event)
    except httpx.HTTPError as exc:
        return writing.EventOutcome(uid, info, writing.Status.REFUSED, f"not sent: {exc}")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    report = answer.get("varsel_report") if isinstance(answer, dict) else None
    if isinstance(report, dict):
        return outcome_of(report, uid, info)
    if response.is_success:
        return writing.EventOutcome(uid, info, writing.Status.NEW)
    message = answer.get("message") if isinstance(answer, dict) else None
    if not isinstance(message, str):
        message = answer.get("detail") if isinstance(answer, dict) else None
    return writing.EventOutcome(
        uid,
        info,
        writing.Status.REFUSED,
        f"HTTP {response.status_code}: {message or response.text[:300]}",
    )


def outcome_of(report: dict[str, Any], uid: str, info: str) -> writing.EventOutcome:
    """Return the outcome a hub reported (``EventOutcome.as_json``) as an outcome again."""
    try:
        status = writing.Status(report.get("status"))
    except ValueError:
        status = writing.Status.REFUSED
    try:
        refusal = writing.Refusal(report["refusal"]) if report.get("refusal") else None
    except ValueError:
        refusal = writing.Refusal.DENIED
    notes = []
    for note in report.get("notes") or []:
        if not isinstance(note, dict):
            continue
        try:
            kind = writing.NoteKind(note.get("kind"))
        except ValueError:
            kind = writing.NoteKind.REFUSED
        notes.append(
            writing.Note(kind, note.get("item"), str(note.get("what", "")), str(note.get("reason")))
        )
    return writing.EventOutcome(
        str(report.get("uuid") or uid),
        str(report.get("info") or info),
        status,
        report.get("reason"),
        refusal,
        attributes=int(report.get("attributes") or 0),
        stored=int(report.get("stored") or 0),
        notes=notes,
    )
