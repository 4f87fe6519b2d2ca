"""Incident pages over TestClient: list, workspace, obligations, reports, the clock, CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, csrf_of, post_form, shot, sign_in
from varsel.audit.models import AuditEvent
from varsel.incidents import flows, service
from varsel.incidents.models import ReportSubmission, TimelineEntry
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.tlp import TLP
from varsel.web.incidents import local_text, parse_when

# The worked scenario of tests/reporting/test_scenarios.py: a cloud provider established in
# Finland serving Finland and Sweden, fully down 45 minutes for 2 million users, detected
# Friday 27 March 2026 16:00 Helsinki time (EET). Finland counts from detection.
CLOUD_FI = {
    "name": "Pilvi Oy",
    "established_in": "FI",
    "services_in": "FI SE",
    "nis2_class": "essential",
    "entity_type": "cloud",
}
FACTS_FI = {
    "detected_at": "2026-03-27T16:00+02:00",
    "aware_at": "2026-03-27T17:00+02:00",
    "unavailable_minutes": "45",
    "users_affected": "2000000",
}


def _actions(hub: Hub) -> list[str]:
    with hub.session() as s:
        return list(s.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def _open(client: TestClient, title: str, tlp: str = "amber") -> int:
    response = post_form(
        client,
        "/incidents",
        "/incidents",
        {
            "title": title,
            "summary": "Hypervisors encrypted",
            "severity": "high",
            "tlp": tlp,
            "classification": 'rsit:malicious-code="infected-system"',
        },
    )
    assert response.status_code == 303, response.text  # type: ignore[attr-defined]
    match = re.fullmatch(r"/incidents/(\d+)\?notice=incident_created", response.headers["location"])  # type: ignore[attr-defined]
    assert match
    return int(match.group(1))


def _ok(response: object, anchor: str = "") -> None:
    assert response.status_code == 303, response.text  # type: ignore[attr-defined]
    assert response.headers["location"].endswith(anchor)  # type: ignore[attr-defined]


def _lead(hub: Hub, client: TestClient, facts: dict[str, str]) -> int:
    """Sign alice in, open an AMBER incident led by Fjordnett with the cloud profile and facts."""
    sign_in(client, "alice")
    iid = _open(client, "Ransomware at Pilvi")
    page = f"/incidents/{iid}"
    _ok(post_form(client, page, f"{page}/entity", CLOUD_FI), "#entity")
    _ok(post_form(client, page, f"{page}/facts", facts), "#facts")
    return iid


def test_workspace_forms_are_the_leads_and_reads_follow_the_policy(hub: Hub, world: World) -> None:
    with hub.session() as s:
        coll = sharing.get_collection(session=s, collection_id=world.collection_id)
        amber = f.indicator(tlp=TLP.AMBER, value="203.0.113.5")
        red = f.indicator(tlp=TLP.RED, value="203.0.113.6", recipients=["Fjordnett"])
        ingesting.ingest(
            session=s, collection=coll, principal=f.principal(s, "alice"), body=f.envelope(amber)
        )
        ingesting.ingest(
            session=s, collection=coll, principal=f.principal(s, "alice"), body=f.envelope(red)
        )
        s.commit()
    with TestClient(hub.app) as alice:
        iid = _lead(hub, alice, FACTS_FI)
        page = f"/incidents/{iid}"
        _ok(
            post_form(
                alice,
                page,
                f"{page}/participants",
                {"op": "add", "org": "Svea", "role": "responder"},
            ),
            "#people",
        )
        entry = {"text": "Isolated the hypervisors", "kind": "mitigation", "at": "2026-03-27T15:00"}
        _ok(post_form(alice, page, f"{page}/timeline", entry), "#timeline")
        task = {"title": "Restore from backups", "owner": "alice", "due_at": "2026-03-28T12:00"}
        _ok(post_form(alice, page, f"{page}/tasks", task), "#tasks")
        # The collection may be named; without it the object's own (newest readable) is taken.
        link = {"stix_id": amber["id"], "collection": world.collection_id, "note": "C2"}
        _ok(post_form(alice, page, f"{page}/links", link), "#objects")
        _ok(
            post_form(alice, page, f"{page}/links", {"stix_id": red["id"], "note": "C2"}),
            "#objects",
        )
        unknown = {"stix_id": "indicator--00000000-0000-4000-8000-000000000000"}
        missing = post_form(alice, page, f"{page}/links", unknown)
        assert missing.status_code == 404 and "that you may read" in missing.text  # type: ignore[attr-defined]
        # A mistake is shown on the page with the right status, and nothing is written.
        bad = post_form(
            alice, page, f"{page}/participants", {"op": "add", "org": "Svea", "role": "responder"}
        )
        assert bad.status_code == 409 and "already takes part" in bad.text  # type: ignore[attr-defined]

        _ok(post_form(alice, page, page, {"status": "contained", "severity": "critical"}))
        with hub.session() as s:
            task_id = service.tasks(session=s, incident_id=iid)[0]["id"]
        _ok(post_form(alice, page, f"{page}/tasks", {"task_id": task_id, "done": "yes"}), "#tasks")
        nobody = post_form(
            alice, page, f"{page}/participants", {"op": "remove", "participant_id": "x"}
        )
        assert nobody.status_code == 400  # type: ignore[attr-defined]

        html = alice.get(page).text
        assert "Contained" in html and 'class="done"' in html and "Open again" in html
        for text in (
            "Ransomware at Pilvi",
            "TLP:AMBER",
            "Malicious code: Infected System",
            "Svea",
            "Responder",
            "2026-03-27 15:00 UTC",
            "Isolated the hypervisors",
            "Restore from backups",
            "2026-03-28 12:00 UTC",
            "Pilvi Oy",
            "45",
            f'href="/objects/{amber["id"]}"',
            f'href="/objects/{red["id"]}"',
            f'action="/incidents/{iid}/participants"',
        ):
            assert text in html, text
        listing = alice.get("/incidents").text
        assert f'data-incident="{iid}"' in listing and "FI SE" in listing and "Fjordnett" in listing

    with TestClient(hub.app) as bob:
        sign_in(bob, "bob")
        html = bob.get(f"/incidents/{iid}").text
        # bob takes part: he reads the workspace, sees the AMBER object but not the RED one
        # addressed to Fjordnett only, and is offered no forms to change the incident.
        assert "Isolated the hypervisors" in html
        assert f'href="/objects/{amber["id"]}"' in html
        assert red["id"] not in html
        assert f'action="/incidents/{iid}/participants"' not in html
        refused = post_form(bob, f"/incidents/{iid}", f"/incidents/{iid}/timeline", {"text": "x"})
        assert refused.status_code == 403  # type: ignore[attr-defined]

    with TestClient(hub.app) as carol:
        sign_in(carol, "carol")
        assert carol.get(f"/incidents/{iid}").status_code == 404
        assert carol.get(f"/incidents/{iid}/obligations").status_code == 404
        assert carol.get(f"/incidents/{iid}/reports/FI/early-warning").status_code == 404
        assert "Ransomware at Pilvi" not in carol.get("/incidents").text
        assert "Ransomware at Pilvi" not in carol.get("/clock").text
        assert (
            post_form(carol, "/incidents", f"/incidents/{iid}/timeline", {"text": "x"}).status_code
            == 404
        )  # type: ignore[attr-defined]

    with hub.session() as s:
        texts = list(s.execute(select(TimelineEntry.text)).scalars())
    assert texts == ["Isolated the hypervisors"]
    assert {"incident.create", "incident.participant.add", "incident.link"} <= set(_actions(hub))


def test_obligations_show_the_worked_scenario_and_record_a_submission(
    hub: Hub, world: World
) -> None:
    with TestClient(hub.app) as alice:
        iid = _lead(hub, alice, FACTS_FI)
        page = f"/incidents/{iid}/obligations"
        html = alice.get(page).text
        fi = html[html.index('id="FI"') : html.index('id="SE"')]
        se = html[html.index('id="SE"') :]
        # Early warning 24 h after detection; notification 72 h later, across the switch to
        # summer time (17:00 EEST); final report one month after the notification's deadline.
        for text in (
            "NCSC-FI",
            "2026-03-28 14:00 UTC",
            "2026-03-28 16:00 EET",
            "2026-03-30 14:00 UTC",
            "2026-03-30 17:00 EEST",
            "2026-04-30 14:00 UTC",
            "full unavailability (minutes): 45 &gt; 30",
            "significant",
            'class="status status-overdue"',  # these March deadlines are past
            f"/incidents/{iid}/reports/FI/early-warning?format=html",
        ):
            assert text in fi, text
        assert "No reports owed" in se and "main establishment (FI)" in se

        report = alice.get(f"/incidents/{iid}/reports/FI/early-warning?format=html")
        assert report.status_code == 200 and "2026-03-28T14:00:00Z" in report.text
        assert "'sha256-" in report.headers["content-security-policy"]
        assert "script-src" not in report.headers["content-security-policy"]
        as_json = alice.get(f"/incidents/{iid}/reports/FI/early-warning?format=json").json()
        assert as_json["report"]["deadline_utc"] == "2026-03-28T14:00:00Z"

        form = {
            "channel": "web form",
            "reference": "NCSC-FI 2026-114",
            "submitted_at": "2026-03-28T10:30",
        }
        _ok(
            post_form(alice, page, f"/incidents/{iid}/reports/FI/early-warning/submissions", form),
            "#FI",
        )
        again = post_form(
            alice, page, f"/incidents/{iid}/reports/FI/early-warning/submissions", form
        )
        assert again.status_code == 409  # type: ignore[attr-defined]
        html = alice.get(page).text
        row = html[html.index('data-stage="early-warning"') :]
        row = row[: row.index("</tr>")]
        assert (
            "status-submitted" in row
            and "2026-03-28 10:30 UTC" in row
            and "NCSC-FI 2026-114" in row
        )

    with hub.session() as s:
        sub = s.execute(select(ReportSubmission)).scalar_one()
        assert (sub.country, sub.stage, sub.channel) == ("FI", "early-warning", "web form")
        event = s.execute(
            select(AuditEvent).where(AuditEvent.action == "incident.report.submit")
        ).scalar_one()
        assert event.actor.startswith("alice") and event.target == str(iid)


def test_clock_undetermined_significance_and_csrf(hub: Hub, world: World) -> None:
    detected = datetime.now(UTC) - timedelta(hours=1)
    # The share of users is unknown: the reports are owed only if the incident is significant,
    # and the page names the facts that would decide it.
    facts = {"detected_at": detected.strftime("%Y-%m-%dT%H:%MZ")}
    with TestClient(hub.app) as alice:
        iid = _lead(hub, alice, facts)
        html = alice.get(f"/incidents/{iid}/obligations").text
        assert "Owed if significant" in html and "undetermined" in html
        assert "Facts needed to decide" in html and "is unknown" in html
        assert 'class="status status-due"' in html

        clock = alice.get("/clock").text
        deadline = (detected.replace(second=0, microsecond=0) + timedelta(hours=24)).strftime(
            "%Y-%m-%d %H:%M UTC"
        )
        assert f'data-incident="{iid}"' in clock and deadline in clock
        assert "Ransomware at Pilvi" in clock and "<svg" in clock and "<circle" in clock
        assert f'href="/incidents/{iid}/obligations#FI"' in clock

        # No token, a wrong token, another site: refused, and nothing is written.
        path = f"/incidents/{iid}/timeline"
        assert alice.post(path, data={"text": "forged"}).status_code == 403
        assert alice.post(path, data={"text": "forged", "csrf": "x" * 64}).status_code == 403
        token = csrf_of(alice.get(f"/incidents/{iid}").text)
        cross = alice.post(
            path, data={"text": "forged", "csrf": token}, headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403
        assert alice.post("/incidents", data={"title": "forged"}).status_code == 403

        # Bad input gets a precise answer, never a 500.
        page = f"/incidents/{iid}"
        bad = post_form(alice, page, f"{page}/facts", {"unavailable_minutes": "lots"})
        assert bad.status_code == 400 and "must be a number" in bad.text  # type: ignore[attr-defined]
        bad = post_form(alice, page, f"{page}/timeline", {"text": "x", "at": "tomorrow"})
        assert bad.status_code == 400 and "is not a time" in bad.text  # type: ignore[attr-defined]
        assert alice.get(f"{page}/reports/FI/no-such-stage").status_code == 404
        assert alice.get(f"{page}/reports/FI/early-warning?format=pdf").status_code == 400
        assert alice.get("/incidents/abc").status_code == 400
        assert alice.get("/incidents/99999999999").status_code == 400
        bare = _open(alice, "No profile yet")
        empty = alice.get(f"/incidents/{bare}/obligations")
        assert empty.status_code == 200 and 'id="no-profile"' in empty.text
    with hub.session() as s:
        assert service.timeline(session=s, incident_id=iid) == []
        titles = service.list_incidents(session=s, principal=f.principal(s, "root"))
        assert sorted(i.title for i in titles) == ["No profile yet", "Ransomware at Pilvi"]
    with TestClient(hub.app) as carol:
        sign_in(carol, "carol")
        page = carol.get("/clock")
        assert page.status_code == 200 and f'data-incident="{iid}"' not in page.text
        assert 'id="no-deadlines"' in page.text


def test_time_fields_are_utc_unless_they_carry_an_offset() -> None:
    assert parse_when("", "x") is None
    assert parse_when("2026-03-27T14:00", "x") == datetime(2026, 3, 27, 14, tzinfo=UTC)
    assert parse_when("2026-03-27T16:00+02:00", "x") == datetime(2026, 3, 27, 14, tzinfo=UTC)
    assert local_text(datetime(2026, 3, 30, 14, tzinfo=UTC), "Europe/Helsinki") == (
        "2026-03-30 17:00 EEST"
    )


def _browser_world(hub: Hub, world: World) -> tuple[int, int]:
    """Open three incidents led by Fjordnett: significant, undetermined, and a DORA bank."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with hub.session() as s:
        alice = f.principal(s, "alice")
        coll = sharing.get_collection(session=s, collection_id=world.collection_id)
        c2 = f.indicator(tlp=TLP.AMBER, value="203.0.113.5", name="Ransomware C2 203.0.113.5")
        ingesting.ingest(session=s, collection=coll, principal=alice, body=f.envelope(c2))
        main = service.create(
            session=s,
            principal=alice,
            title="Ransomware at Pilvi",
            summary="Hypervisors in the Helsinki region encrypted; customer VMs down.",
            severity="critical",
            classification='rsit:malicious-code="infected-system"',
        )
        service.add_participant(
            session=s, principal=alice, incident_id=main.id, role="responder", org="Svea"
        )
        service.add_participant(
            session=s, principal=alice, incident_id=main.id, role="observer", username="bob"
        )
        for hours, kind, text in (
            (20, "finding", "Monitoring shows all hypervisors unreachable"),
            (19, "action", "Incident bridge opened with Svea"),
            (18, "mitigation", "Isolated the management network"),
        ):
            service.add_entry(
                session=s,
                principal=alice,
                incident_id=main.id,
                text=text,
                kind=kind,
                at=now - timedelta(hours=hours),
            )
        service.add_task(
            session=s,
            principal=alice,
            incident_id=main.id,
            title="Restore from offline backups",
            owner="alice",
            due_at=now + timedelta(hours=6),
        )
        flows.link_object(
            session=s,
            principal=alice,
            incident_id=main.id,
            stix_id=c2["id"],
            collection_id=coll.id,
            note="beacon seen on the hypervisors",
        )
        service.set_profile(
            session=s,
            principal=alice,
            incident_id=main.id,
            name="Pilvi Oy",
            established_in=["FI"],
            services_in=["FI", "SE"],
            nis2_class="essential",
            entity_type="cloud",
        )
        service.set_facts(
            session=s,
            principal=alice,
            incident_id=main.id,
            values={
                "detected_at": now - timedelta(hours=20),
                "aware_at": now - timedelta(hours=19),
                "unavailable_minutes": 45,
                "users_affected": 2_000_000,
            },
        )
        unsure = service.create(
            session=s, principal=alice, title="DDoS on the Stockholm edge", severity="medium"
        )
        service.set_profile(
            session=s,
            principal=alice,
            incident_id=unsure.id,
            name="Fjordnett AS",
            established_in=["SE"],
            nis2_class="important",
            entity_type="cdn",
        )
        service.set_facts(
            session=s,
            principal=alice,
            incident_id=unsure.id,
            values={
                "detected_at": now - timedelta(hours=30),
                "aware_at": now - timedelta(hours=10),
            },
        )
        bank = service.create(session=s, principal=alice, title="Payment outage at Dansk Bank")
        service.set_profile(
            session=s,
            principal=alice,
            incident_id=bank.id,
            name="Dansk Bank A/S",
            established_in=["DK"],
            dora_financial=True,
            dora_entity_kind="credit-institution",
        )
        service.set_facts(
            session=s,
            principal=alice,
            incident_id=bank.id,
            values={
                "detected_at": now - timedelta(hours=9),
                "aware_at": now - timedelta(hours=8),
                "classified_major_at": now - timedelta(hours=5),
            },
        )
        s.commit()
        return main.id, bank.id


