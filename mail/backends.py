"""Where e-mails go: the console backend (embedded default: printed and appended to a JSON-lines
file, read by ``/dev/mail``) or an SMTP server through the standard library's ``smtplib`` (STARTTLS
or implicit TLS, AUTH), with a timeout on every step.

A send either succeeds, or raises ``NotSent`` (surely not delivered: the server refused or was
unreachable before the message's data was accepted — retried later), or ``Unconfirmed`` (the
connection failed after the data left: the server may have accepted it, so it is never sent again).
"""

from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from mail.settings import MailSettings


class NotSent(Exception):
    pass


class Unconfirmed(Exception):
    pass


class MailBackend(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class ConsoleBackend:
    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: EmailMessage) -> None:
        text = message.get_body(("plain",))
        record = {
            "message_id": message["Message-ID"],
            "to": message["To"],
            "subject": message["Subject"],
            "text": text.get_content() if text is not None else "",
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(f"[mail] to {record['to']}: {record['subject']}", flush=True)


def read_console_outbox(path: Path, limit: int = 50) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-limit:]
    return [json.loads(line) for line in reversed(lines) if line.strip()]


class SmtpBackend:
    def __init__(self, settings: MailSettings, *, tls_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.tls_context = tls_context or ssl.create_default_context()

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        data_sent = False
        try:
            smtp: smtplib.SMTP
            if s.smtp_ssl:
                smtp = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds, context=self.tls_context
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
            with smtp:
                smtp.ehlo()
                if s.smtp_starttls and not s.smtp_ssl:
                    smtp.starttls(context=self.tls_context)
                    smtp.ehlo()
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                data_sent = True
                refused = smtp.send_message(message)
                if refused:
                    raise NotSent(f"recipients refused: {sorted(refused)}")
        except NotSent:
            raise
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise NotSent(f"{type(exc).__name__}: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            if data_sent and not isinstance(exc, smtplib.SMTPAuthenticationError):
                raise Unconfirmed(f"{type(exc).__name__}: {exc}") from exc
            raise NotSent(f"{type(exc).__name__}: {exc}") from exc


def build_backend(settings: MailSettings) -> MailBackend:
    if settings.backend == "smtp":
        return SmtpBackend(settings)
    return ConsoleBackend(Path(settings.console_file))
