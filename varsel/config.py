"""Hub configuration: every ``VARSEL_*`` environment variable, read once into :class:`Settings`.

This is the only module of the package that reads the environment (tests/test_config.py checks
it; the CLI's ``--database-url``/``--token`` options name their variable for ``--help``). A
value that cannot be used raises :class:`ConfigError` with one line naming the variable, when
the settings are built at start-up, never later in a request. The clearance rules check what
needs their tables (the accreditation ceiling, the agreements file) in
``varsel.clearances.rules.check_configuration``.

The application (``create_app``) and the command line (``settings_for``) install the process's
settings with :func:`use`; domain modules read them with :func:`current`, and tests override
them the same way. Kept cheap to import: ``varsel --help`` must start fast.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from varsel.errors import Misconfigured

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

WebhookHosts = tuple[tuple[str, int | None], ...]


class ConfigError(Misconfigured, ValueError):
    """A setting cannot be used; the message is one line and names the variable."""


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _int_env(name: str, default: int) -> int:
    raw = _env(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _bool_env(name: str, default: bool) -> bool:
    raw = _env(name).lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    # A typo must not silently turn a protection (TLS cookies, STARTTLS) off.
    raise ConfigError(f"{name} must be one of 1/true/yes/on or 0/false/no/off, got {raw!r}")


def default_data_dir() -> Path:
    """Return the data directory: ``VARSEL_DATA_DIR`` or ``./data`` under the working directory."""
    return Path(_env("VARSEL_DATA_DIR") or Path.cwd() / "data")


def _default_database_url() -> str:
    return _env("VARSEL_DATABASE_URL") or f"sqlite:///{default_data_dir() / 'varsel.sqlite3'}"


def _secret_key() -> str:
    """Return the secret key, creating and keeping one in the data directory if none is set."""
    if key := os.environ.get("VARSEL_SECRET_KEY"):
        return key
    path = default_data_dir() / "secret.key"
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Created with 0600 so that only the hub's user can read the key that signs cursors/sessions.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
    return key


def parse_webhook_hosts(text: str) -> WebhookHosts:
    """Return the (lower-case host, port or None) entries of a ``host[:port],…`` list."""
    found: list[tuple[str, int | None]] = []
    for entry in text.split(","):
        item = entry.strip().lower()
        if not item:
            continue
        problem = ConfigError(f"VARSEL_WEBHOOK_HOSTS: {entry.strip()!r} is not host[:port]")
        if "/" in item or "@" in item or " " in item:
            raise problem
        try:
            parsed = urlsplit(f"//{item}")
            host, port = parsed.hostname, parsed.port
        except ValueError:
            raise problem from None
        if not host:
            raise problem
        found.append((host, port))
    return tuple(found)


def _webhook_hosts() -> WebhookHosts:
    return parse_webhook_hosts(_env("VARSEL_WEBHOOK_HOSTS"))


def _agreements_path() -> Path | None:
    raw = _env("VARSEL_SECURITY_AGREEMENTS")
    return Path(raw) if raw else None


def _warninglist_mode() -> Literal["warn", "refuse"]:
    raw = _env("VARSEL_WARNINGLIST_MODE").lower() or "warn"
    if raw == "warn":
        return "warn"
    if raw == "refuse":
        return "refuse"
    raise ConfigError(f"VARSEL_WARNINGLIST_MODE must be 'warn' or 'refuse', got {raw!r}")


_HUB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _hub_name() -> str:
    """Return ``VARSEL_HUB_NAME`` or the host name (its first label if it is not a valid name)."""
    if name := _env("VARSEL_HUB_NAME"):
        return name
    host = socket.gethostname() or "varsel"
    return host if _HUB_NAME.fullmatch(host) else host.split(".")[0] or "varsel"


def _warninglist_helper() -> bool:
    # The helper only pays off when another core can run it beside the server.
    return _bool_env("VARSEL_WARNINGLIST_HELPER", (os.cpu_count() or 1) > 1)


@dataclass(frozen=True)
class SmtpSettings:
    """The one SMTP relay every e-mail of the hub goes through (``VARSEL_SMTP_*``)."""

    host: str | None = None
    port: int = 25
    sender: str = "varsel@localhost"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False

    @classmethod
    def from_env(cls) -> SmtpSettings:
        """Return the SMTP settings of the environment."""
        return cls(
            host=_env("VARSEL_SMTP_HOST") or None,
            port=_int_env("VARSEL_SMTP_PORT", 25),
            sender=_env("VARSEL_SMTP_FROM") or "varsel@localhost",
            user=_env("VARSEL_SMTP_USER") or None,
            password=os.environ.get("VARSEL_SMTP_PASSWORD") or None,
            starttls=_bool_env("VARSEL_SMTP_STARTTLS", False),
        )

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"VARSEL_SMTP_PORT must be a port 1-65535, got {self.port}")


@dataclass(frozen=True)
class Settings:
    """Everything a hub needs to run; immutable once built, validated when built."""

    database_url: str = field(default_factory=_default_database_url)
    secret_key: str = field(default_factory=_secret_key, repr=False)
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = field(default_factory=lambda: _env("VARSEL_HOST") or "127.0.0.1")
    port: int = field(default_factory=lambda: _int_env("VARSEL_PORT", 8000))
    title: str = field(default_factory=lambda: _env("VARSEL_TITLE") or "Varsel hub")
    default_page_size: int = field(default_factory=lambda: _int_env("VARSEL_PAGE_SIZE", 100))
    max_page_size: int = field(default_factory=lambda: _int_env("VARSEL_MAX_PAGE_SIZE", 1000))
    max_content_length: int = field(
        default_factory=lambda: _int_env("VARSEL_MAX_CONTENT_LENGTH", 10 * 1024 * 1024)
    )
    # Password throttling per (account, address): free failures, then waits of 1, 2, 4… s up
    # to the ceiling (docs/access-policy.md).
    max_failed_logins: int = field(default_factory=lambda: _int_env("VARSEL_MAX_FAILED_LOGINS", 5))
    lockout_seconds: int = field(default_factory=lambda: _int_env("VARSEL_LOCKOUT_SECONDS", 900))
    # Failed authentications allowed per client address in a sliding minute.
    auth_failures_per_minute: int = field(
        default_factory=lambda: _int_env("VARSEL_AUTH_FAILURES_PER_MINUTE", 30)
    )
    secure_cookies: bool = field(default_factory=lambda: _bool_env("VARSEL_SECURE_COOKIES", False))
    smtp: SmtpSettings = field(default_factory=SmtpSettings.from_env)
    webhook_hosts: WebhookHosts = field(default_factory=_webhook_hosts)
    webhook_secret: str | None = field(
        default_factory=lambda: os.environ.get("VARSEL_WEBHOOK_SECRET") or None, repr=False
    )
    # Raw text; varsel.clearances.rules parses it and check_configuration refuses a bad one.
    accreditation_ceiling: str = field(default_factory=lambda: _env("VARSEL_ACCREDITATION_CEILING"))
    # The file is read on every use (a registration takes effect at once); its name only here.
    security_agreements: Path | None = field(default_factory=_agreements_path)
    sighting_k: int = field(default_factory=lambda: _int_env("VARSEL_SIGHTING_K", 3))
    warninglist_mode: Literal["warn", "refuse"] = field(default_factory=_warninglist_mode)
    warninglist_helper: bool = field(default_factory=_warninglist_helper)
    # The name other hubs know this one by (docs/federation.md): in recipients (ORG@NAME), in
    # every version's signed provenance and in `varsel hub id`.
    hub_name: str = field(default_factory=_hub_name)
    # Run the federation worker inside `varsel serve` (varsel.federation.worker; a lease in the
    # database keeps it to one process however many serve the hub).
    federation: bool = field(default_factory=lambda: _bool_env("VARSEL_FEDERATION", True))
    # Run the alerts evaluator inside `varsel serve` every `alerts_interval` seconds
    # (varsel.alerts.worker; a lease keeps it to one process) and alert hub-admins of a
    # federation link lagging more than `alert_lag_seconds` (docs/alerts.md).
    alerts: bool = field(default_factory=lambda: _bool_env("VARSEL_ALERTS", True))
    alerts_interval: int = field(default_factory=lambda: _int_env("VARSEL_ALERTS_INTERVAL", 60))
    alert_lag_seconds: int = field(
        default_factory=lambda: _int_env("VARSEL_ALERT_LAG_SECONDS", 900)
    )

    def __post_init__(self) -> None:
        least = {
            "port": 1,
            "default_page_size": 1,
            "max_page_size": 1,
            "max_content_length": 1,
            "max_failed_logins": 0,
            "lockout_seconds": 1,
            "auth_failures_per_minute": 1,
            "alerts_interval": 1,
            "alert_lag_seconds": 1,
        }
        for name, bound in least.items():
            if getattr(self, name) < bound:
                raise ConfigError(
                    f"{ENV_NAMES[name]} must be at least {bound}, got {getattr(self, name)}"
                )
        if self.port > 65535:
            raise ConfigError(f"VARSEL_PORT must be a port 1-65535, got {self.port}")
        if self.sighting_k < 2:
            raise ConfigError(
                f"VARSEL_SIGHTING_K must be at least 2, got {self.sighting_k}: with one "
                "contributor an aggregate names its victim"
            )
        if not _HUB_NAME.fullmatch(self.hub_name):
            raise ConfigError(
                "VARSEL_HUB_NAME must be 1-100 letters, digits, '.', '_' or '-' starting with a "
                f"letter or digit, got {self.hub_name!r}"
            )
        if self.warninglist_mode not in ("warn", "refuse"):
            raise ConfigError(
                f"VARSEL_WARNINGLIST_MODE must be 'warn' or 'refuse', got {self.warninglist_mode!r}"
            )

    def with_(self, **changes: object) -> Settings:
        """Return a copy with ``changes`` applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


