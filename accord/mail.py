"""Sending email: sign-in links (and, through the outbox, notifications) by SMTP, with aiosmtplib.

Configured by ACCORD_SMTP_HOST, _PORT, _USERNAME, _PASSWORD, _FROM and _TLS. Every message has a plain
text part and an HTML part.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import structlog
from pydantic import BaseModel

from accord.config import Settings
from events.errors import ConfigurationError, Unavailable

log = structlog.get_logger("accord.mail")

__all__ = ["CHANNELS", "Mail", "can_send", "channel", "send"]

CHANNELS = ("email", "webhook", "none")
"""How a member may have a kind of notification delivered."""


def channel(delivery: dict[str, str], kind: str, *, webhook: bool, email: bool) -> str:
    """How a notification of `kind` goes: as the member chose for it (or for every kind), else by webhook
    where one is set, else by email where an address is; "none" when the chosen way is not set up."""
    chosen = delivery.get(kind) or delivery.get("*") or ("webhook" if webhook else "email" if email else "none")
    if (chosen == "webhook" and not webhook) or (chosen == "email" and not email):
        return "none"
    return chosen


class Mail(BaseModel):
    to: str
    subject: str
    text: str
    html: str


def can_send(settings: Settings) -> bool:
    return bool(settings.smtp_host)


async def send(settings: Settings, mail: Mail) -> None:
    """Hand `mail` to the configured mail server; Unavailable (with the server's reason) when it cannot."""
    if not settings.smtp_host:
        raise ConfigurationError("this server sends no email: ACCORD_SMTP_HOST is not set")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.smtp_from, mail.to, mail.subject
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            use_tls=settings.smtp_tls == "tls",
            start_tls=settings.smtp_tls == "starttls",
            timeout=30,
        )
    except (aiosmtplib.SMTPException, OSError) as error:
        log.warning("mail not sent", to_domain=mail.to.rpartition("@")[2], error=str(error))
        raise Unavailable(f"the mail server {settings.smtp_host}:{settings.smtp_port} did not take the message: {error}") from None
    log.info("mail sent", to_domain=mail.to.rpartition("@")[2], subject=mail.subject)
