"""Hub configuration, read from the environment (``VARSEL_*``) and overridable by CLI flags."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path


def default_data_dir() -> Path:
    """Return the data directory: ``VARSEL_DATA_DIR`` or ``./data`` under the working directory."""
    return Path(os.environ.get("VARSEL_DATA_DIR", Path.cwd() / "data"))


def _default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'varsel.sqlite3'}"


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


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Everything a hub needs to run; immutable once built."""

    database_url: str = field(
        default_factory=lambda: os.environ.get("VARSEL_DATABASE_URL") or _default_database_url()
    )
    secret_key: str = field(default_factory=_secret_key, repr=False)
    host: str = field(default_factory=lambda: os.environ.get("VARSEL_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _int_env("VARSEL_PORT", 8000))
    title: str = field(default_factory=lambda: os.environ.get("VARSEL_TITLE", "Varsel hub"))
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
    secure_cookies: bool = field(
        default_factory=lambda: os.environ.get("VARSEL_SECURE_COOKIES", "") in {"1", "true", "yes"}
    )

    def with_(self, **changes: object) -> Settings:
        """Return a copy with ``changes`` applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]
