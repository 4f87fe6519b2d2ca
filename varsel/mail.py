"""Send one plain-text e-mail through the hub's SMTP relay: the one sender every domain uses.

The relay is ``varsel.config.SmtpSettings`` (``VARSEL_SMTP_*``): host and port, the sender
address, STARTTLS, and a login when both a user and a password are set.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from varsel.config import SmtpSettings


def send(smtp: SmtpSettings, *, to: str, subject: str, text: str, timeout: float) -> None:
    """Send ``text`` to ``to``; raise OSError or ``smtplib.SMTPException`` when it fails."""
    if not smtp.host:
        raise ValueError("no SMTP host configured (VARSEL_SMTP_HOST)")
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as client:
        if smtp.starttls:
            client.starttls()
        if smtp.user and smtp.password:
            client.login(smtp.user, smtp.password)
        client.send_message(message)
