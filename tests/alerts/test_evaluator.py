"""The evaluator: each kind of alert fires once, for the right users, and only for readers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from tests import factories as f
from tests.alerts.conftest import World
from tests.conftest import Hub
from tests.incidents.servers import smtp_server, webhook_server
from varsel.alerts import flows
from varsel.alerts import service as alerts
from varsel.alerts.models import Notification
from varsel.alerts.service import NewNotification
from varsel.alerts.worker import AlertsWorker
from varsel.audit.models import AuditEvent
from varsel.clearances import service as register
from varsel.clock import utcnow
from varsel.config import Settings, SmtpSettings
from varsel.db import make_sessionmaker
from varsel.federation.models import Peer, PeerLink, TrustedHub
from varsel.incidents import service as incidents
from varsel.orgs.models import User
from varsel.reporting.facts import parse_time
from varsel.reporting.notify import NotifySettings, verify, webhook_hosts
from varsel.sharing.tlp import TLP

SECRET = "alert-webhook-secret"


def _alerts(hub: Hub) -> dict[str, list[tuple[str, dict[str, object]]]]:
    """Return each user's notifications as (kind, params)."""
    with hub.session() as s:
        names = dict(s.execute(select(User.id, User.username)).all())
        found: dict[str, list[tuple[str, dict[str, object]]]] = {}
        for row in s.execute(select(Notification).order_by(Notification.id)).scalars():
            found.setdefault(names[row.user_id], []).append((row.kind, json.loads(row.params)))
        return found


def _evaluate(hub: Hub, now: datetime | None = None) -> flows.Evaluation:
    with hub.session() as s:
        return flows.evaluate(session=s, now=now)


def _watch(hub: Hub, username: str, value: str) -> None:
    with hub.session() as s:
        alerts.add_watch(session=s, principal=f.principal(s, username), text=value)
        s.commit()


def test_red_object_alerts_its_named_recipients_once(world: World) -> None:
    hub = world.hub
    red = f.indicator(tlp=TLP.RED, recipients=["Fjordnett"], value="192.0.2.66")
    world.share("bob", red)
    first = _evaluate(hub)
    assert first.by_kind == {"red": 3}
    found = _alerts(hub)
    # Every user of the named organisation; not the sharer, never the outsider.
    assert sorted(found) == ["alice", "anna", "root"]
    assert found["alice"] == [
        ("red", {"name": "Bad address 192.0.2.66", "tlp": "red", "type": "indicator"})
    ]
    # A second run (or a second process) alerts nothing again.
    assert _evaluate(hub).created == 0
    assert sum(len(v) for v in _alerts(hub).values()) == 3


def test_watched_block_alerts_readers_only(world: World) -> None:
    hub = world.hub
    for user in ("alice", "carol"):
        _watch(hub, user, "198.51.100.0/24")
    _watch(hub, "anna", "ferry.example")
    world.share(
        "bob",
        f.indicator(tlp=TLP.AMBER, value="198.51.100.7"),
        f.indicator(tlp=TLP.AMBER, value="203.0.113.9"),
        f.indicator(
            tlp=TLP.GREEN,
            pattern="[domain-name:value = 'c2.ferry.example']",
            name="Ferry C2",
        ),
    )
    _evaluate(hub)
    found = _alerts(hub)
    # carol watches the same block but may not read TLP:AMBER in Nordic: nothing for her.
    assert sorted(found) == ["alice", "anna"]
    assert found["alice"] == [
        (
            "watch",
            {
                "name": "Bad address 198.51.100.7",
                "tlp": "amber",
                "type": "indicator",
                "watch": "198.51.100.0/24",
            },
        )
    ]
    assert [p["name"] for _, p in found["anna"]] == ["Ferry C2"]  # a subdomain of the watch
    assert _evaluate(hub).created == 0


def test_a_watch_looks_forward_only(world: World) -> None:
    world.share("bob", f.indicator(tlp=TLP.GREEN, value="198.51.100.8"))
    _watch(world.hub, "alice", "198.51.100.8")
    assert _evaluate(world.hub).created == 0


