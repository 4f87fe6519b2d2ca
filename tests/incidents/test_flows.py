"""Flows across incidents and reporting on both databases: the clock keeps both titles."""

from __future__ import annotations

from datetime import UTC, datetime

from tests import factories as f
from tests.conftest import Hub
from varsel.incidents import flows, service


def test_the_clock_names_the_incident_and_the_report_apart(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Pilvi Oy", "FI")
        f.user(s, "lead", "Pilvi Oy", password=None)
        lead = f.principal(s, "lead")
        incident = service.create(session=s, principal=lead, title="Ransomware at Pilvi")
        service.set_profile(
            session=s,
            principal=lead,
            incident_id=incident.id,
            name="Pilvi Oy",
            established_in=["FI"],
            nis2_class="essential",
            entity_type="cloud",
        )
        service.set_facts(
            session=s,
            principal=lead,
            incident_id=incident.id,
            values={
                "detected_at": "2026-03-27T16:00:00+02:00",
                "aware_at": "2026-03-27T17:00:00+02:00",
                "unavailable_minutes": 45,
                "users_affected": 2000000,
            },
        )
        s.commit()
        rows = flows.clock(session=s, principal=lead, now=datetime(2026, 3, 27, 18, tzinfo=UTC))
    assert rows, "an essential cloud provider's significant incident owes reports"
    for row in rows:
        assert row["incident"] == incident.id
        assert row["incident_title"] == "Ransomware at Pilvi"
        # "title" stays the report's own title, e.g. the early warning.
        assert row["title"] and row["title"] != "Ransomware at Pilvi"
    assert "early-warning" in {row["stage"] for row in rows}
