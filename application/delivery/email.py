"""Sends `send_email` steps' messages over SMTP (`SMTP_URL`, e.g. smtp://127.0.0.1:1025).

`smtp://` is plain SMTP, `smtp://…?starttls=true` upgrades with STARTTLS, `smtps://` is SMTP over
TLS; `user:password@` logs in. The Message-ID is chosen by the caller so that a message sent
twice (a retried activity whose first attempt's completion was lost) can be recognised as one.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_SENDER = "Byte Dashboard <no-reply@bytedash.invalid>"


@dataclass(frozen=True)
class OutgoingEmail:
    to: list[str]
    subject: str
    body: str
    message_id: str
    cc: list[str] | None = None
    sender: str | None = None


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    default_sender: str = DEFAULT_SENDER

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {url!r}")
        if not parts.hostname:
            raise ValueError(f"SMTP_URL {url!r} names no host")
        query = parse_qs(parts.query)
        tls = parts.scheme == "smtps"
        sender = query.get("from", [DEFAULT_SENDER])[0]
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            starttls=query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            default_sender=sender,
        )


class SmtpMailer:
    """One connection per message: steps send rarely, and a fresh connection never goes stale."""

    def __init__(self, settings: SmtpSettings, *, timeout: float = 15.0) -> None:
        self.settings = settings
        self._timeout = timeout

    def send(self, email: OutgoingEmail) -> str:
        """Deliver `email`; returns its Message-ID, raises on any failure to hand it over."""
        message = EmailMessage()
        message["From"] = email.sender or self.settings.default_sender
        message["To"] = ", ".join(email.to)
        if email.cc:
            message["Cc"] = ", ".join(email.cc)
        message["Subject"] = email.subject
        message["Message-ID"] = email.message_id
        message.set_content(email.body)
        s = self.settings
        smtp: smtplib.SMTP
        if s.tls:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=self._timeout)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=self._timeout)
        with smtp:
            if s.starttls:
                smtp.starttls()
            if s.username:
                smtp.login(s.username, s.password or "")
            smtp.send_message(message)
        return email.message_id