def _sighting(of: str, tlp: TLP, **extra: object) -> dict[str, object]:
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f.stix_id("sighting"),
        "created": "2026-02-01T00:00:00.000Z",
        "modified": "2026-02-01T00:00:00.000Z",
        "sighting_of_ref": of,
        "count": 4,
        "object_marking_refs": [tlp.stix_id],
        **extra,
    }


def test_sightings_of_my_indicators_alert_my_organisation(world: World) -> None:
    hub = world.hub
    mine = f.indicator(tlp=TLP.GREEN, value="198.51.100.20")
    world.share("alice", mine)
    _evaluate(hub)
    world.share("bob", _sighting(mine["id"], TLP.GREEN))
    # A TLP:RED sighting addressed elsewhere is not readable by Fjordnett: no alert.
    world.share("bob", _sighting(mine["id"], TLP.RED), recipients=["Svea"])
    _evaluate(hub)
    found = _alerts(hub)
    assert sorted(found) == ["alice", "anna", "root"]
    assert [(k, p["indicator"]) for k, p in found["alice"]] == [("sighting", mine["id"])]
    assert _evaluate(hub).created == 0


def _incident(hub: Hub, username: str) -> int:
    with hub.session() as s:
        me = f.principal(s, username)
        incident = incidents.create(session=s, principal=me, title="Outage", tlp="amber")
        incidents.set_profile(
            session=s,
            principal=me,
            incident_id=incident.id,
            name="Fjordnett Cloud",
            established_in=["FI"],
            services_in=["FI", "SE"],
            nis2_class="essential",
            entity_type="cloud",
        )
        incidents.set_facts(
            session=s,
            principal=me,
            incident_id=incident.id,
            values={"detected_at": "2026-03-27T16:00:00+02:00", "unavailable_minutes": 45},
        )
        s.commit()
        return incident.id


def test_a_deadline_within_six_hours_alerts_the_participants(world: World) -> None:
    hub = world.hub
    iid = _incident(hub, "alice")
    # The early warning is due 2026-03-28T14:00Z: nothing 7 h before, an alert 5 h before.
    assert _evaluate(hub, parse_time("2026-03-28T07:00:00Z", "t")).created == 0
    assert _evaluate(hub, parse_time("2026-03-28T09:00:00Z", "t")).by_kind == {"deadline": 3}
    found = _alerts(hub)
    assert sorted(found) == ["alice", "anna", "root"]  # Fjordnett leads it; bob takes no part
    kind, params = found["alice"][0]
    assert kind == "deadline" and params["incident"] == iid
    assert params["stage"] == "early-warning" and params["deadline"] == "2026-03-28T14:00:00Z"
    assert _evaluate(hub, parse_time("2026-03-28T10:00:00Z", "t")).created == 0


def test_an_expiring_clearance_alerts_its_holder_and_officers(world: World) -> None:
    hub = world.hub
    today = datetime.now(UTC).date()
    with hub.session() as s:
        f.user(s, "sven", "Svea", password=None)
        officer = f.principal(s, "bob")
        person = register.add_person(
            session=s,
            principal=officer,
            name="Sven Svensson",
            nationality="SE",
            employer="Svea",
            username="sven",
        )
        register.add_clearance(
            session=s,
            principal=officer,
            person=person,
            country="SE",
            level="KONFIDENTIELL",
            authority="Säpo",
            valid_from=date(2024, 1, 1),
            valid_until=today + timedelta(days=5),
        )
        s.commit()
    assert _evaluate(hub).by_kind == {"clearance": 2}
    found = _alerts(hub)
    assert sorted(found) == ["bob", "sven"]  # the holder and Svea's officer; nobody else
    assert found["sven"][0][1]["own"] is True and found["bob"][0][1]["days"] == 5
    assert _evaluate(hub).created == 0


