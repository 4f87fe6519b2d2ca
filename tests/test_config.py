"""One settings object: every VARSEL_* variable read once, refused at start-up in one line."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests import factories as f
from tests.conftest import SECRET, Hub, _free_port
from varsel import config
from varsel.clearances import service as clearances
from varsel.reporting import notify

PACKAGE = Path(__file__).resolve().parents[1] / "varsel"
README = PACKAGE.parent / "README.md"
VARSEL = Path(sys.executable).with_name("varsel")  # the console script a user runs

BAD = [
    ("VARSEL_PORT", "eighty", "must be an integer"),
    ("VARSEL_PORT", "70000", "1-65535"),
    ("VARSEL_PAGE_SIZE", "0", "at least 1"),
    ("VARSEL_MAX_PAGE_SIZE", "many", "must be an integer"),
    ("VARSEL_MAX_CONTENT_LENGTH", "10MB", "must be an integer"),
    ("VARSEL_MAX_FAILED_LOGINS", "-1", "at least 0"),
    ("VARSEL_LOCKOUT_SECONDS", "0", "at least 1"),
    ("VARSEL_AUTH_FAILURES_PER_MINUTE", "lots", "must be an integer"),
    ("VARSEL_SECURE_COOKIES", "ture", "1/true/yes/on"),
    ("VARSEL_SMTP_PORT", "smtp", "must be an integer"),
    ("VARSEL_SMTP_PORT", "0", "1-65535"),
    ("VARSEL_SMTP_STARTTLS", "maybe", "1/true/yes/on"),
    ("VARSEL_WEBHOOK_HOSTS", "hooks.example, https://x.example/hook", "is not host[:port]"),
    ("VARSEL_SIGHTING_K", "1", "at least 2"),
    ("VARSEL_SIGHTING_K", "three", "must be an integer"),
    ("VARSEL_WARNINGLIST_MODE", "block", "'warn' or 'refuse'"),
    ("VARSEL_WARNINGLIST_HELPER", "sometimes", "1/true/yes/on"),
    ("VARSEL_ACCREDITATION_CEILING", "NO:TOPPHEMMELIG", "is not understood"),
    ("VARSEL_ACCREDITATION_CEILING", "7", "is not a grade 0-4"),
    ("VARSEL_SECURITY_AGREEMENTS", "/nonexistent/agreements.json", "cannot be opened"),
]


def _varsel(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [str(VARSEL), *args], env=env, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"varsel {' '.join(args)} started despite a bad setting")


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARSEL_")}
    # Narrow on purpose: the one line must not be wrapped into two.
    return {
        **env,
        "VARSEL_DATA_DIR": str(tmp_path),
        "VARSEL_SECRET_KEY": SECRET,
        "COLUMNS": "40",
        **extra,
    }


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[int, str, Path]]:
    """Start ``varsel serve`` once per bad value, all at once; return (exit code, stderr, data
    directory) by case."""
    started = {}
    for case, (name, value, _) in enumerate(BAD):
        data = tmp_path_factory.mktemp("data")
        started[case] = (
            subprocess.Popen(
                [str(VARSEL), "serve", "--port", str(_free_port())],
                env=_clean_env(data, **{name: value}),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            data,
        )
    done = {}
    for case, (process, data) in started.items():
        try:
            _, stderr = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # it started: a failure, reported by its test
            process.kill()
            _, stderr = process.communicate()
        done[case] = (process.returncode, stderr, data)
    return done


@pytest.mark.parametrize(
    ("case", "name", "problem"), [(i, n, p) for i, (n, _, p) in enumerate(BAD)]
)
def test_a_bad_value_stops_varsel_serve_in_one_line(
    refusals: dict[int, tuple[int, str, Path]], case: int, name: str, problem: str
) -> None:
    returncode, stderr, data = refusals[case]
    assert returncode == 1, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert name in lines[0] and problem in lines[0], lines[0]
    assert not (data / "varsel.sqlite3").exists()  # stopped before touching the database


def test_other_commands_refuse_a_bad_value_the_same_way(tmp_path: Path) -> None:
    done = _varsel("org", "list", env=_clean_env(tmp_path, VARSEL_SIGHTING_K="1"))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "VARSEL_SIGHTING_K must be at least 2" in lines[0]


def test_settings_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARSEL_SIGHTING_K", "5")
    monkeypatch.setenv("VARSEL_SMTP_HOST", "relay.example")
    monkeypatch.setenv("VARSEL_SMTP_USER", "hub")
    monkeypatch.setenv("VARSEL_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("VARSEL_WEBHOOK_HOSTS", "Hooks.Example, chat.example:8443")
    settings = config.current()
    assert settings.sighting_k == 5
    assert settings.smtp.host == "relay.example" and settings.smtp.user == "hub"
    assert settings.webhook_hosts == (("hooks.example", None), ("chat.example", 8443))
    assert "s3cret" not in repr(settings) and SECRET not in repr(settings)
    monkeypatch.setenv("VARSEL_SIGHTING_K", "7")  # a changed environment changes nothing
    assert config.current() is settings and config.current().sighting_k == 5


def test_every_field_names_its_variable() -> None:
    assert set(config.ENV_NAMES) == {f.name for f in dataclasses.fields(config.Settings)}
    assert set(config.SMTP_ENV_NAMES) == {f.name for f in dataclasses.fields(config.SmtpSettings)}


# Where the package may touch the environment outside config.py, and why:
# - the command line *writes* VARSEL_DATABASE_URL and VARSEL_SECRET_KEY for the server's worker
#   processes (``varsel serve --workers N``), which read them back through config.Settings;
# - typer options name the variable they also accept, so that ``--help`` shows it: the
#   database URL (the same variable Settings reads) and two client-side credentials that are
#   no setting of the hub (the token of ``--url``, the demo users' password).
ENV_WRITE = re.compile(r'os\.environ\["VARSEL_[A-Z_]+"\] = ')
# - backup and restore run pg_dump/pg_restore/psql with the caller's environment plus
#   PGPASSWORD (so the password is never on a command line): a child's environment, no setting.
CHILD_ENV = ("varsel/backup/_postgres.py", "env = dict(os.environ)")
OPTION_ENVVARS = {"VARSEL_DATABASE_URL", "VARSEL_TOKEN", "VARSEL_DEMO_PASSWORD"}


def _sources() -> Iterator[tuple[Path, int, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            yield path, number, line


def test_no_module_but_config_reads_the_environment() -> None:
    reads = re.compile(r"\bos\.environ\b|\bgetenv\b|\bfrom os import\b.*\benviron\b|\bputenv\b")
    found = []
    for path, number, line in _sources():
        where = path.relative_to(PACKAGE.parent)
        if path.name == "config.py" and path.parent == PACKAGE:
            continue
        allowed = (where.parts[1] == "cli" and ENV_WRITE.search(line)) or (
            (str(where), line.strip()) == CHILD_ENV
        )
        if reads.search(line) and not allowed:
            found.append(f"{where}:{number}: {line.strip()}")
        for name in re.findall(r'envvar="([A-Z_]+)"', line):
            if name not in OPTION_ENVVARS:
                found.append(f"{where}:{number}: option reads {name}; read it in config.py")
    assert not found, "read settings in varsel/config.py:\n" + "\n".join(found)


def test_the_readme_lists_every_variable_with_its_default() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `VARSEL_")]
    listed: dict[str, str] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 3 and cells[1] and cells[2], row  # variable | default | meaning
        for name in re.findall(r"`(VARSEL_[A-Z_]+)`", cells[0]):
            listed[name] = row
    used = {
        name
        for _, _, line in _sources()
        for name in re.findall(r"VARSEL_[A-Z_]*[A-Z](?![A-Z_*])", line)
        if not line.lstrip().startswith("#")
    }
    wanted = used | set(config.ENV_NAMES.values()) | set(config.SMTP_ENV_NAMES.values())
    assert sorted(wanted - set(listed)) == []


class _Relay:
    """An SMTP relay that wants a login, as most do."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, bytes]] = []
        self.logins: list[bytes] = []

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data == (b"hub", b"relay-pass")
        if ok:
            self.logins.append(auth_data.login)
        return AuthResult(success=ok)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.mail_from, envelope.rcpt_tos[0], envelope.content))
        return "250 OK"


