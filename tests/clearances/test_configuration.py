"""A bad agreements file stops the start in one line; it never turns reads into 500s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.cli.test_cli import run
from tests.conftest import SECRET, Hub, _free_port
from tests.factories import TAXII
from varsel.api.app import create_app
from varsel.clearances import rules
from varsel.config import Settings
from varsel.sharing import ingest as ingesting
from varsel.sharing.ingest.marking import marking_id
from varsel.sharing.models import Collection

GOOD_ROW = {
    "id": "no-us",
    "name": "Security agreement NO-US",
    "covers": "national",
    "parties": ["NO", "US"],
    "in_force": "2026-01-01",
    "verified": True,
    "source": "test",
}
BROKEN = [
    ('{"bilateral": [', "is not valid JSON"),
    ("[]", "must be a JSON object"),
    (json.dumps({"bilaterals": [GOOD_ROW]}), "unknown key(s) bilaterals"),
    (json.dumps({"bilateral": [{**GOOD_ROW, "in_force": "2026-13-01"}]}), "'in_force' must be"),
    (json.dumps({"bilateral": [{**GOOD_ROW, "covers": "nato"}]}), "'covers' must be one of"),
    (json.dumps({"bilateral": [{**GOOD_ROW, "parties": ["NOR"]}]}), "not an ISO 3166-1"),
    (
        json.dumps({"bilateral": [{k: v for k, v in GOOD_ROW.items() if k != "verified"}]}),
        "needs 'verified'",
    ),
    (json.dumps({"bilateral": [{**GOOD_ROW, "id": "nato"}]}), "'nato' is used twice"),
]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agreements.json"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "problem"), BROKEN)
def test_the_app_factory_refuses_a_broken_file_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, problem: str
) -> None:
    path = _write(tmp_path, text)
    monkeypatch.setenv(rules.AGREEMENTS_ENV, str(path))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'hub.sqlite3'}", secret_key=SECRET)
    with pytest.raises(rules.AgreementsFileError) as refused:
        create_app(settings)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{rules.AGREEMENTS_ENV}={path}: ")
    assert problem in message


def test_the_app_factory_accepts_a_good_file_and_a_missing_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    monkeypatch.setenv(
        rules.AGREEMENTS_ENV, str(_write(tmp_path, json.dumps({"bilateral": [GOOD_ROW]})))
    )
    create_app(Settings(database_url=url, secret_key=SECRET)).state.engine.dispose()
    assert [a.id for a in rules.registered_agreements()] == ["no-us"]
    monkeypatch.delenv(rules.AGREEMENTS_ENV)
    create_app(Settings(database_url=url, secret_key=SECRET)).state.engine.dispose()
    assert rules.registered_agreements() == ()


def test_varsel_serve_refuses_to_start_with_one_line(hub: Hub, tmp_path: Path) -> None:
    path = _write(tmp_path, '{"bilateral": [{"id": "x"')
    env = {
        **os.environ,
        "VARSEL_DATABASE_URL": hub.settings.database_url,
        "VARSEL_SECRET_KEY": SECRET,
        rules.AGREEMENTS_ENV: str(path),
        "COLUMNS": "300",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "varsel", "serve", "--port", str(_free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure before the fix
        pytest.fail("varsel serve started despite a broken agreements file")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert f"{rules.AGREEMENTS_ENV}={path}" in lines[0] and "is not valid JSON" in lines[0]


def test_cli_commands_that_read_it_print_one_line(hub: Hub, tmp_path: Path) -> None:
    with hub.session() as s:
        f.org(s, "Svea Moln AB", "SE")
        s.commit()
    assert (
        run(
            hub, "person", "add", "Eva", "--employer", "Svea Moln AB", "--nationality", "SE"
        ).returncode
        == 0
    )
    path = _write(tmp_path, "[]")
    env_before = os.environ.get(rules.AGREEMENTS_ENV)
    os.environ[rules.AGREEMENTS_ENV] = str(path)
    try:
        done = run(hub, "clearance", "check", "Eva", "--level", "NO:KONFIDENSIELT")
    finally:
        if env_before is None:
            del os.environ[rules.AGREEMENTS_ENV]
        else:
            os.environ[rules.AGREEMENTS_ENV] = env_before
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "must be a JSON object" in lines[0], done.stderr


def test_a_file_broken_while_running_hides_classified_objects_instead_of_failing(
    hub: Hub, tmp_path: Path, configure: Callable[..., Settings]
) -> None:
    registered = _write(tmp_path, json.dumps({"bilateral": [GOOD_ROW]}))
    configure(security_agreements=registered)  # as VARSEL_SECURITY_AGREEMENTS at start-up
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.user(s, "ola", "Fjordnett AS", password=None)
        f.community(s, "C", ["Fjordnett AS"])
        coll = f.collection(s, "K", "C", "green")
        restricted = f.indicator(
            object_marking_refs=[marking_id(rules.parse_label("NO:BEGRENSET"))]
        )
        plain = f.indicator()
        result = ingesting.ingest(
            session=s,
            collection=s.get(Collection, coll.id),
            principal=f.principal(s, "ola"),
            body=f.envelope(restricted, plain),
        )
        assert not result.failures
        token = f.token(s, "ola")
        s.commit()
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(hub.app) as client:

        def ids() -> tuple[set[str], set[str]]:
            taxii = client.get(
                f"/taxii2/hub/collections/{coll.id}/objects/", headers={**auth, "Accept": TAXII}
            )
            rest = client.get("/api/v1/objects", headers=auth)
            assert taxii.status_code == 200 and rest.status_code == 200, (taxii.text, rest.text)
            return (
                {o["id"] for o in taxii.json().get("objects", [])},
                {o["id"] for o in rest.json()["objects"]},
            )

        both = {restricted["id"], plain["id"]}
        assert ids() == (both, both)  # BEGRENSET: the Nordic RESTRICTED clause
        registered.write_text("{broken", encoding="utf-8")  # the file is read on every use
        assert ids() == ({plain["id"]}, {plain["id"]})