def test_a_lagging_federation_link_alerts_hub_admins(world: World) -> None:
    hub = world.hub
    with hub.session() as s:
        org_id = f.org(s, "hub-b", "SE", kind="hub")
        now = utcnow()
        s.add(
            TrustedHub(
                name="hub-b", public_key="k" * 44, org_id=org_id, pinned_at=now, pinned_by="t"
            )
        )
        s.flush()
        peer = Peer(
            name="hub-b", url="https://hub-b.example/taxii2/hub/", token_file="x", created_at=now
        )
        s.add(peer)
        s.flush()
        s.add(
            PeerLink(
                peer_id=peer.id,
                remote_collection="feed",
                local_collection_id=world.collection_id,
                direction="pull",
                state="ok",
                lag_seconds=3600.0,
                lag_objects=500,
                created_at=now,
                updated_at=now,
            )
        )
        s.commit()
    with hub.session() as s:
        result = flows.evaluate(session=s, lag_threshold_s=900)
    assert result.by_kind == {"lag": 1}
    assert sorted(_alerts(hub)) == ["root"]
    with hub.session() as s:
        assert flows.evaluate(session=s, lag_threshold_s=900).created == 0


def test_one_event_inserted_twice_is_kept_once_without_error(world: World) -> None:
    hub = world.hub
    with hub.session() as s:
        uid = f.principal(s, "alice").user_id
    new = NewNotification(user_id=uid, kind="red", key="x", params={"name": "n"})
    ids = []
    for _ in range(2):  # as two processes would, each in its own transaction
        with hub.session() as s:
            ids.append(
                alerts.insert_once(session=s, new=new, email=False, webhook=False, now=utcnow())
            )
            s.commit()
    assert ids[0] is not None and ids[1] is None
    assert len(_alerts(hub)["alice"]) == 1


def test_email_and_webhook_copies_are_sent_once_without_content(
    world: World, configure: Callable[..., Settings]
) -> None:
    hub = world.hub
    with smtp_server() as (mailbox, port), webhook_server() as (hooks, url):
        configure(webhook_hosts=webhook_hosts(url.split("/")[2]))
        with hub.session() as s:
            alerts.set_preferences(
                session=s,
                principal=f.principal(s, "alice"),
                email="alice@fjordnett.example",
                webhook_url=url,
            )
            s.commit()
            events = (
                s.execute(select(AuditEvent).where(AuditEvent.action == "alerts.preferences"))
                .scalars()
                .all()
            )
        assert len(events) == 1 and "/hook" not in events[0].details  # host only, no path
        world.share("bob", f.indicator(tlp=TLP.RED, recipients=["Fjordnett"], value="192.0.2.77"))
        settings = NotifySettings(
            smtp=SmtpSettings(host="127.0.0.1", port=port, sender="varsel@hub.example"),
            webhook_secret=SECRET,
            webhook_hosts=webhook_hosts(url.split("/")[2]),
        )
        first = flows.run_once(hub.sessions, settings=settings)
        assert first.delivery is not None and (first.delivery.sent, first.delivery.failed) == (2, 0)
        assert len(mailbox.messages) == 1 and len(hooks.calls) == 1
        mail = mailbox.messages[0]
        assert mail["To"] == "alice@fjordnett.example"
        assert "TLP:RED" in mail["Subject"]
        assert "192.0.2.77" not in mail.as_string()  # the object's value never leaves
        headers, body, data = hooks.calls[0]
        assert verify(body, SECRET, headers["X-Varsel-Timestamp"], headers["X-Varsel-Signature"])
        assert data["event"] == "alert.red" and data["tlp"] == "red"
        assert "192.0.2.77" not in body.decode()
        again = flows.run_once(hub.sessions, settings=settings)
        assert again.delivery is not None and again.delivery.sent == 0
        assert len(mailbox.messages) == 1 and len(hooks.calls) == 1