def test_both_senders_use_the_one_smtp_setting(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = _Relay()
    port = _free_port()
    controller = Controller(
        relay,
        hostname="127.0.0.1",
        port=port,
        authenticator=relay.authenticate,
        auth_require_tls=False,
    )
    smtp = {
        "VARSEL_SMTP_HOST": "127.0.0.1",
        "VARSEL_SMTP_PORT": str(port),
        "VARSEL_SMTP_FROM": "varsel@hub.example",
        "VARSEL_SMTP_USER": "hub",
        "VARSEL_SMTP_PASSWORD": "relay-pass",
    }
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.user(s, "sec@fjordnett.example", "Fjordnett AS", role="org-admin", password=None)
        ola = clearances.add_person(
            session=s, principal=None, name="Ola", nationality="NO", employer="Fjordnett AS"
        )
        clearances.add_clearance(
            session=s,
            principal=None,
            person=ola,
            country="NO",
            level="HEMMELIG",
            authority="NSM",
            valid_from=date(2025, 1, 1),
            valid_until=date.today() + timedelta(days=5),
        )
        s.commit()
    controller.start()
    try:
        # Clearance expiry warnings, as the operator's cron job sends them.
        env = _clean_env(
            tmp_path,
            VARSEL_DATABASE_URL=hub.settings.database_url,
            VARSEL_ACCREDITATION_CEILING="NO:HEMMELIG",
            COLUMNS="200",
            **smtp,
        )
        done = _varsel("clearance", "notify", env=env)
        assert done.returncode == 0, done.stderr
        assert "email, sent" in done.stdout, done.stdout
        # Incident notifications, from the same settings.
        for name, value in smtp.items():
            monkeypatch.setenv(name, value)
        config.use(None)  # as a new process reads them
        notify.send_email(
            notify.NotifySettings.from_config(), "soc@pilvi.example", "deadline", "text"
        )
    finally:
        controller.stop()
    assert relay.logins == [b"hub", b"hub"]
    assert [(sender, to) for sender, to, _ in relay.messages] == [
        ("varsel@hub.example", "sec@fjordnett.example"),
        ("varsel@hub.example", "soc@pilvi.example"),
    ]
