"""The incidents REST API on both databases: workspace, policy, obligations, reports, clock."""

from __future__ import annotations

from typing import Any

from tests import factories as f
from tests.conftest import Hub
from tests.incidents.conftest import World
from varsel.audit import service as audit
from varsel.sharing import ingest
from varsel.sharing.envelope import split
from varsel.sharing.tlp import TLP

API = "/api/v1/incidents"
CLOUD = {
    "name": "Pilvi Oy",
    "established_in": ["FI"],
    "services_in": ["FI", "SE"],
    "nis2_class": "essential",
    "entity_type": "cloud",
}
FACTS = {
    "detected_at": "2026-03-27T16:00:00+02:00",
    "aware_at": "2026-03-27T17:00:00+02:00",
    "unavailable_minutes": 45,
    "users_affected": 2000000,
}


def _open(world: World, tlp: str = "amber", **extra: Any) -> int:
    body = {
        "title": "Ransomware at Pilvi",
        "summary": "Hypervisors encrypted",
        "tlp": tlp,
        "classification": 'rsit:malicious-code="infected-system"',
        **extra,
    }
    response = world.client.post(API, json=body, headers=world.as_("lead"))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_workspace_obligations_report_and_submission(hub: Hub, world: World) -> None:
    c, lead = world.client, world.as_("lead")
    iid = _open(world)
    assert (
        c.post(
            f"{API}/{iid}/participants",
            json={"role": "authority", "organisation": "CERT-SE"},
            headers=lead,
        ).status_code
        == 201
    )
    assert (
        c.post(
            f"{API}/{iid}/timeline",
            json={
                "text": "Isolated hypervisors",
                "kind": "mitigation",
                "at": "2026-03-27T15:00:00Z",
            },
            headers=lead,
        ).status_code
        == 201
    )
    assert (
        c.post(
            f"{API}/{iid}/tasks",
            json={"title": "Restore backups", "owner": "lead", "due_at": "2026-03-28T12:00:00Z"},
            headers=lead,
        ).status_code
        == 201
    )
    assert c.put(f"{API}/{iid}/entity", json=CLOUD, headers=lead).status_code == 200
    assert c.patch(f"{API}/{iid}/facts", json={"facts": FACTS}, headers=lead).status_code == 200

    body = c.get(f"{API}/{iid}/obligations", headers=world.as_("certse")).json()
    fi = next(j for j in body["jurisdictions"] if j["country"] == "FI")
    se = next(j for j in body["jurisdictions"] if j["country"] == "SE")
    assert fi["significance"]["outcome"] == "significant"
    ew = next(o for o in fi["obligations"] if o["stage"] == "early-warning")
    assert (ew["deadline_utc"], ew["deadline_local"]) == (
        "2026-03-28T14:00:00Z",
        "2026-03-28T16:00:00+02:00",
    )
    assert se["owed"] is False and se["obligations"] == []

    report = c.get(f"{API}/{iid}/reports/FI/early-warning", headers=lead).json()
    assert report["report"]["recipient"].startswith("NCSC-FI")
    assert report["changes"] == {"previous_stage": None, "note": "this is the first stage"}
    html = c.get(f"{API}/{iid}/reports/FI/early-warning?format=html", headers=lead)
    assert html.status_code == 200 and "@media print" in html.text
    assert "Early warning" in html.text and "TLP:AMBER" in html.text

    sent = c.post(
        f"{API}/{iid}/reports/FI/early-warning/submissions",
        json={
            "channel": "NCSC-FI web form",
            "reference": "FI-2026-17",
            "submitted_at": "2026-03-28T09:00:00Z",
        },
        headers=lead,
    )
    assert sent.status_code == 201, sent.text
    again = c.post(
        f"{API}/{iid}/reports/FI/early-warning/submissions",
        json={"channel": "e-mail"},
        headers=lead,
    )
    assert again.status_code == 409
    c.patch(
        f"{API}/{iid}/facts",
        json={"facts": {"suspected_malicious": True, "users_total": 20000000}},
        headers=lead,
    )
    notif = c.get(f"{API}/{iid}/reports/FI/incident-notification", headers=lead).json()
    changed = {row["fact"]: row for row in notif["changes"]["facts"]}
    assert changed["suspected_malicious"] == {
        "fact": "suspected_malicious",
        "before": None,
        "after": True,
    }
    assert notif["changes"]["previous_stage"] == "early-warning"
    content = {item["id"]: item for item in notif["content"]}
    assert content["early-warning-update"]["value"] == "Hypervisors encrypted"
    assert content["indicators"]["to_complete"] is True  # nothing linked yet
    with hub.session() as s:
        events = [e for e in audit.recent(session=s) if e.action == "incident.report.submit"]
    assert len(events) == 1 and '"channel": "NCSC-FI web form"' in events[0].details

    workspace = c.get(f"{API}/{iid}", headers=world.as_("certse")).json()
    assert [p["organisation"] for p in workspace["participants"]] == ["Pilvi Oy", "CERT-SE"]
    assert workspace["submissions"][0]["submitted_at"] == "2026-03-28T09:00:00Z"
    clock = c.get(f"{API}/clock", headers=world.as_("certse")).json()["reports"]
    assert {(r["incident"], r["stage"]) for r in clock} >= {(iid, "incident-notification")}
    assert all(r["stage"] != "early-warning" for r in clock)


