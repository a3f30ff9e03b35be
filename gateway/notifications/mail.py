"""E-mail notifications to an organisation's team mailbox over SMTP (aiosmtplib); settings GATEWAY_SMTP_*."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from gateway.settings import Settings

__all__ = ["MailResult", "Mailer"]


@dataclass(frozen=True)
class MailResult:
    """What handing one message to the SMTP server came to: None, or a short error code (never the reply text)."""

    error: str | None
    status_code: int | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None


class Mailer:
    """Sends plain-text notifications through the configured SMTP server; off while GATEWAY_SMTP_HOST is empty."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def enabled(self) -> bool:
        return bool(self._settings.smtp_host)

    def message(self, *, to: str, subject: str, text: str, message_id: str) -> EmailMessage:
        """The message as sent: a Message-ID stable across retries, so a mail client can show one copy."""
        settings = self._settings
        domain = settings.smtp_from.rpartition("@")[2] or "gateway.invalid"
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{message_id}@{domain}>"
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies back to the gateway
        message.set_content(text)
        return message

    async def send(self, *, to: str, subject: str, text: str, message_id: str) -> MailResult:
        """Hand one message to the SMTP server; a failure comes back as a short code to retry on."""
        settings = self._settings
        if not self.enabled:
            return MailResult(error="smtp-off")
        message = self.message(to=to, subject=subject, text=text, message_id=message_id)
        try:
            async with asyncio.timeout(settings.smtp_timeout_seconds):
                await aiosmtplib.send(
                    message,
                    hostname=settings.smtp_host,
                    port=settings.smtp_port,
                    username=settings.smtp_username or None,
                    password=settings.smtp_password or None,
                    use_tls=settings.smtp_port == 465,
                    start_tls=settings.smtp_starttls if settings.smtp_port != 465 else False,
                    timeout=settings.smtp_timeout_seconds,
                )
        except (TimeoutError, OSError, aiosmtplib.SMTPException) as error:
            return _failure(error)
        return MailResult(error=None, status_code=250)


def _failure(error: Exception) -> MailResult:
    """A short code for why the SMTP server did not take the message; its reply text may quote the address."""
    if isinstance(error, TimeoutError | aiosmtplib.SMTPTimeoutError):
        return MailResult(error="smtp-timeout")
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in error.recipients]
        return MailResult(error="smtp-refused", status_code=codes[0] if codes else None)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return MailResult(error=f"smtp-{error.code}", status_code=error.code)
    if isinstance(error, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
        return MailResult(error="smtp-connect")
    return MailResult(error="smtp-error")
