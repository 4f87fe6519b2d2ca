"""Late is late: late submissions flagged, future times refused, tasks held to participants,
duties besides reports listed, and the CLI showing relief, nominal deadlines and sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests import factories as f
from tests.conftest import Hub
from tests.incidents.conftest import World
from tests.web.conftest import post_form, sign_in
from varsel.cli import app
from varsel.reporting.facts import FACTS

API = "/api/v1/incidents"
BANK_DK = {
    "name": "Dansk Bank A/S",
    "established_in": ["DK"],
    "dora_financial": True,
    "dora_entity_kind": "credit-institution",
}


def _open(world: World, profile: dict[str, Any], facts: dict[str, Any]) -> int:
    c, lead = world.client, world.as_("lead")
    iid = int(c.post(API, json={"title": "Core banking outage"}, headers=lead).json()["id"])
    assert c.put(f"{API}/{iid}/entity", json=profile, headers=lead).status_code == 200
    assert c.patch(f"{API}/{iid}/facts", json={"facts": facts}, headers=lead).is_success
    return iid


def _jurisdiction(world: World, iid: int, country: str) -> dict[str, Any]:
    body = world.client.get(f"{API}/{iid}/obligations", headers=world.as_("lead")).json()
    result: dict[str, Any] = next(j for j in body["jurisdictions"] if j["country"] == country)
    return result


def _stage(result: dict[str, Any], stage: str) -> dict[str, Any]:
    found: dict[str, Any] = next(o for o in result["obligations"] if o["stage"] == stage)
    return found


def test_a_dora_report_sent_12_hours_late_is_flagged_late(hub: Hub, world: World) -> None:
    facts = {"aware_at": "2026-06-01T08:00:00Z", "classified_major_at": "2026-06-01T09:00:00Z"}
    iid = _open(world, BANK_DK, facts)
    before = _stage(_jurisdiction(world, iid, "DK"), "initial-notification")
    assert before["deadline_utc"] == "2026-06-01T13:00:00Z"
    # Before it is sent: the duty to tell the authority, with reasons, before a deadline passes.
    [prompt] = before["prompts"]
    assert "2025/301, Art. 5(3)" in prompt["source"] and prompt["verified"] is False
    assert "explain the reasons" in prompt["text"] and "Finanstilsynet" in prompt["text"]
    sent = world.client.post(
        f"{API}/{iid}/reports/DK/initial-notification/submissions",
        json={"channel": "Finanstilsynet portal", "submitted_at": "2026-06-02T01:00:00Z"},
        headers=world.as_("lead"),
    )
    assert sent.status_code == 201, sent.text
    after = _stage(_jurisdiction(world, iid, "DK"), "initial-notification")
    assert after["status"] == "submitted" and after["late"] is True
    assert (after["late_by"], after["late_by_minutes"]) == ("12 h 0 min", 720)
    assert any(
        n.startswith("LATE: submitted 12 h 0 min after the deadline") for n in after["notes"]
    )
    assert after["prompts"] == []  # sent: nothing left to warn about
    # The clients' duty (DORA Art. 19(3)) is listed beside the reports.
    notes = {n["what"]: n for n in _jurisdiction(world, iid, "DK")["notes"]}
    assert "Art. 19(3)" in notes["inform-clients"]["source"]

    runner = CliRunner()
    env = {"VARSEL_DATABASE_URL": hub.settings.database_url, "COLUMNS": "400"}
    table = runner.invoke(app, ["incident", "obligations", str(iid), "--as", "lead"], env=env)
    assert table.exit_code == 0, table.output
    assert "LATE by 12 h 0 min" in table.output
    assert "Art. 19(3)" in table.output

    # The web page shows the same.
    with hub.session() as s:
        f.user(s, "lead2", "Pilvi Oy")
        s.commit()
    browser = TestClient(hub.app)
    sign_in(browser, "lead2")
    page = browser.get(f"/incidents/{iid}/obligations").text
    assert "row-late" in page and "LATE: submitted 12 h 0 min" in page


def test_future_submission_and_timeline_times_are_refused(hub: Hub, world: World) -> None:
    c, lead = world.client, world.as_("lead")
    iid = _open(world, BANK_DK, {"aware_at": "2026-06-01T08:00:00Z"})
    future = c.post(
        f"{API}/{iid}/reports/DK/initial-notification/submissions",
        json={"channel": "portal", "submitted_at": "2099-01-01T00:00:00Z"},
        headers=lead,
    )
    assert future.status_code == 400 and "in the future" in future.json()["detail"]
    entry = c.post(
        f"{API}/{iid}/timeline", json={"text": "x", "at": "2099-01-01T00:00:00Z"}, headers=lead
    )
    assert entry.status_code == 400 and "in the future" in entry.json()["detail"]
    workspace = c.get(f"{API}/{iid}", headers=lead).json()
    assert workspace["timeline"] == [] and workspace["submissions"] == []
    with hub.session() as s:
        f.user(s, "lead2", "Pilvi Oy")
        s.commit()
    browser = TestClient(hub.app)
    sign_in(browser, "lead2")
    page = f"/incidents/{iid}"
    r = post_form(browser, page, f"{page}/timeline", {"text": "x", "at": "2099-01-01T00:00Z"})
    assert r.status_code == 400 and "in the future" in r.text  # type: ignore[attr-defined]


def test_task_owners_take_part_and_overdue_tasks_stand_out(hub: Hub, world: World) -> None:
    c, lead = world.client, world.as_("lead")
    iid = _open(world, BANK_DK, {"aware_at": "2026-06-01T08:00:00Z"})
    outsider = c.post(
        f"{API}/{iid}/tasks", json={"title": "Review", "owner": "outsider"}, headers=lead
    )
    assert outsider.status_code == 400 and "does not take part" in outsider.json()["detail"]
    c.post(f"{API}/{iid}/participants", json={"role": "responder", "user": "partner"}, headers=lead)
    for body in (
        {"title": "Restore", "owner": "partner", "due_at": "2026-06-01T12:00:00Z"},
        {"title": "Later", "owner": "lead", "due_at": "2099-06-01T12:00:00Z"},
    ):
        assert c.post(f"{API}/{iid}/tasks", json=body, headers=lead).status_code == 201
    tasks = {t["title"]: t for t in c.get(f"{API}/{iid}", headers=lead).json()["tasks"]}
    assert tasks["Restore"]["overdue"] is True and tasks["Later"]["overdue"] is False
    with hub.session() as s:
        f.user(s, "lead2", "Pilvi Oy")
        s.commit()
    browser = TestClient(hub.app)
    sign_in(browser, "lead2")
    assert browser.get(f"/incidents/{iid}").text.count('data-overdue="yes"') == 1


def test_danish_bank_closing_days_move_a_deadline_like_swedish_ones(hub: Hub, world: World) -> None:
    # A payment institution (not exempt): 24 h after awareness lands on 5 June 2026, Danish
    # Constitution Day, a bank closing day though not a public holiday.
    payment = {**BANK_DK, "dora_entity_kind": "payment-institution"}
    iid = _open(world, payment, {"aware_at": "2026-06-04T06:00:00Z"})
    initial = _stage(_jurisdiction(world, iid, "DK"), "initial-notification")
    assert initial["nominal_deadline_utc"] == "2026-06-05T06:00:00Z"
    assert initial["deadline_utc"] == "2026-06-08T10:00:00Z"  # Monday 12:00 CEST
    assert initial["relief"] == "weekend or holiday: noon of the next working day"
    assert any(s["what"] == "bank closing days" for s in initial["sources"])
    # The Friday after Ascension (15 May 2026) is one too.
    iid2 = _open(world, payment, {"aware_at": "2026-05-14T06:00:00Z"})
    moved = _stage(_jurisdiction(world, iid2, "DK"), "initial-notification")
    assert moved["deadline_utc"] == "2026-05-18T10:00:00Z"

    runner = CliRunner()
    env = {"VARSEL_DATABASE_URL": hub.settings.database_url, "COLUMNS": "400"}
    table = runner.invoke(app, ["incident", "obligations", str(iid), "--as", "lead"], env=env)
    assert table.exit_code == 0, table.output
    assert "2026-06-05T06:00:00Z" in table.output  # the nominal deadline
    assert "noon of the next" in table.output and "Banklukkedage" in table.output


def test_nis2_recipients_duty_and_icelands_source(world: World) -> None:
    cloud = {"name": "Pilvi Oy", "established_in": ["FI"], "nis2_class": "essential"}
    iid = _open(world, cloud, {"detected_at": "2026-03-27T14:00:00Z"})
    notes = {n["what"]: n for n in _jurisdiction(world, iid, "FI")["notes"]}
    assert "Art. 23(1)" in notes["inform-recipients"]["source"]
    iceland = {"name": "Orka hf", "established_in": ["IS"], "nis1_scope": True}
    iid2 = _open(world, iceland, {"detected_at": "2026-03-27T14:00:00Z"})
    [notification] = _jurisdiction(world, iid2, "IS")["obligations"]
    sources = " ".join(s["source"] for s in notification["sources"])
    assert "866/2020" in sources and "Art. 25" in sources


def test_every_fact_name_is_documented_in_help_and_docs() -> None:
    result = CliRunner().invoke(
        app, ["incident", "facts", "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"}
    )
    assert result.exit_code == 0
    docs = (Path(__file__).resolve().parents[2] / "docs" / "reporting.md").read_text()
    for name in FACTS:
        assert name in result.output, name
        assert f"`{name}`" in docs, name
