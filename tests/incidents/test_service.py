"""Incident service writes on both databases: every change is in the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from varsel.audit.models import AuditEvent
from varsel.errors import Forbidden
from varsel.incidents import service


def _events(hub: Hub) -> list[tuple[str, str, dict[str, object]]]:
    with hub.session() as s:
        rows = s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
        return [(e.action, e.target, json.loads(e.details)) for e in rows]


def test_timeline_and_task_writes_are_audited(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Pilvi Oy", "FI")
        f.org(s, "Svea Moln AB", "SE")
        f.user(s, "lead", "Pilvi Oy", password=None)
        f.user(s, "partner", "Svea Moln AB", password=None)
        lead = f.principal(s, "lead")
        incident = service.create(session=s, principal=lead, title="Ransomware", tlp="amber")
        iid = incident.id
        service.add_participant(
            session=s, principal=lead, incident_id=iid, role="observer", org="Svea Moln AB"
        )
        s.commit()
    before = len(_events(hub))
    with hub.session() as s:
        lead = f.principal(s, "lead")
        entry = service.add_entry(
            session=s,
            principal=lead,
            incident_id=iid,
            text="Isolated the hypervisors (secret detail)",
            kind="mitigation",
            at=datetime(2026, 3, 27, 15, 0, tzinfo=UTC),
        )
        task = service.add_task(
            session=s,
            principal=lead,
            incident_id=iid,
            title="Rotate keys",
            owner="lead",
            due_at=datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
        )
        service.set_task_done(
            session=s, principal=lead, incident_id=iid, task_id=task.id, done=True
        )
        service.set_task_done(
            session=s, principal=lead, incident_id=iid, task_id=task.id, done=False
        )
        entry_id, task_id = entry.id, task.id
        s.commit()
    assert _events(hub)[before:] == [
        (
            "incident.timeline.add",
            str(iid),
            {"entry": entry_id, "kind": "mitigation", "at": "2026-03-27T15:00:00"},
        ),
        (
            "incident.task.add",
            str(iid),
            {"task": task_id, "owner": "lead", "due_at": "2026-03-28T12:00:00"},
        ),
        ("incident.task.done", str(iid), {"task": task_id}),
        ("incident.task.reopen", str(iid), {"task": task_id}),
    ]
    # The entry's text may be TLP-protected: it never reaches the audit log.
    assert all("secret" not in json.dumps(details) for _, _, details in _events(hub))
    # A refused write leaves no event behind.
    with hub.session() as s:
        partner = f.principal(s, "partner")
        with pytest.raises(Forbidden):
            service.add_task(session=s, principal=partner, incident_id=iid, title="Sneak")
    assert len(_events(hub)) == before + 4
