"""The command line as scripts use it: exact forms, stdout contents and exit codes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import SECRET, Hub
from varsel.audit.models import AuditEvent
from varsel.orgs.models import ApiToken
from varsel.sharing.tlp import TLP


def run(
    hub: Hub, *args: str, stdin: str | None = None, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``varsel ARGS`` in a subprocess against the hub's database."""
    env = {
        **os.environ,
        "VARSEL_DATABASE_URL": hub.settings.database_url,
        "VARSEL_SECRET_KEY": SECRET,
        "COLUMNS": "200",
    }
    if data_dir is not None:
        env["VARSEL_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "varsel", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_setup_share_and_fetch_as_scripts_do(hub: Hub, tmp_path: Path) -> None:
    assert run(hub, "init").returncode == 0
    assert (
        run(
            hub,
            "org",
            "add",
            "Fjordnett AS",
            "--country",
            "NO",
            "--kind",
            "company",
            "--sector",
            "digital-infrastructure",
        ).returncode
        == 0
    )
    assert (
        run(hub, "org", "add", "Svea Moln AB", "--country", "SE", "--kind", "company").returncode
        == 0
    )
    added = run(
        hub,
        "user",
        "add",
        "alice",
        "--org",
        "Fjordnett AS",
        "--role",
        "analyst",
        stdin=f.PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert (
        run(
            hub,
            "user",
            "add",
            "bob",
            "--org",
            "Svea Moln AB",
            "--role",
            "analyst",
            stdin=f.PASSWORD + "\n",
        ).returncode
        == 0
    )
    token = run(hub, "token", "create", "alice")
    assert token.returncode == 0
    assert token.stdout.startswith("vs_") and token.stdout.count("\n") == 1
    community = run(
        hub, "community", "add", "Nordic", "--member", "Fjordnett AS", "--member", "Svea Moln AB"
    )
    assert community.returncode == 0, community.stderr
    collection = run(
        hub, "collection", "add", "Indicators", "--community", "Nordic", "--default-tlp", "amber"
    )
    assert collection.returncode == 0, collection.stderr
    collection_id = collection.stdout.strip()

    good = [f.indicator(value=f"198.51.100.{i}") for i in range(3)]
    red = f.indicator(tlp=TLP.RED)
    bundle = {
        "type": "bundle",
        "id": f.stix_id("bundle"),
        "objects": [*good, red, {"type": "indicator", "id": "broken"}],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    shared = run(
        hub,
        "share",
        str(path),
        "--collection",
        "Indicators",
        "--as",
        "alice",
        "--recipient",
        "Svea Moln AB",
    )
    assert shared.returncode == 3, shared.stderr  # one object rejected
    assert "accepted 4 of 5" in shared.stderr
    assert "broken" in shared.stderr

    out = tmp_path / "out.json"
    fetched = run(hub, "fetch", collection_id, "--as", "bob", "--output", str(out))
    assert fetched.returncode == 0, fetched.stderr
    got = json.loads(out.read_text())
    assert got["type"] == "bundle"
    assert {o["id"] for o in got["objects"]} == {o["id"] for o in [*good, red]}
    verified = run(hub, "audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["org", "add", "X", "--country", "Norway", "--kind", "company"], None, "ISO 3166"),
        (
            ["org", "add", "X", "--country", "NO", "--kind", "bank"],
            None,
            "unknown organisation kind",
        ),
        (
            ["user", "add", "eve", "--org", "Nowhere", "--role", "analyst"],
            f.PASSWORD + "\n",
            "no organisation",
        ),
        (["user", "add", "eve", "--org", "Fjordnett", "--role", "analyst"], "short\n", "12 char"),
        (["token", "create", "nobody"], None, "no user"),
        (
            ["collection", "add", "T", "--community", "None", "--default-tlp", "amber"],
            None,
            "no community",
        ),
        (["share", "/nonexistent.json", "--collection", "x", "--as", "alice"], None, "cannot read"),
    ],
)
def test_errors_are_clear_and_exit_non_zero(
    hub: Hub, args: list[str], stdin: str | None, message: str
) -> None:
    with hub.session() as s:
        f.org(s, "Fjordnett")
        s.commit()
    result = run(hub, *args, stdin=stdin)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_seeds_a_realistic_hub(hub: Hub, tmp_path: Path) -> None:
    result = run(hub, "demo", "--password", "demo-password-123", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "demo-password-123" in result.stdout
    creds = tmp_path / "demo-credentials.txt"
    assert oct(creds.stat().st_mode & 0o777) == "0o600"
    from sqlalchemy import func, select

    from varsel.orgs.models import Organisation
    from varsel.sharing.models import StixObject

    with hub.session() as s:
        countries = set(s.execute(select(Organisation.country)).scalars())
        types = dict(
            s.execute(select(StixObject.type, func.count()).group_by(StixObject.type)).all()
        )
        tlps = set(s.execute(select(StixObject.tlp)).scalars())
    assert countries == {"NO", "SE", "DK", "FI", "US"}
    assert sum(types.values()) >= 300
    assert {"indicator", "relationship", "sighting", "identity", "infrastructure", "report"} <= set(
        types
    )
    assert tlps == {t.value for t in TLP}
    again = run(hub, "demo", data_dir=tmp_path)
    assert again.returncode == 1 and "empty hub" in again.stderr


@pytest.mark.parametrize(
    "module",
    ["varsel.clearances.cli", "varsel.incidents.cli", "varsel.matching.cli", "varsel.cli.main"],
)
def test_each_cli_module_imports_on_its_own(module: str) -> None:
    # A fresh interpreter, so that nothing else has imported varsel.cli first.
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_local_operator_manages_accounts_and_is_named_in_the_audit(hub: Hub) -> None:
    """`user password`, `user disable [--enable]` and `token create --scope` (issue 12)."""
    with hub.session() as s:
        f.org(s, "Fjordnett")
        f.user(s, "alice", "Fjordnett")
        s.commit()
    token = run(hub, "token", "create", "alice", "--scope", "read").stdout.strip()
    assert token.startswith("vs_")
    new = "a brand new passphrase"
    changed = run(hub, "user", "password", "alice", stdin=new + "\n")
    assert changed.returncode == 0, changed.stderr
    with hub.session() as s:
        row = s.execute(select(ApiToken)).scalar_one()
        assert row.scope == "read" and row.revoked_at is not None
    basic = {"Authorization": "Basic " + base64.b64encode(f"alice:{new}".encode()).decode()}
    with TestClient(hub.app) as client:
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/me", headers=bearer).status_code == 401
        assert client.get("/api/v1/me", headers=basic).status_code == 200
        assert run(hub, "user", "disable", "alice").returncode == 0
        assert client.get("/api/v1/me", headers=basic).status_code == 401
        assert run(hub, "user", "disable", "alice", "--enable").returncode == 0
        assert client.get("/api/v1/me", headers=basic).status_code == 200
    short = run(hub, "user", "password", "alice", stdin="short\n")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    wanted = {"token.create", "user.password", "user.disable", "user.enable"}
    with hub.session() as s:
        actors = [
            (action, actor)
            for action, actor in s.execute(select(AuditEvent.action, AuditEvent.actor))
            if action in wanted
        ]
    assert {action for action, _ in actors} == wanted
    assert all(actor.startswith("operator:") for _, actor in actors)


def test_community_visibility_from_the_command_line(hub: Hub) -> None:
    for name, country in (("Forsvar", "NO"), ("Svea", "SE")):
        assert (
            run(hub, "org", "add", name, "--country", country, "--kind", "company").returncode == 0
        )
    with hub.session() as s:
        f.user(s, "fan", "Forsvar")
        f.user(s, "san", "Svea")
        s.commit()
    # The form scripts already use keeps working, and makes an unlisted community.
    made = run(hub, "community", "add", "Defence", "--member", "Forsvar")
    assert made.returncode == 0, made.stderr
    assert "unlisted" in made.stdout
    assert run(hub, "community", "add", "Open", "--member", "Svea", "--listed").returncode == 0

    def listing(*args: str) -> str:
        done = run(hub, "community", "list", *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    everyone = listing()
    assert "Defence" in everyone and "Open" in everyone
    assert "Defence" in listing("--as", "fan")
    outsider = listing("--as", "san")
    assert "Open" in outsider and "Defence" not in outsider and "Forsvar" not in outsider

    changed = run(hub, "community", "set-visibility", "Defence", "listed")
    assert changed.returncode == 0, changed.stderr
    assert "Defence" in listing("--as", "san")
    bad = run(hub, "community", "set-visibility", "Defence", "public")
    assert bad.returncode == 1
    assert "unknown visibility 'public'; expected one of listed, unlisted" in bad.stderr
    with hub.session() as s:
        actions = set(s.execute(select(AuditEvent.action)).scalars())
    assert "community.visibility" in actions