@pytest.mark.browser
def test_incident_pages_in_a_real_browser(
    hub: Hub, world: World, live: str, request: pytest.FixtureRequest
) -> None:
    browser: Any = request.getfixturevalue("chromium")
    main, bank = _browser_world(hub, world)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    try:
        page.goto(f"{live}/login")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(f.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live}/")
        page.get_by_role("link", name="Incidents").click()
        page.wait_for_url(f"{live}/incidents")
        assert page.locator("tr[data-incident]").count() == 3
        shot(page, "incidents", hub.backend)
        page.goto(f"{live}/incidents/{main}")
        page.get_by_label("What happened or was done").fill("Restored the first hypervisor")
        page.get_by_role("button", name="Add to timeline").click()
        page.wait_for_load_state()
        assert "Restored the first hypervisor" in page.locator("#timeline").inner_text()
        shot(page, "incident", hub.backend)
        page.goto(f"{live}/incidents/{main}/obligations")
        assert page.locator("#FI tr[data-stage]").count() >= 3
        shot(page, "obligations", hub.backend)
        page.goto(f"{live}/incidents/{bank}/obligations")
        assert page.locator(".flag-unverified").count() > 0
        shot(page, "obligations-dora", hub.backend)
        page.goto(f"{live}/clock")
        assert page.locator("#clock tr.row-overdue").count() > 0
        shot(page, "clock", hub.backend)
        page.goto(f"{live}/incidents/{main}/reports/FI/early-warning?format=html")
        assert "Early warning" in page.locator("h1").inner_text()
        shot(page, "report", hub.backend)
    finally:
        context.close()
