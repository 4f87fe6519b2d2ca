"""``varsel incident`` as an operator uses it, in-process on both databases."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests import factories as f
from tests.conftest import Hub
from tests.incidents.servers import smtp_server
from varsel.cli import app


def test_incident_commands_end_to_end(hub: Hub, tmp_path: Path) -> None:
    with hub.session() as s:
        f.org(s, "Dansk Bank A/S", country="DK")
        f.user(s, "ops", "Dansk Bank A/S", password=None)
        s.commit()
    runner = CliRunner()
    env = {"VARSEL_DATABASE_URL": hub.settings.database_url, "COLUMNS": "250"}

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, (args, result.output)
        return result.output

    iid = run(
        "incident",
        "new",
        "--as",
        "ops",
        "--title",
        "Core banking outage",
        "--tlp",
        "amber",
        "--notify",
        "soc@bank.example",
        "--classification",
        'rsit:availability="outage"',
    ).strip()
    run(
        "incident",
        "entity",
        iid,
        "--as",
        "ops",
        "--name",
        "Dansk Bank A/S",
        "--established-in",
        "DK",
        "--dora",
        "--dora-kind",
        "credit-institution",
    )
    run(
        "incident",
        "facts",
        iid,
        "--as",
        "ops",
        "--set",
        "aware_at=2026-06-05T23:00:00+02:00",
        "--set",
        "classified_major_at=2026-06-06T02:00:00+02:00",
    )
    table = run("incident", "obligations", iid, "--as", "ops", "--now", "2026-06-06T03:00:00Z")
    assert "initial-notification" in table and "2026-06-06T06:00:00+02:00" in table
    data = json.loads(
        run(
            "incident", "obligations", iid, "--as", "ops", "--json", "--now", "2026-06-06T03:00:00Z"
        )
    )
    assert data[0]["obligations"][0]["deadline_utc"] == "2026-06-06T04:00:00Z"

    page = tmp_path / "initial.html"
    run(
        "incident",
        "report",
        iid,
        "--as",
        "ops",
        "--stage",
        "initial-notification",
        "--country",
        "DK",
        "--format",
        "html",
        "--output",
        str(page),
    )
    assert "Initial notification" in page.read_text() and "Finanstilsynet" in page.read_text()
    report = json.loads(
        run(
            "incident",
            "report",
            iid,
            "--as",
            "ops",
            "--stage",
            "initial-notification",
            "--country",
            "dk",
        )
    )
    assert report["report"]["status"] in {"due", "overdue"}

    with smtp_server() as (mailbox, port):
        env["VARSEL_SMTP_PORT"] = str(port)
        env["VARSEL_SMTP_HOST"] = "127.0.0.1"
        out = run("incident", "notify", "--now", "2026-06-06T03:00:00Z")
        assert "sent 1" in out
        assert "sent 0" in run("incident", "notify", "--now", "2026-06-06T03:10:00Z")
    assert len(mailbox.messages) == 1

    run(
        "incident",
        "submit",
        iid,
        "--as",
        "ops",
        "--stage",
        "initial-notification",
        "--country",
        "DK",
        "--channel",
        "Finanstilsynet portal",
        "--at",
        "2026-06-06T05:30:00+02:00",
    )
    clock = json.loads(
        run("incident", "clock", "--as", "ops", "--json", "--now", "2026-06-06T04:00:00Z")
    )
    assert [r["stage"] for r in clock] == ["intermediate-report", "final-report"]
    # The intermediate report now counts from the submission: 72 h after 05:30.
    assert clock[0]["deadline_local"] == "2026-06-09T05:30:00+02:00"

    bad = runner.invoke(
        app,
        ["incident", "report", iid, "--as", "ops", "--stage", "early-warning", "--country", "DK"],
        env=env,
    )
    assert bad.exit_code == 1 and "no 'early-warning' report is owed in DK" in bad.output
