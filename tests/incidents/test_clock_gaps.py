"""An incident stays on the clock, and in the reminders, whatever facts are still missing."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests import factories as f
from tests.conftest import Hub
from tests.incidents.conftest import World
from tests.incidents.servers import smtp_server
from varsel.cli import app
from varsel.config import SmtpSettings
from varsel.incidents import flows, service
from varsel.reporting.facts import parse_time
from varsel.reporting.notify import NotifySettings

API = "/api/v1/incidents"
CLOUD = {
    "name": "Pilvi Oy",
    "established_in": ["FI"],
    "nis2_class": "essential",
    "entity_type": "cloud",
}
ICELAND = {"name": "Orka hf", "established_in": ["IS"], "nis1_scope": True}


def _incident(world: World, title: str, profile: dict[str, object] | None, **facts: object) -> int:
    c, lead = world.client, world.as_("lead")
    iid = int(c.post(API, json={"title": title}, headers=lead).json()["id"])
    if profile is not None:
        assert c.put(f"{API}/{iid}/entity", json=profile, headers=lead).status_code == 200
    if facts:
        assert c.patch(f"{API}/{iid}/facts", json={"facts": facts}, headers=lead).is_success
    return iid


def test_the_clock_keeps_incidents_with_missing_facts_or_no_profile(hub: Hub, world: World) -> None:
    fi = _incident(
        world, "FI aware only", CLOUD, aware_at="2099-03-27T15:00:00Z", unavailable_minutes=45
    )
    iceland = _incident(
        world, "IS no times", ICELAND, nis1_significant_impact=True, users_affected=10
    )
    bare = _incident(world, "No profile yet", None)
    rows = world.client.get(f"{API}/clock", headers=world.as_("lead")).json()["reports"]
    by = {(r["incident"], r["stage"]): r for r in rows}
    early = by[(fi, "early-warning")]
    assert early["deadline_utc"] == "2099-03-28T15:00:00Z" and early["status"] == "due"
    assert early["deadline_kind"] == "latest" and early["missing_facts"] == ["detected_at"]
    assert by[(iceland, "notification")]["status"] == "unknown"
    assert by[(iceland, "notification")]["missing_facts"] == ["detected_at"]
    profile = by[(bare, "entity-profile")]
    assert profile["status"] == "unknown" and "no entity profile" in profile["notes"][0]
    # The outsider sees none of them: the clock reads through the policy as before.
    assert world.client.get(f"{API}/clock", headers=world.as_("outsider")).json()["reports"] == []

    # The CLI table marks the bound and names the missing fact; the JSON carries the same.
    runner = CliRunner()
    env = {"VARSEL_DATABASE_URL": hub.settings.database_url, "COLUMNS": "250"}
    table = runner.invoke(app, ["incident", "clock", "--as", "lead"], env=env)
    assert table.exit_code == 0, table.output
    assert "≤ 2099-03-28T17:00:00+02:00" in table.output
    assert "missing: detected_at" in table.output and "no entity profile" in table.output
    raw = runner.invoke(app, ["incident", "clock", "--as", "lead", "--json"], env=env)
    assert {r["incident"] for r in json.loads(raw.output)} == {fi, iceland, bare}

    # The web clock lists them too, with the missing fact in words.
    from fastapi.testclient import TestClient

    from tests.web.conftest import sign_in

    with hub.session() as s:
        f.user(s, "lead2", "Pilvi Oy")
        s.commit()
    browser = TestClient(hub.app)
    sign_in(browser, "lead2")
    page = browser.get("/clock").text
    assert f'data-incident="{bare}" data-stage="entity-profile"' in page
    assert "give detected_at" in page


def test_a_reminder_goes_out_for_the_latest_permissible_deadline(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    with hub.session() as s:
        f.org(s, "Pilvi Oy", country="FI")
        f.user(s, "lead", "Pilvi Oy", password=None)
        me = f.principal(s, "lead")
        incident = service.create(
            session=s, principal=me, title="Aware only", notify_emails=["soc@pilvi.example"]
        )
        service.set_profile(
            session=s, principal=me, incident_id=incident.id, name="Pilvi Oy",
            established_in=["FI"], nis2_class="essential", entity_type="cloud",
        )  # fmt: skip
        service.set_facts(
            session=s,
            principal=me,
            incident_id=incident.id,
            values={"aware_at": "2026-03-27T15:00:00Z", "unavailable_minutes": 45},
        )
        s.commit()
    with smtp_server() as (mailbox, port), hub.session() as s:
        result = flows.notify_due(
            session=s,
            settings=NotifySettings(smtp=SmtpSettings(host="127.0.0.1", port=port)),
            now=parse_time("2026-03-28T13:00:00Z", "t"),
        )
    assert result.sent == 1, result.errors
    mail = mailbox.messages[0]
    assert "at the latest" in mail["Subject"]
    assert "detected_at" in mail.get_payload()  # type: ignore[operator]