# The variable behind each field, for messages and for the README's table (tests check both).
ENV_NAMES = {
    "database_url": "VARSEL_DATABASE_URL",
    "secret_key": "VARSEL_SECRET_KEY",
    "data_dir": "VARSEL_DATA_DIR",
    "host": "VARSEL_HOST",
    "port": "VARSEL_PORT",
    "title": "VARSEL_TITLE",
    "default_page_size": "VARSEL_PAGE_SIZE",
    "max_page_size": "VARSEL_MAX_PAGE_SIZE",
    "max_content_length": "VARSEL_MAX_CONTENT_LENGTH",
    "max_failed_logins": "VARSEL_MAX_FAILED_LOGINS",
    "lockout_seconds": "VARSEL_LOCKOUT_SECONDS",
    "auth_failures_per_minute": "VARSEL_AUTH_FAILURES_PER_MINUTE",
    "secure_cookies": "VARSEL_SECURE_COOKIES",
    "smtp": "VARSEL_SMTP_HOST",  # and the rest of VARSEL_SMTP_* (SMTP_ENV_NAMES)
    "webhook_hosts": "VARSEL_WEBHOOK_HOSTS",
    "webhook_secret": "VARSEL_WEBHOOK_SECRET",
    "accreditation_ceiling": "VARSEL_ACCREDITATION_CEILING",
    "security_agreements": "VARSEL_SECURITY_AGREEMENTS",
    "sighting_k": "VARSEL_SIGHTING_K",
    "warninglist_mode": "VARSEL_WARNINGLIST_MODE",
    "warninglist_helper": "VARSEL_WARNINGLIST_HELPER",
    "hub_name": "VARSEL_HUB_NAME",
    "federation": "VARSEL_FEDERATION",
    "alerts": "VARSEL_ALERTS",
    "alerts_interval": "VARSEL_ALERTS_INTERVAL",
    "alert_lag_seconds": "VARSEL_ALERT_LAG_SECONDS",
}
SMTP_ENV_NAMES = {
    "host": "VARSEL_SMTP_HOST",
    "port": "VARSEL_SMTP_PORT",
    "sender": "VARSEL_SMTP_FROM",
    "user": "VARSEL_SMTP_USER",
    "password": "VARSEL_SMTP_PASSWORD",
    "starttls": "VARSEL_SMTP_STARTTLS",
}

_current: Settings | None = None


def current() -> Settings:
    """Return this process's settings (built from the environment on first use)."""
    global _current
    if _current is None:
        _current = Settings()
    return _current


def use(settings: Settings | None) -> Settings | None:
    """Make ``settings`` this process's settings; return the ones before (None: not yet built).

    ``use(None)`` makes the next :func:`current` read the environment again (tests).
    """
    global _current
    before, _current = _current, settings
    return before
