"""The incident workspace and its forms; every change goes through the incidents service."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from varsel.error_map import status_of
from varsel.errors import InvalidInput, VarselError
from varsel.http.deps import DbSession
from varsel.incidents import flows, service
from varsel.policy.principal import Principal
from varsel.reporting import facts as factreg
from varsel.web import pages, queries
from varsel.web.incidents._common import (
    TIMELINE_KINDS,
    Id,
    choices,
    done,
    field,
    may_change,
    notice,
    parse_when,
    utc_text,
)
from varsel.web.incidents._list import list_page
from varsel.web.render import render
from varsel.web.sessions import CheckedForm, SignedIn

router = APIRouter()


def _workspace(
    request: Request,
    db: Session,
    principal: Principal,
    incident_id: int,
    *,
    status_code: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, dict[str, str]] | None = None,
) -> Response:
    incident = service.get(session=db, principal=principal, incident_id=incident_id)
    affected = service.entities(session=db, incident_id=incident.id)
    # ?entity=KEY shows (and edits) a further entity's profile and own facts.
    wanted = str(request.query_params.get("entity") or "")
    entity_key = wanted if wanted and any(k == wanted for k, _ in affected) else ""
    prof = (
        dict(affected).get(entity_key)
        if entity_key
        else service.profile(session=db, incident_id=incident.id)
    )
    facts = service.current_facts(session=db, incident_id=incident.id, entity=entity_key)
    return render(
        request,
        "incident.html",
        status_code=status_code,
        incident=incident,
        may_change=may_change(db, principal, incident.id),
        participants=service.participants(session=db, incident_id=incident.id),
        timeline=service.timeline(session=db, incident_id=incident.id),
        tasks=service.tasks(session=db, incident_id=incident.id),
        links=flows.visible_links(session=db, principal=principal, incident_id=incident.id),
        profile=prof,
        affected=affected,
        entity_key=entity_key,
        facts=facts,
        fact_rows=[
            (name, kind, label, _fact_text(facts.get(name)))
            for name, (kind, label) in factreg.FACTS.items()
        ],
        organisations=queries.organisations(session=db, principal=principal),
        entity_types=service.ENTITY_TYPES,
        nis2_classes=service.NIS2_CLASSES,
        dora_kinds=service.DORA_KINDS,
        timeline_kinds=TIMELINE_KINDS,
        error=error,
        errors=errors or {},
        # What was typed into the refused form, by form ("task", "entry"), to fill it again.
        typed=typed or {},
        notice=notice(request),
        utc_text=utc_text,
        **choices(),
    )


def _fact_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@router.get("/incidents/{incident_id}")
def workspace(request: Request, db: DbSession, principal: SignedIn, incident_id: Id) -> Response:
    """Show the incident workspace: summary, people, timeline, tasks, objects, entity, facts."""
    return _workspace(request, db, principal, incident_id)


def _write(
    request: Request,
    db: Session,
    principal: Principal,
    incident_id: int,
    notice: str,
    anchor: str,
    change: Any,
    entity: str = "",
    form: tuple[str, FormData] | None = None,
) -> Response:
    """Run ``change`` as one unit of work; redirect on success, show the error otherwise.

    ``form`` names the form and its data when its errors go beside its fields.
    """
    try:
        change()
    except VarselError as exc:
        db.rollback()
        if not service.readable(session=db, principal=principal, incident_id=incident_id):
            # A hub-admin may change an incident it may not read: show the error on the list,
            # never the workspace.
            return list_page(request, db, principal, status_code=status_of(exc), error=exc.message)
        if form is None:
            return _workspace(
                request, db, principal, incident_id, status_code=status_of(exc), error=exc.message
            )
        name, data = form
        return _workspace(
            request,
            db,
            principal,
            incident_id,
            status_code=status_of(exc),
            typed={name: {k: str(v) for k, v in data.items() if k != "csrf"}},
            **pages.refusal(exc, form=name),
        )
    db.commit()
    if not service.readable(session=db, principal=principal, incident_id=incident_id):
        return done("/incidents", notice)
    if entity:
        # The notice comes first in the address; the entity shown follows it.
        return done(f"/incidents/{incident_id}", f"{notice}&entity={entity}", anchor)
    return done(f"/incidents/{incident_id}", notice, anchor)


@router.post("/incidents/{incident_id}")
def update(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, incident_id: Id
) -> Response:
    """Change the incident's title, summary, status, severity, classification or TLP."""
    changes: dict[str, Any] = {
        k: field(form, k) for k in ("title", "status", "severity", "tlp") if k in form
    }
    if "summary" in form:
        changes["summary"] = str(form.get("summary") or "")[:20000]
    if "classification" in form:
        changes["classification"] = field(form, "classification") or None
    return _write(
        request,
        db,
        principal,
        incident_id,
        "incident_updated",
        "",
        lambda: service.update(
            session=db, principal=principal, incident_id=incident_id, changes=changes
        ),
    )


@router.post("/incidents/{incident_id}/participants")
def participants(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, incident_id: Id
) -> Response:
    """Add an organisation or a user with a role, or remove a participant (the lead)."""
    if field(form, "op") == "remove":
        raw = field(form, "participant_id")

        def remove() -> None:
            if not raw.isdigit() or not 0 < int(raw) < 2**31:
                raise InvalidInput("no such participant")
            service.remove_participant(
                session=db, principal=principal, incident_id=incident_id, participant_id=int(raw)
            )

        return _write(request, db, principal, incident_id, "participant_removed", "#people", remove)
    org, user = field(form, "org") or None, field(form, "username") or None
    return _write(
        request,
        db,
        principal,
        incident_id,
        "participant_added",
        "#people",
        lambda: service.add_participant(
            session=db,
            principal=principal,
            incident_id=incident_id,
            role=field(form, "role"),
            org=org,
            username=user,
        ),
    )