def test_policy_tlp_and_write_rights(world: World) -> None:
    c = world.client
    amber = _open(world, tlp="amber")
    red = _open(world, tlp="red")
    clear = _open(world, tlp="clear")
    c.post(
        f"{API}/{red}/participants",
        json={"role": "observer", "user": "partner"},
        headers=world.as_("lead"),
    )
    seen = {
        u: {i["id"] for i in c.get(API, headers=world.as_(u)).json()}
        for u in ("lead", "partner", "outsider", "admin")
    }
    assert seen["lead"] == {amber, red, clear}
    assert seen["partner"] == {red, clear}  # named on the RED one only
    assert seen["outsider"] == {clear} and seen["admin"] == {clear}
    assert c.get(f"{API}/{amber}", headers=world.as_("outsider")).status_code == 404
    # Reading does not grant writing; the lead and hub-admins write.
    assert (
        c.patch(
            f"{API}/{red}", json={"status": "contained"}, headers=world.as_("partner")
        ).status_code
        == 403
    )
    assert (
        c.patch(
            f"{API}/{amber}", json={"status": "contained"}, headers=world.as_("outsider")
        ).status_code
        == 404
    )
    # A hub-admin may change it, but is not told what it may not read (issue 12, item 2).
    blind = c.patch(f"{API}/{amber}", json={"severity": "critical"}, headers=world.as_("admin"))
    assert blind.status_code == 204 and blind.content == b""
    # Only the CLEAR incident, whose missing entity profile keeps it on the clock (item 18).
    rows = c.get(f"{API}/clock", headers=world.as_("outsider")).json()["reports"]
    assert [(r["incident"], r["stage"]) for r in rows] == [(clear, "entity-profile")]


def test_linked_objects_follow_the_object_policy(hub: Hub, world: World) -> None:
    with hub.session() as s:
        f.community(s, "Nordic cloud", ["Pilvi Oy", "Svea Moln AB"])
        coll = f.collection(s, "Cloud IoCs", "Nordic cloud")
        red = f.indicator(tlp=TLP.RED, value="203.0.113.9")
        amber = f.indicator(tlp=TLP.AMBER, value="203.0.113.10")
        ingest.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, "lead"),
            body=split(f.envelope(red, amber)),
            recipients=["Pilvi Oy"],
        )
        s.commit()
        coll_id = coll.id
    iid = _open(world, tlp="clear")
    for obj in (red, amber):
        r = world.client.post(
            f"{API}/{iid}/links",
            json={"stix_id": obj["id"], "collection": coll_id},
            headers=world.as_("lead"),
        )
        assert r.status_code == 201, r.text
    links = {
        u: [
            link["stix_id"]
            for link in world.client.get(f"{API}/{iid}", headers=world.as_(u)).json()["links"]
        ]
        for u in ("lead", "partner", "outsider")
    }
    assert links["lead"] == [red["id"], amber["id"]]
    assert links["partner"] == [amber["id"]]  # TLP:RED was for Pilvi only
    assert links["outsider"] == []  # not in the community