def test_a_webhook_host_not_allowed_is_refused(
    world: World, configure: Callable[..., Settings]
) -> None:
    hub = world.hub
    with webhook_server() as (hooks, url):
        configure(webhook_hosts=webhook_hosts("127.0.0.1:1"))
        with hub.session() as s, pytest.raises(alerts.FieldError) as refused:
            alerts.set_preferences(
                session=s, principal=f.principal(s, "alice"), email="", webhook_url=url
            )
        assert refused.value.field == "webhook_url" and "not among" in refused.value.message
        for bad in ("ftp://127.0.0.1/x", "http://user:pw@127.0.0.1:1/x"):
            with hub.session() as s, pytest.raises(alerts.FieldError):
                alerts.set_preferences(
                    session=s, principal=f.principal(s, "alice"), email="", webhook_url=bad
                )
        # Allowed when set, removed from the list since: the copy is refused when sending.
        configure(webhook_hosts=webhook_hosts(url.split("/")[2]))
        with hub.session() as s:
            alerts.set_preferences(
                session=s, principal=f.principal(s, "alice"), email="", webhook_url=url
            )
            s.commit()
        world.share("bob", f.indicator(tlp=TLP.RED, recipients=["Fjordnett"]))
        settings = NotifySettings(webhook_secret=SECRET, webhook_hosts=webhook_hosts("10.0.0.1"))
        result = flows.run_once(hub.sessions, settings=settings)
        assert result.delivery is not None and result.delivery.failed == 1
        assert "webhook refused" in result.delivery.errors[0]
        assert hooks.calls == []


def test_a_copy_about_an_object_no_longer_readable_is_withheld(
    world: World, configure: Callable[..., Settings]
) -> None:
    hub = world.hub
    with webhook_server() as (hooks, url):
        hosts = webhook_hosts(url.split("/")[2])
        configure(webhook_hosts=hosts)
        with hub.session() as s:
            alerts.set_preferences(
                session=s, principal=f.principal(s, "alice"), email="", webhook_url=url
            )
            s.commit()
        _watch(hub, "alice", "198.51.100.50")
        obj = f.indicator(tlp=TLP.AMBER, value="198.51.100.50")
        world.share("bob", obj)
        _evaluate(hub)
        # bob re-marks it TLP:RED for Svea only before the copy goes out.
        newer = {
            **obj,
            "modified": "2026-01-02T00:00:00.000Z",
            "object_marking_refs": [TLP.RED.stix_id],
        }
        world.share("bob", newer, recipients=["Svea"])
        with hub.session() as s:
            result = flows.deliver(
                session=s, settings=NotifySettings(webhook_secret=SECRET, webhook_hosts=hosts)
            )
        assert (result.sent, result.withheld) == (0, 1) and hooks.calls == []


def test_the_periodic_worker_evaluates_on_its_own(world: World) -> None:
    hub = world.hub
    _watch(hub, "alice", "198.51.100.99")
    readers = make_sessionmaker(hub.engine, read_only=True)
    worker = AlertsWorker(hub.sessions, interval_s=0.2, readers=readers).start()
    try:
        world.share("bob", f.indicator(tlp=TLP.GREEN, value="198.51.100.99"))
        deadline = time.monotonic() + 15
        while "alice" not in _alerts(hub) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()
    assert [k for k, _ in _alerts(hub)["alice"]] == ["watch"]
    assert worker.runs >= 1 and not worker.thread.is_alive()


def test_the_command_line_runs_one_evaluation(world: World) -> None:
    from typer.testing import CliRunner

    from varsel.cli.commands import app

    world.share("bob", f.indicator(tlp=TLP.RED, recipients=["Svea", "Fjordnett"]))
    url = world.hub.settings.database_url
    first = CliRunner().invoke(app, ["alerts", "run-once", "--database-url", url])
    assert first.exit_code == 0, first.output
    assert "3 new notifications (red 3)" in first.output
    again = CliRunner().invoke(app, ["alerts", "run-once", "--database-url", url])
    assert again.exit_code == 0 and "0 new notifications (none)" in again.output


def test_the_application_lifespan_runs_the_evaluator(world: World) -> None:
    from fastapi.testclient import TestClient

    from varsel.api.app import create_app

    hub = world.hub
    _watch(hub, "alice", "198.51.100.98")
    app = create_app(hub.settings.with_(alerts=True, alerts_interval=1))
    try:
        with TestClient(app):
            world.share("bob", f.indicator(tlp=TLP.GREEN, value="198.51.100.98"))
            deadline = time.monotonic() + 20
            while "alice" not in _alerts(hub) and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        app.state.engine.dispose()
    assert [k for k, _ in _alerts(hub)["alice"]] == ["watch"]
