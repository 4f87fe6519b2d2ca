"""Deadline notifications through a real SMTP server and a real webhook receiver, exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.incidents.servers import smtp_server, webhook_server
from varsel.config import Settings, SmtpSettings
from varsel.incidents import flows, service
from varsel.incidents.models import NotificationLog
from varsel.reporting.facts import parse_time
from varsel.reporting.notify import NotifySettings, verify, webhook_hosts

SECRET = "webhook-test-secret"


def _hosts(url: str) -> tuple[tuple[str, int | None], ...]:
    return webhook_hosts(url.split("/")[2])


def _incident(hub: Hub, webhook: str, configure: Callable[..., Settings]) -> int:
    # The receivers listen on 127.0.0.1: a hub-admin allows them by address (issue 12, item 16).
    configure(webhook_hosts=webhook_hosts(webhook.split("/")[2]))
    with hub.session() as s:
        f.org(s, "Pilvi Oy", country="FI")
        f.user(s, "lead", "Pilvi Oy", password=None)
        me = f.principal(s, "lead")
        incident = service.create(
            session=s,
            principal=me,
            title="Secret title",
            tlp="red",
            notify_emails=["soc@pilvi.example"],
            webhook_url=webhook,
        )
        service.set_profile(
            session=s,
            principal=me,
            incident_id=incident.id,
            name="Pilvi Oy",
            established_in=["FI"],
            services_in=["FI", "SE"],
            nis2_class="essential",
            entity_type="cloud",
        )
        service.set_facts(
            session=s,
            principal=me,
            incident_id=incident.id,
            values={"detected_at": "2026-03-27T16:00:00+02:00", "unavailable_minutes": 45},
        )
        s.commit()
        return incident.id


def test_reminder_then_overdue_each_sent_once(hub: Hub, configure: Callable[..., Settings]) -> None:
    with smtp_server() as (mailbox, port), webhook_server() as (hooks, url):
        iid = _incident(hub, url, configure)
        settings = NotifySettings(
            smtp=SmtpSettings(host="127.0.0.1", port=port, sender="varsel@hub.example"),
            webhook_secret=SECRET,
            webhook_hosts=_hosts(url),
        )

        def run(at: str) -> flows.NotifyResult:
            with hub.session() as s:
                return flows.notify_due(
                    session=s, settings=settings, now=parse_time(at, "t"), lead=timedelta(hours=4)
                )

        # Early warning due 2026-03-28T14:00Z: nothing yet 5 h before, a reminder 2 h before.
        assert run("2026-03-28T09:00:00Z").sent == 0
        first = run("2026-03-28T12:00:00Z")
        assert (first.sent, first.failed) == (2, 0)
        assert len(mailbox.messages) == 1 and len(hooks.calls) == 1
        mail = mailbox.messages[0]
        assert mail["To"] == "soc@pilvi.example"
        assert "incident #" in mail["Subject"] and "2026-03-28T16:00:00+02:00" in mail["Subject"]
        assert "Secret title" not in mail.as_string()  # TLP:RED content never leaves
        headers, body, payload = hooks.calls[0]
        assert verify(body, SECRET, headers["X-Varsel-Timestamp"], headers["X-Varsel-Signature"])
        assert not verify(
            body + b" ", SECRET, headers["X-Varsel-Timestamp"], headers["X-Varsel-Signature"]
        )
        assert payload["event"] == "incident.report.reminder"
        assert payload["stage"] == "early-warning" and payload["incident"] == iid

        # Running again sends nothing new; past the deadline an overdue notice goes once.
        assert run("2026-03-28T13:00:00Z").sent == 0
        assert run("2026-03-28T15:00:00Z").sent == 2
        assert run("2026-03-28T15:30:00Z").sent == 0
        assert len(mailbox.messages) == 2 and len(hooks.calls) == 2
        assert hooks.calls[1][2]["event"] == "incident.report.overdue"

        # A receiver that fails is retried on the next run, and then succeeds once.
        hooks.status = 500
        failed = run("2026-03-30T11:00:00Z")  # notification reminder (due 14:00Z)
        assert (failed.sent, failed.failed) == (1, 1)
        hooks.status = 204
        retried = run("2026-03-30T11:05:00Z")
        assert (retried.sent, retried.failed) == (1, 0)
        with hub.session() as s:
            rows = (
                s.execute(
                    select(NotificationLog).where(NotificationLog.stage == "incident-notification")
                )
                .scalars()
                .all()
            )
        assert {(r.channel, r.status, r.attempts) for r in rows} == {
            ("email", "sent", 1),
            ("webhook", "sent", 2),
        }


def test_no_smtp_host_is_a_named_failure(hub: Hub, configure: Callable[..., Settings]) -> None:
    with webhook_server() as (hooks, url):
        _incident(hub, url, configure)
        with hub.session() as s:
            result = flows.notify_due(
                session=s,
                settings=NotifySettings(webhook_secret=None),
                now=parse_time("2026-03-28T12:00:00Z", "t"),
            )
    assert result.failed == 2 and hooks.calls == []
    assert any("VARSEL_SMTP_HOST" in e for e in result.errors)
    assert any("VARSEL_WEBHOOK_SECRET" in e for e in result.errors)


def test_webhooks_go_only_to_allow_listed_public_addresses(
    hub: Hub, configure: Callable[..., Settings]
) -> None:
    with webhook_server() as (hooks, url):
        iid = _incident(hub, url, configure)
        port = url.split("/")[2].split(":")[1]

        def run(hosts: str, at: str) -> flows.NotifyResult:
            settings = NotifySettings(webhook_secret=SECRET, webhook_hosts=webhook_hosts(hosts))
            with hub.session() as s:
                return flows.notify_due(session=s, settings=settings, now=parse_time(at, "t"))

        # The list shrank after the URL was set: checked again when sending, nothing goes out.
        gone = run("hooks.example", "2026-03-28T12:00:00Z")
        assert gone.sent == 0 and hooks.calls == []
        assert any("not among the webhook hosts" in e for e in gone.errors), gone.errors
        # A listed name that resolves to the hub's own network is refused too.
        with hub.session() as s:
            lead = f.principal(s, "lead")
            configure(webhook_hosts=webhook_hosts(f"localhost:{port}"))
            service.update(
                session=s,
                principal=lead,
                incident_id=iid,
                changes={"webhook_url": f"http://localhost:{port}/hook"},
            )
            s.commit()
        inside = run(f"localhost:{port}", "2026-03-28T12:30:00Z")
        assert inside.sent == 0 and hooks.calls == []
        assert any("non-public address" in e for e in inside.errors), inside.errors