def test_bad_input_is_a_precise_400(world: World) -> None:
    c, lead = world.client, world.as_("lead")
    bad = c.post(API, json={"title": "x", "classification": "rsit:nonsense"}, headers=lead)
    assert bad.status_code == 400 and "RSIT" in bad.json()["detail"]
    iid = _open(world)
    cases = [
        ({"facts": {"users_affected": -3}}, "non-negative"),
        ({"facts": {"aware_at": "2026-03-27T10:00:00"}}, "UTC offset"),
        ({"facts": {"no_such_fact": 1}}, "unknown fact"),
        (
            {"facts": {"detected_at": "2026-03-27T10:00:00Z", "aware_at": "2026-03-27T09:00:00Z"}},
            "before detected_at",
        ),
    ]
    for body, words in cases:
        r = c.patch(f"{API}/{iid}/facts", json=body, headers=lead)
        assert r.status_code == 400 and words in r.json()["detail"], r.text
    assert c.get(f"{API}/{iid}", headers=lead).json()["facts"] == {}  # nothing half-written
    far = c.patch(
        f"{API}/{iid}/facts", json={"facts": {"aware_at": "9999-12-31T23:00:00Z"}}, headers=lead
    )
    assert far.status_code == 400 and "2200" in far.json()["detail"]
    assert c.get(f"{API}/99999999999", headers=lead).status_code == 400
    assert (
        c.post(
            API, json={"title": "x", "notify_emails": ["a" * 300 + "@x.org"]}, headers=lead
        ).status_code
        == 400
    )
    r = c.get(f"{API}/{iid}/obligations", headers=lead)
    assert r.status_code == 400 and "entity profile" in r.json()["detail"]
    c.put(f"{API}/{iid}/entity", json=CLOUD, headers=lead)
    r = c.get(f"{API}/{iid}/reports/SE/early-warning", headers=lead)
    assert r.status_code == 404 and "no reports are owed in SE" in r.json()["detail"]
    assert (
        c.put(
            f"{API}/{iid}/entity", json={**CLOUD, "entity_type": "spaceship"}, headers=lead
        ).status_code
        == 400
    )
    assert c.get(f"{API}/taxonomy", headers=lead).json()["choices"][0]["tag"].startswith("rsit:")


def test_not_significant_is_explained_criterion_by_criterion(world: World) -> None:
    c, lead = world.client, world.as_("lead")
    iid = _open(world)
    c.put(f"{API}/{iid}/entity", json={**CLOUD, "services_in": ["FI"]}, headers=lead)
    facts = {
        "detected_at": "2026-03-27T16:00:00+02:00",
        "unavailable_minutes": 20,
        "degraded_minutes": 0,
        "financial_loss_eur": 0,  # turnover unknown: zero is below any share of it
        "users_affected": 0,  # total unknown: likewise
        **dict.fromkeys(
            [
                "trade_secrets_exfiltrated",
                "death",
                "health_damage",
                "malicious_access_severe",
                "recurring",
                "scheduled_maintenance",
                "data_compromised",
            ],
            False,
        ),
    }
    assert c.patch(f"{API}/{iid}/facts", json={"facts": facts}, headers=lead).status_code == 200
    fi = c.get(f"{API}/{iid}/obligations", headers=lead).json()["jurisdictions"][0]
    assert fi["significance"]["outcome"] == "not-significant", fi["significance"]
    assert fi["owed"] is False and fi["obligations"] == []
    assert "Art. 7(a): full unavailability (minutes): 20 ≤ 30" in fi["reason"]
