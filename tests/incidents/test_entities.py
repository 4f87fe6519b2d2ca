"""One incident, several affected entities: each with its own profile, facts and reports.

A group incident hits the FI, SE and DK subsidiaries of one energy group. Detected Monday
2 March 2026 08:00 UTC, known 10:00 UTC; the Danish subsidiary learned of it at 12:00 UTC.
Finland counts from detection, Sweden and Denmark from awareness (24 h each):
FI early warning 3 March 08:00Z, SE 3 March 10:00Z, DK 3 March 12:00Z.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests import factories as f
from tests.conftest import Hub
from tests.incidents.conftest import World
from tests.web.conftest import post_form, sign_in
from varsel.cli import app

API = "/api/v1/incidents"
ENERGY = {"nis2_class": "essential"}
SHARED = {
    "detected_at": "2026-03-02T08:00:00Z",
    "aware_at": "2026-03-02T10:00:00Z",
    "severe_operational_disruption": True,
}


def _early_warnings(body: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (j["entity"], j["country"]): o["deadline_utc"]
        for j in body["jurisdictions"]
        for o in j["obligations"]
        if o["stage"] == "early-warning"
    }


def test_a_group_incident_lists_every_entitys_reports(hub: Hub, world: World) -> None:
    c, lead = world.client, world.as_("lead")
    iid = int(c.post(API, json={"title": "Grid outage"}, headers=lead).json()["id"])
    # The single-entity form still sets the first entity.
    first = {"name": "Grid Oy", "established_in": ["FI"], **ENERGY}
    assert c.put(f"{API}/{iid}/entity", json=first, headers=lead).status_code == 200
    for key, name, cc in (("se", "Grid AB", "SE"), ("dk", "Grid A/S", "DK")):
        body = {"name": name, "established_in": [cc], **ENERGY}
        r = c.put(f"{API}/{iid}/entities/{key}", json=body, headers=lead)
        assert r.status_code == 200 and r.json() == {"key": key, "name": name}
    # Shared facts once; Denmark's own awareness time only for Denmark.
    assert c.patch(f"{API}/{iid}/facts", json={"facts": SHARED}, headers=lead).is_success
    own = {"facts": {"aware_at": "2026-03-02T12:00:00Z"}, "entity": "dk"}
    assert c.patch(f"{API}/{iid}/facts", json=own, headers=lead).is_success

    body = c.get(f"{API}/{iid}/obligations", headers=lead).json()
    assert _early_warnings(body) == {
        ("", "FI"): "2026-03-03T08:00:00Z",
        ("se", "SE"): "2026-03-03T10:00:00Z",
        ("dk", "DK"): "2026-03-03T12:00:00Z",
    }
    names = {j["entity"]: j["entity_name"] for j in body["jurisdictions"]}
    assert names == {"": "Grid Oy", "se": "Grid AB", "dk": "Grid A/S"}
    workspace = c.get(f"{API}/{iid}", headers=lead).json()
    assert [e["key"] for e in workspace["entities"]] == ["dk", "se"]
    dk = next(e for e in workspace["entities"] if e["key"] == "dk")
    assert dk["facts"] == {"aware_at": "2026-03-02T12:00:00Z"}  # only what differs

    # The clock lists every entity's reports (these deadlines are long past: overdue).
    clock = c.get(f"{API}/clock", headers=lead).json()["reports"]
    seen = {(r["entity"], r["country"], r["stage"]) for r in clock if r["incident"] == iid}
    assert {("", "FI", "early-warning"), ("se", "SE", "early-warning")} <= seen
    assert ("dk", "DK", "early-warning") in seen

    # A report and a submission are per entity; the same stage of another entity stays owed.
    report = c.get(f"{API}/{iid}/reports/DK/early-warning?entity=dk", headers=lead).json()
    assert report["report"]["recipient"].startswith("virk.dk")
    sent = c.post(
        f"{API}/{iid}/reports/SE/early-warning/submissions",
        json={"channel": "CERT-SE form", "submitted_at": "2026-03-03T09:00:00Z", "entity": "se"},
        headers=lead,
    )
    assert sent.status_code == 201 and sent.json()["entity"] == "se", sent.text
    after = c.get(f"{API}/{iid}/obligations", headers=lead).json()
    statuses = {
        (j["entity"], o["stage"]): o["status"]
        for j in after["jurisdictions"]
        for o in j["obligations"]
    }
    assert statuses[("se", "early-warning")] == "submitted"
    assert statuses[("dk", "early-warning")] == "overdue"
    assert statuses[("", "early-warning")] == "overdue"
    # The first entity's report is still found without an entity (the old form).
    assert c.get(f"{API}/{iid}/reports/FI/early-warning", headers=lead).status_code == 200


def test_bad_entity_keys_and_unknown_entities_are_clear_errors(world: World) -> None:
    c, lead = world.client, world.as_("lead")
    iid = int(c.post(API, json={"title": "x"}, headers=lead).json()["id"])
    body = {"name": "Grid AB", "established_in": ["SE"]}
    bad = c.put(f"{API}/{iid}/entities/Not%20OK", json=body, headers=lead)
    assert bad.status_code == 400 and "entity key" in bad.json()["detail"]
    missing = c.patch(f"{API}/{iid}/facts", json={"facts": {}, "entity": "nope"}, headers=lead)
    assert missing.status_code == 404 and "no affected entity" in missing.json()["detail"]
    assert c.put(f"{API}/{iid}/entities/se", json=body, headers=lead).status_code == 200
    assert c.delete(f"{API}/{iid}/entities/se", headers=lead).status_code == 204
    assert c.get(f"{API}/{iid}", headers=lead).json()["entities"] == []
    # Outsiders cannot add entities to an incident they may not read.
    assert (
        c.put(f"{API}/{iid}/entities/se", json=body, headers=world.as_("outsider")).status_code
        == 404
    )


def test_the_cli_and_the_web_handle_several_entities(hub: Hub, world: World) -> None:
    runner = CliRunner()
    env = {"VARSEL_DATABASE_URL": hub.settings.database_url, "COLUMNS": "300"}

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, (args, result.output)
        return result.output

    iid = run("incident", "new", "--as", "lead", "--title", "Campaign").strip()
    run("incident", "entity", iid, "--as", "lead", "--name", "Nordbank Oyj",
        "--established-in", "FI", "--dora", "--dora-kind", "credit-institution")  # fmt: skip
    run("incident", "entity", iid, "--as", "lead", "--key", "cloud", "--name", "Pilvi Oy",
        "--established-in", "FI", "--nis2-class", "essential",
        "--entity-type", "cloud")  # fmt: skip
    run("incident", "facts", iid, "--as", "lead", "--set", "aware_at=2026-03-02T10:00:00Z",
        "--set", "classified_major_at=2026-03-02T11:00:00Z")  # fmt: skip
    run("incident", "facts", iid, "--as", "lead", "--entity", "cloud",
        "--set", "detected_at=2026-03-02T09:00:00Z", "--set", "unavailable_minutes=45")  # fmt: skip
    data = json.loads(run("incident", "obligations", iid, "--as", "lead", "--json"))
    stages = {(r["entity"], r["instrument"], o["stage"]) for r in data for o in r["obligations"]}
    assert ("", "dora", "initial-notification") in stages
    assert ("cloud", "FI", "early-warning") in stages
    table = run("incident", "obligations", iid, "--as", "lead")
    assert "Nordbank Oyj" in table and "Pilvi Oy (cloud)" in table
    run("incident", "submit", iid, "--as", "lead", "--stage", "early-warning", "--country", "FI",
        "--channel", "web form", "--entity", "cloud", "--at", "2026-03-02T20:00:00Z")  # fmt: skip
    assert "Pilvi Oy" in run("incident", "clock", "--as", "lead")

    # The web: the workspace lists both entities; a further one is added and given facts.
    with hub.session() as s:
        f.user(s, "lead2", "Pilvi Oy")
        s.commit()
    browser = TestClient(hub.app)
    sign_in(browser, "lead2")
    page = f"/incidents/{iid}"
    html = browser.get(page).text
    assert 'data-entity=""' in html and 'data-entity="cloud"' in html
    added = post_form(
        browser,
        page,
        f"{page}/entity",
        {"key": "se", "name": "Pilvi AB", "established_in": "SE", "nis2_class": "essential"},
    )
    assert added.status_code == 303  # type: ignore[attr-defined]
    assert "entity=se" in added.headers["location"]  # type: ignore[attr-defined]
    own = post_form(
        browser,
        f"{page}?entity=se",
        f"{page}/facts",
        {"entity": "se", "aware_at": "2026-03-02T10:30Z", "severe_operational_disruption": "yes"},
    )
    assert own.status_code == 303, own.text  # type: ignore[attr-defined]
    obligations = browser.get(f"{page}/obligations").text
    assert re.search(r'id="se-SE"[^>]*data-entity="se"', obligations)
    assert "Pilvi AB · SE" in obligations
    clock = browser.get("/clock").text
    assert 'data-entity="se"' in clock and "Pilvi AB" in clock
    removed = post_form(browser, page, f"{page}/entity", {"op": "remove", "key": "se"})
    assert removed.status_code == 303  # type: ignore[attr-defined]
    assert 'data-entity="se"' not in browser.get(page).text


def test_reminders_go_out_once_for_each_entitys_deadline(hub: Hub) -> None:
    from tests.incidents.servers import smtp_server
    from varsel.config import SmtpSettings
    from varsel.incidents import flows, service
    from varsel.reporting.facts import parse_time
    from varsel.reporting.notify import NotifySettings

    with hub.session() as s:
        f.org(s, "Grid Oy", country="FI")
        f.user(s, "ops", "Grid Oy", password=None)
        me = f.principal(s, "ops")
        incident = service.create(
            session=s, principal=me, title="Grid outage", notify_emails=["soc@grid.example"]
        )
        common: dict[str, Any] = {"session": s, "principal": me, "incident_id": incident.id}
        service.set_profile(**common, name="Grid Oy", established_in=["FI"], nis2_class="essential")
        service.set_entity(
            **common, key="se", name="Grid AB", established_in=["SE"], nis2_class="essential"
        )
        service.set_facts(session=s, principal=me, incident_id=incident.id, values=SHARED)
        s.commit()
    with smtp_server() as (mailbox, port):
        for _ in range(2):  # the second run sends nothing new
            with hub.session() as s:
                flows.notify_due(
                    session=s,
                    settings=NotifySettings(smtp=SmtpSettings(host="127.0.0.1", port=port)),
                    now=parse_time("2026-03-03T07:00:00Z", "t"),
                )
    subjects = sorted(m["Subject"] for m in mailbox.messages)
    assert len(subjects) == 2, subjects
    assert any("to FI is due" in s for s in subjects)
    assert any("to SE (entity se) is due" in s for s in subjects)
    assert all("Grid AB" not in m.as_string() for m in mailbox.messages)  # no names sent
