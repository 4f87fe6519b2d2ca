"""The command line's exact forms, the REST API, and the expiry warnings (once each)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.cli.test_cli import run
from tests.conftest import Hub, _free_port
from varsel.clearances import notices, service
from varsel.clearances.models import ExpiryNotice
from varsel.config import Settings, SmtpSettings


def test_clearance_add_and_check_as_scripts_do(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Svea Moln AB", "SE")
        f.user(s, "eva", "Svea Moln AB", password=None)
        s.commit()
    assert (
        run(
            hub,
            "person",
            "add",
            "Eva Berg",
            "--employer",
            "Svea Moln AB",
            "--nationality",
            "SE",
            "--user",
            "eva",
        ).returncode
        == 0
    )
    added = run(
        hub,
        "clearance",
        "add",
        "eva",
        "--country",
        "SE",
        "--level",
        "HEMLIG",
        "--authority",
        "Säkerhetspolisen",
        "--valid-from",
        "2025-01-01",
        "--valid-until",
        "2099-12-31",
        "--verified",
    )
    assert added.returncode == 0, added.stderr
    clearance_id = added.stdout.strip()
    refused = run(hub, "clearance", "check", "eva", "--level", "NO:KONFIDENSIELT")
    assert refused.returncode == 4, refused.stderr
    assert "has not recognised this clearance" in refused.stdout
    assert "Decision: REFUSED" in refused.stdout
    request = run(hub, "clearance", "recognise", clearance_id, "--country", "NO")
    assert request.returncode == 0, request.stderr
    decided = run(hub, "clearance", "decide", request.stdout.strip(), "--approve")
    assert decided.returncode == 0 and "approved" in decided.stdout
    allowed = run(hub, "clearance", "check", "eva", "--level", "NO:KONFIDENSIELT")
    assert allowed.returncode == 0, allowed.stdout
    assert "Decision: ALLOWED" in allowed.stdout


def test_rest_register_and_check(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.user(s, "sec", "Fjordnett AS", role="org-admin", password=None)
        f.user(s, "ola", "Fjordnett AS", password=None)
        sec, ola = f.token(s, "sec"), f.token(s, "ola")
        s.commit()
    officer = {"Authorization": f"Bearer {sec}"}
    with TestClient(hub.app) as client:
        person = client.post(
            "/api/v1/persons",
            headers=officer,
            json={
                "name": "Ola",
                "nationality": "NO",
                "employer": "Fjordnett AS",
                "username": "ola",
            },
        )
        assert person.status_code == 201, person.text
        pid = person.json()["id"]
        body = {
            "person": pid,
            "country": "NO",
            "level": "hemmelig",
            "authority": "NSM",
            "valid_from": "2025-01-01",
            "valid_until": "2099-01-01",
        }
        # Ola declares her own clearance; her officer verifies it (two persons).
        holder = {"Authorization": f"Bearer {ola}"}
        c = client.post("/api/v1/clearances", headers=holder, json=body)
        assert c.status_code == 201 and c.json()["level_name"] == "HEMMELIG"
        bad = client.post("/api/v1/clearances", headers=officer, json={**body, "level": "X"})
        assert bad.status_code == 400 and "HEMMELIG" in bad.json()["detail"]
        assert (
            client.post(
                f"/api/v1/clearances/{c.json()['id']}/verify",
                headers={"Authorization": f"Bearer {ola}"},
            ).status_code
            == 403
        )
        assert (
            client.post(f"/api/v1/clearances/{c.json()['id']}/verify", headers=officer).json()[
                "state"
            ]
            == "verified"
        )
        check = client.get(
            f"/api/v1/persons/{pid}/check", headers=officer, params={"level": "NO:HEMMELIG"}
        )
        assert check.status_code == 200 and check.json()["allowed"] is True
        over = client.get(
            f"/api/v1/persons/{pid}/check", headers=officer, params={"level": "NO:STRENGT HEMMELIG"}
        )
        assert over.json()["allowed"] is False
        mine = client.get("/api/v1/clearances", headers={"Authorization": f"Bearer {ola}"})
        assert [x["id"] for x in mine.json()] == [c.json()["id"]]
        assert (
            client.get(
                "/api/v1/clearances/expiring", headers=officer, params={"days": 99999}
            ).status_code
            == 400
        )


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))  # type: ignore[attr-defined]
        return "250 OK"


def test_expiry_warnings_go_once_to_the_officers(
    hub: Hub, configure: Callable[..., Settings]
) -> None:
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.org(s, "Lonely AS", "NO")
        f.user(s, "sec@fjordnett.example", "Fjordnett AS", role="org-admin", password=None)
        f.user(s, "sec2", "Fjordnett AS", role="org-admin", password=None)
        f.user(s, "root", "Lonely AS", role="hub-admin", password=None)
        ola = service.add_person(
            session=s, principal=None, name="Ola", nationality="NO", employer="Fjordnett AS"
        )
        kari = service.add_person(
            session=s, principal=None, name="Kari", nationality="NO", employer="Lonely AS"
        )
        for person, until in ((ola, date(2026, 6, 30)), (kari, date(2026, 5, 8))):
            service.add_clearance(
                session=s,
                principal=None,
                person=person,
                country="NO",
                level="HEMMELIG",
                authority="NSM",
                valid_from=date(2025, 1, 1),
                valid_until=until,
            )
        s.commit()
        inbox = _Inbox()
        port = _free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            configure(smtp=SmtpSettings(host="127.0.0.1", port=port))
            mailer = notices.smtp_mailer()
            first = notices.send_expiry_warnings(session=s, today=date(2026, 5, 1), mailer=mailer)
            s.commit()
            again = notices.send_expiry_warnings(session=s, today=date(2026, 5, 2), mailer=mailer)
            later = notices.send_expiry_warnings(session=s, today=date(2026, 6, 1), mailer=mailer)
            s.commit()
        finally:
            controller.stop()
        got = sorted((n.recipient, n.days_ahead, n.channel) for n in first)
        assert got == [
            ("root", 7, "outbox"),
            ("sec2", 60, "outbox"),
            ("sec@fjordnett.example", 60, "email"),
        ]
        assert again == []
        assert sorted((n.recipient, n.days_ahead) for n in later) == [
            ("sec2", 30),
            ("sec@fjordnett.example", 30),
        ]
        assert [to for to, _ in inbox.messages] == [["sec@fjordnett.example"]] * 2
        assert "valid until 2026-06-30 inclusive" in inbox.messages[0][1]
        stored = s.execute(select(ExpiryNotice.status)).scalars().all()
        assert sorted(stored) == ["recorded"] * 3 + ["sent"] * 2
