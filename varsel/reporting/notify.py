"""Send deadline notifications by e-mail (SMTP) and by webhook (HMAC-signed JSON POST).

Receivers verify a webhook by recomputing ``HMAC-SHA256(secret, timestamp + "." + body)`` and
comparing it with the ``X-Varsel-Signature: sha256=<hex>`` header; the timestamp header lets
them refuse replays. Neither channel carries the incident's title or summary, only its number,
the stage, the authority and the deadline, so a mis-addressed notice leaks no TLP content.

A webhook URL is a request the hub makes on a user's behalf, so it may only name a host a
hub operator allow-listed in ``VARSEL_WEBHOOK_HOSTS`` (comma-separated ``host[:port]``; empty
allows none). The list is checked when the URL is set and again when sending, when the name is
also resolved: a name must resolve to public addresses only (an internal receiver is listed by
its IP address), and the request goes to the address that was checked.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import smtplib
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from varsel import config, mail
from varsel.config import SmtpSettings, WebhookHosts
from varsel.errors import InvalidInput, UpstreamFailed

_DEFAULT_PORTS = {"http": 80, "https": 443}


class WebhookRefused(InvalidInput, ValueError):
    """A webhook URL or the allow-list itself is not acceptable; the message says why."""


def webhook_hosts(raw: str | None = None) -> WebhookHosts:
    """Return the allow-listed webhook hosts (the hub's ``VARSEL_WEBHOOK_HOSTS`` unless ``raw``
    is given)."""
    if raw is None:
        return config.current().webhook_hosts
    try:
        return config.parse_webhook_hosts(raw)
    except config.ConfigError as exc:
        raise WebhookRefused(str(exc)) from None


def check_webhook(url: str, allowed: WebhookHosts) -> tuple[str, str, int]:
    """Return (scheme, host, port) of ``url`` if an allow-list entry names its host and port.

    An entry without a port allows the scheme's default port only (80, 443).
    """
    try:
        parsed = urlsplit(url)
        host, port = parsed.hostname, parsed.port
    except ValueError:
        raise WebhookRefused("the webhook URL is malformed") from None
    if parsed.scheme not in _DEFAULT_PORTS or not host:
        raise WebhookRefused("a webhook URL must start with http:// or https:// and name a host")
    if parsed.username is not None or parsed.password is not None:
        raise WebhookRefused("a webhook URL may not carry a user name or password")
    port = port or _DEFAULT_PORTS[parsed.scheme]
    if not allowed:
        raise WebhookRefused(
            "webhooks are turned off on this hub: a hub-admin allows receiving hosts in "
            "VARSEL_WEBHOOK_HOSTS"
        )
    for entry_host, entry_port in allowed:
        if entry_host == host and (entry_port or _DEFAULT_PORTS[parsed.scheme]) == port:
            return parsed.scheme, host, port
    names = ", ".join(h if p is None else f"{h}:{p}" for h, p in allowed)
    raise WebhookRefused(
        f"{host}:{port} is not among the webhook hosts a hub-admin allowed "
        f"(VARSEL_WEBHOOK_HOSTS: {names})"
    )


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve_webhook(host: str, port: int) -> str:
    """Return the address to connect to for an allow-listed ``host``.

    An IP address listed as such is used as it is; a name must resolve to public addresses
    only, so a name an attacker controls cannot be pointed at the hub's own network.
    """
    if _literal(host) is not None:
        return host
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise WebhookRefused(f"the webhook host {host} does not resolve") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    inside = [str(a) for a in addresses if not a.is_global or a.is_multicast]
    if not addresses or inside:
        raise WebhookRefused(
            f"the webhook host {host} resolves to a non-public address ({', '.join(inside)}); "
            "list an internal receiver by its IP address in VARSEL_WEBHOOK_HOSTS"
        )
    return str(addresses[0])


@dataclass(frozen=True)
class NotifySettings:
    """Where and how notifications go: the hub's SMTP relay and its webhook settings."""

    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_hosts: WebhookHosts = ()
    timeout: float = 10.0

    @classmethod
    def from_config(cls, settings: config.Settings | None = None) -> NotifySettings:
        """Return the notification settings of ``settings`` (the process's by default)."""
        settings = settings or config.current()
        return cls(
            smtp=settings.smtp,
            webhook_secret=settings.webhook_secret,
            webhook_hosts=settings.webhook_hosts,
        )


class DeliveryFailed(UpstreamFailed):
    """A notification could not be delivered; the message is safe to log."""


def sign(body: bytes, secret: str, timestamp: str) -> str:
    """Return the signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(body: bytes, secret: str, timestamp: str, signature: str) -> bool:
    """Return whether ``signature`` is valid for ``body`` at ``timestamp`` (for receivers)."""
    return hmac.compare_digest(sign(body, secret, timestamp), signature)


def send_email(settings: NotifySettings, to: str, subject: str, text: str) -> None:
    """Send one plain-text e-mail through the configured SMTP relay."""
    if not settings.smtp.host:
        raise DeliveryFailed("no SMTP host configured (VARSEL_SMTP_HOST)")
    try:
        mail.send(settings.smtp, to=to, subject=subject, text=text, timeout=settings.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP delivery to {to} failed: {type(exc).__name__}") from None


def post_webhook(settings: NotifySettings, url: str, payload: dict[str, Any]) -> None:
    """POST ``payload`` as signed JSON to an allow-listed ``url``; non-2xx is a failure."""
    if not settings.webhook_secret:
        raise DeliveryFailed("no webhook secret configured (VARSEL_WEBHOOK_SECRET)")
    try:
        scheme, host, port = check_webhook(url, settings.webhook_hosts)
        address = resolve_webhook(host, port)
    except WebhookRefused as exc:
        raise DeliveryFailed(f"webhook refused: {exc}") from None
    parsed = urlsplit(url)
    # Connect to the address that was checked, not to a second lookup of the name; the name
    # still goes in Host and in TLS (SNI and certificate check).
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    target = urlunsplit((scheme, netloc, parsed.path or "/", parsed.query, ""))
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    stamp = str(int(time.time()))
    default = port == _DEFAULT_PORTS[scheme]
    headers = {
        "Host": (f"[{host}]" if ":" in host else host) + ("" if default else f":{port}"),
        "Content-Type": "application/json",
        "X-Varsel-Timestamp": stamp,
        "X-Varsel-Signature": sign(body, settings.webhook_secret, stamp),
    }
    try:
        with httpx.Client(timeout=settings.timeout, follow_redirects=False) as client:
            response = client.post(
                target, content=body, headers=headers, extensions={"sni_hostname": host}
            )
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook POST failed: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"webhook answered {response.status_code}")
