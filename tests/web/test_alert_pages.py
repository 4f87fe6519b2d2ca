"""The notifications area: the list and badge, the settings, the watchlist and saved filters."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, post_form, sign_in
from varsel.alerts import flows
from varsel.audit.models import AuditEvent
from varsel.config import Settings
from varsel.reporting.notify import webhook_hosts
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.tlp import TLP

SETTINGS = "/notifications/settings"


def _share(
    hub: Hub, world: World, username: str, *objects: dict[str, object], **kw: object
) -> None:
    with hub.session() as s:
        result = ingesting.ingest(
            session=s,
            collection=sharing.get_collection(session=s, collection_id=world.collection_id),
            principal=f.principal(s, username),
            body=f.envelope(*objects),
            **kw,  # type: ignore[arg-type]
        )
        assert not result.failures
        s.commit()


def _evaluate(hub: Hub) -> None:
    with hub.session() as s:
        flows.evaluate(session=s)


def _client(hub: Hub, username: str) -> TestClient:
    client = TestClient(hub.app)
    sign_in(client, username)
    return client


def test_a_watch_hit_shows_in_the_list_and_the_badge_until_read(hub: Hub, world: World) -> None:
    alice = _client(hub, "alice")
    added = post_form(alice, SETTINGS, "/notifications/watches", {"value": "198.51.100.0/24"})
    assert added.status_code == 303  # type: ignore[attr-defined]
    assert "198.51.100.0/24" in alice.get(SETTINGS).text
    _share(hub, world, "bob", f.indicator(tlp=TLP.AMBER, value="198.51.100.7"))
    _evaluate(hub)
    home = alice.get("/").text
    assert 'id="bell"' in home and '<span class="count">1<' in home
    page = alice.get("/notifications").text
    assert "Bad address 198.51.100.7" in page and "198.51.100.0/24" in page
    assert "1 unread notification" in page
    read = post_form(alice, "/notifications", "/notifications/read-all", {})
    assert read.status_code == 303  # type: ignore[attr-defined]
    assert '<span class="count">' not in alice.get("/").text
    assert "0 unread notifications" in alice.get("/notifications").text


def test_a_bad_value_is_refused_beside_its_field_and_kept(hub: Hub, world: World) -> None:
    alice = _client(hub, "alice")
    refused = post_form(alice, SETTINGS, "/notifications/watches", {"value": "not a value!"})
    assert refused.status_code == 400  # type: ignore[attr-defined]
    html = refused.text  # type: ignore[attr-defined]
    assert 'id="err-value"' in html and "is not an IP address" in html
    assert 'value="not a value!"' in html and 'aria-invalid="true"' in html


def test_every_form_needs_the_csrf_token(hub: Hub, world: World) -> None:
    alice = _client(hub, "alice")
    for action in (SETTINGS, "/notifications/watches", "/notifications/read-all"):
        assert alice.post(action, data={"value": "192.0.2.1"}).status_code == 403


def test_a_webhook_change_is_checked_and_audited(
    hub: Hub, world: World, configure: Callable[..., Settings]
) -> None:
    configure(webhook_hosts=webhook_hosts("hooks.example"))
    alice = _client(hub, "alice")
    refused = post_form(
        alice, SETTINGS, SETTINGS, {"email": "", "webhook_url": "http://10.0.0.5/hook"}
    )
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert 'id="err-webhook_url"' in refused.text  # type: ignore[attr-defined]
    saved = post_form(
        alice,
        SETTINGS,
        SETTINGS,
        {"email": "alice@fjordnett.example", "webhook_url": "https://hooks.example/t/SECRET"},
    )
    assert saved.status_code == 303  # type: ignore[attr-defined]
    with hub.session() as s:
        events = (
            s.execute(select(AuditEvent).where(AuditEvent.action == "alerts.preferences"))
            .scalars()
            .all()
        )
    assert len(events) == 1
    assert "hooks.example" in events[0].details and "SECRET" not in events[0].details


def test_a_saved_filter_keeps_only_the_filters(hub: Hub, world: World) -> None:
    alice = _client(hub, "alice")
    listing = alice.get("/objects?tlp=amber&q=ferry").text
    assert 'action="/notifications/filters"' in listing
    assert 'name="query" value="tlp=amber&amp;q=ferry"' in listing
    saved = post_form(
        alice,
        "/objects?tlp=amber&q=ferry",
        "/notifications/filters",
        {"name": "Amber ferry", "query": "tlp=amber&q=ferry&next=abc&evil=1"},
    )
    assert saved.status_code == 303  # type: ignore[attr-defined]
    page = alice.get(SETTINGS).text
    assert 'href="/objects?q=ferry&amp;tlp=amber"' in page and "Amber ferry" in page
    bad = post_form(
        alice, SETTINGS, "/notifications/filters", {"name": "Bad", "query": "tlp=purple"}
    )
    assert bad.status_code == 400  # type: ignore[attr-defined]
    assert 'id="err-name"' in bad.text  # type: ignore[attr-defined]
    assert 'value="Bad"' in bad.text  # type: ignore[attr-defined]


def test_an_alert_about_an_object_no_longer_readable_names_nothing(hub: Hub, world: World) -> None:
    alice = _client(hub, "alice")
    post_form(alice, SETTINGS, "/notifications/watches", {"value": "198.51.100.60"})
    obj = f.indicator(tlp=TLP.AMBER, value="198.51.100.60")
    _share(hub, world, "bob", obj)
    _evaluate(hub)
    assert "Bad address 198.51.100.60" in alice.get("/notifications").text
    newer = {
        **obj,
        "modified": "2026-01-02T00:00:00.000Z",
        "object_marking_refs": [TLP.RED.stix_id],
    }
    _share(hub, world, "bob", newer, recipients=["Svea"])
    page = alice.get("/notifications").text
    assert "An alert about an object you cannot see." in page
    assert "198.51.100.60" not in page and str(obj["id"]) not in page and "indicator" not in page