@router.post("/incidents/{incident_id}/timeline")
def add_entry(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, incident_id: Id
) -> Response:
    """Add a timeline entry (now, or at the time given)."""

    def add() -> None:
        service.add_entry(
            session=db,
            principal=principal,
            incident_id=incident_id,
            text=str(form.get("text") or "")[:20000],
            kind=field(form, "kind") or "note",
            at=parse_when(field(form, "at"), "time of the entry", "at"),
        )

    return _write(
        request, db, principal, incident_id, "entry_added", "#timeline", add, form=("entry", form)
    )


@router.post("/incidents/{incident_id}/tasks")
def tasks(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, incident_id: Id
) -> Response:
    """Add a task with an owner and due time, or mark one done or open again."""
    raw = field(form, "task_id")
    if raw:

        def toggle() -> None:
            if not raw.isdigit() or not 0 < int(raw) < 2**31:
                raise InvalidInput("no such task")
            service.set_task_done(
                session=db,
                principal=principal,
                incident_id=incident_id,
                task_id=int(raw),
                done=field(form, "done") == "yes",
            )

        return _write(request, db, principal, incident_id, "task_changed", "#tasks", toggle)

    def add() -> None:
        service.add_task(
            session=db,
            principal=principal,
            incident_id=incident_id,
            title=field(form, "title"),
            owner=field(form, "owner") or None,
            due_at=parse_when(field(form, "due_at"), "due time", "due_at"),
        )

    return _write(
        request, db, principal, incident_id, "task_added", "#tasks", add, form=("task", form)
    )


@router.post("/incidents/{incident_id}/links")
def link(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, incident_id: Id
) -> Response:
    """Link a STIX object I may read (by id; the collection is optional) to the incident."""
    return _write(
        request,
        db,
        principal,
        incident_id,
        "object_linked",
        "#objects",
        lambda: flows.link_object(
            session=db,
            principal=principal,
            incident_id=incident_id,
            stix_id=field(form, "stix_id")[:300],
            collection_id=field(form, "collection")[:36] or None,
            note=field(form, "note")[:1000],
        ),
    )


def _codes(text: str) -> list[str]:
    return [c for c in re.split(r"[\s,;]+", text.upper()) if c]


@router.post("/incidents/{incident_id}/entity")
def entity(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, incident_id: Id
) -> Response:
    """Set an affected entity's profile (a further one with a key), which decides the rules."""
    key = field(form, "key")[:40]
    if field(form, "op") == "remove":
        return _write(
            request,
            db,
            principal,
            incident_id,
            "profile_saved",
            "#entities",
            lambda: service.remove_entity(
                session=db, principal=principal, incident_id=incident_id, key=key
            ),
        )

    def save() -> None:
        values: dict[str, Any] = {
            "name": field(form, "name"),
            "established_in": _codes(field(form, "established_in")),
            "services_in": _codes(field(form, "services_in")),
            "main_establishment": field(form, "main_establishment") or None,
            "nis2_class": field(form, "nis2_class") or None,
            "sector": field(form, "sector") or None,
            "entity_type": field(form, "entity_type") or None,
            "nis1_scope": field(form, "nis1_scope") == "yes",
            "dora_financial": field(form, "dora_financial") == "yes",
            "dora_entity_kind": field(form, "dora_entity_kind") or None,
        }
        if key:
            service.set_entity(
                session=db, principal=principal, incident_id=incident_id, key=key, **values
            )
        else:
            service.set_profile(session=db, principal=principal, incident_id=incident_id, **values)

    if key:
        return _write(request, db, principal, incident_id, "profile_saved", "#entities", save, key)
    return _write(
        request,
        db,
        principal,
        incident_id,
        "profile_saved",
        "#entity",
        lambda: service.set_profile(
            session=db,
            principal=principal,
            incident_id=incident_id,
            name=field(form, "name"),
            established_in=_codes(field(form, "established_in")),
            services_in=_codes(field(form, "services_in")),
            main_establishment=field(form, "main_establishment") or None,
            nis2_class=field(form, "nis2_class") or None,
            sector=field(form, "sector") or None,
            entity_type=field(form, "entity_type") or None,
            nis1_scope=field(form, "nis1_scope") == "yes",
            dora_financial=field(form, "dora_financial") == "yes",
            dora_entity_kind=field(form, "dora_entity_kind") or None,
        ),
    )


@router.post("/incidents/{incident_id}/facts")
def facts(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, incident_id: Id
) -> Response:
    """Record the impact facts that changed; an emptied field clears its fact."""

    entity = field(form, "entity")[:40]

    def save() -> None:
        incident = service.get(session=db, principal=principal, incident_id=incident_id)
        known = service.current_facts(session=db, incident_id=incident.id, entity=entity)
        values: dict[str, Any] = {}
        for name, (kind, _) in factreg.FACTS.items():
            if name not in form:
                continue
            text = field(form, name)
            if text == _fact_text(known.get(name)):
                continue  # unchanged: no new row, no audit noise
            if not text:
                values[name] = None
            elif kind == factreg.TIME:
                values[name] = parse_when(text, name)
            else:
                values[name] = text
        if values:
            service.set_facts(
                session=db,
                principal=principal,
                incident_id=incident_id,
                values=values,
                entity=entity,
            )

    return _write(request, db, principal, incident_id, "facts_saved", "#facts", save, entity)
