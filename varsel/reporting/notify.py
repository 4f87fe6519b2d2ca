"""Send deadline notifications by e-mail (SMTP) and by webhook (HMAC-signed JSON POST).

Receivers verify a webhook by recomputing ``HMAC-SHA256(secret, timestamp + "." + body)`` and
comparing it with the ``X-Varsel-Signature: sha256=<hex>`` header; the timestamp header lets
them refuse replays. Neither channel carries the incident's title or summary, only its number,
the stage, the authority and the deadline, so a mis-addressed notice leaks no TLP content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx


@dataclass(frozen=True)
class NotifySettings:
    """Where and how notifications go; read from ``VARSEL_SMTP_*`` and ``VARSEL_WEBHOOK_*``."""

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "varsel@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    webhook_secret: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_env(cls) -> NotifySettings:
        """Return settings from the environment."""
        port = os.environ.get("VARSEL_SMTP_PORT") or "25"
        if not port.isdigit():
            raise SystemExit(f"VARSEL_SMTP_PORT must be an integer, got {port!r}")
        return cls(
            smtp_host=os.environ.get("VARSEL_SMTP_HOST") or None,
            smtp_port=int(port),
            smtp_from=os.environ.get("VARSEL_SMTP_FROM") or "varsel@localhost",
            smtp_user=os.environ.get("VARSEL_SMTP_USER") or None,
            smtp_password=os.environ.get("VARSEL_SMTP_PASSWORD") or None,
            smtp_starttls=os.environ.get("VARSEL_SMTP_STARTTLS", "") in {"1", "true", "yes"},
            webhook_secret=os.environ.get("VARSEL_WEBHOOK_SECRET") or None,
        )


class DeliveryFailed(Exception):
    """A notification could not be delivered; the message is safe to log."""


def sign(body: bytes, secret: str, timestamp: str) -> str:
    """Return the signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(body: bytes, secret: str, timestamp: str, signature: str) -> bool:
    """Return whether ``signature`` is valid for ``body`` at ``timestamp`` (for receivers)."""
    return hmac.compare_digest(sign(body, secret, timestamp), signature)


def send_email(settings: NotifySettings, to: str, subject: str, text: str) -> None:
    """Send one plain-text e-mail through the configured SMTP host."""
    if not settings.smtp_host:
        raise DeliveryFailed("no SMTP host configured (VARSEL_SMTP_HOST)")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user and settings.smtp_password:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP delivery to {to} failed: {type(exc).__name__}") from None


def post_webhook(settings: NotifySettings, url: str, payload: dict[str, Any]) -> None:
    """POST ``payload`` as signed JSON to ``url``; any non-2xx answer is a failure."""
    if not settings.webhook_secret:
        raise DeliveryFailed("no webhook secret configured (VARSEL_WEBHOOK_SECRET)")
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Varsel-Timestamp": stamp,
        "X-Varsel-Signature": sign(body, settings.webhook_secret, stamp),
    }
    try:
        response = httpx.post(
            url, content=body, headers=headers, timeout=settings.timeout, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook POST failed: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"webhook answered {response.status_code}")
