"""E-mail through a real SMTP server the test starts (aiosmtpd, STARTTLS and AUTH), the outbox sent
at most once, and the console backend read by ``/dev/mail``."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine, select

from bonusbridge.rewards.mailbox import queue_mail
from bonusbridge.rewards.models import MailMessage
from mail.backends import ConsoleBackend, SmtpBackend, read_console_outbox
from mail.sending import MailSender
from mail.settings import MailSettings
from tests.conftest import FakeClock


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"shop"
        and auth_data.password == b"s3cret"
    )
    return AuthResult(success=ok)


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the test server, made by the openssl command."""
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key_file),
            "-out",
            str(cert_file),
        ],
        check=True,
        capture_output=True,
    )
    return cert_file, key_file


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[tuple[Inbox, int, ssl.SSLContext]]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test server's certificate")
    cert, key = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    )
    controller.start()
    client_tls = ssl.create_default_context(cafile=str(cert))
    client_tls.check_hostname = False
    try:
        yield inbox, controller.port, client_tls
    finally:
        controller.stop()


def _queue(db: Engine, clock: FakeClock, **extra: Any) -> int:
    with db.begin() as conn:
        return queue_mail(
            conn,
            key=extra.get("key", "order:1:placed"),
            template=extra.get("template", "order_placed"),
            to="anna@example.test",
            locale=extra.get("locale", "ru"),
            params={
                "order": 1,
                "points": "600.00",
                "cash": "0.00",
                "currency": "RUB",
                **extra.get("params", {}),
            },
            now=clock(),
        )


def test_sent_once_through_smtp_with_starttls_and_auth(
    db: Engine, clock: FakeClock, smtp_server: tuple[Inbox, int, ssl.SSLContext]
) -> None:
    inbox, port, tls = smtp_server
    settings = MailSettings(
        backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_username="shop",
        smtp_password="s3cret",
        from_address="Shop <shop@bonusbridge.test>",
    )
    sender = MailSender(db, settings, SmtpBackend(settings, tls_context=tls), clock)
    first = _queue(db, clock)
    assert _queue(db, clock) == first  # queued once per key
    assert sender.send(first).status == "sent"
    assert sender.send(first).status is None  # a second task finds it settled
    assert len(inbox.messages) == 1
    got = inbox.messages[0]
    assert got["Subject"] == "Заказ №1 принят" and got["To"] == "anna@example.test"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in got.walk()
        if not part.is_multipart()
    }
    assert "600.00 баллов" in parts["text/plain"] and "<p>" in parts["text/html"]
    with db.connect() as conn:
        row = conn.execute(select(MailMessage)).one()
    assert row.status == "sent" and row.message_id == got["Message-ID"]


def test_wrong_password_is_not_sent_and_retried(
    db: Engine, clock: FakeClock, smtp_server: tuple[Inbox, int, ssl.SSLContext]
) -> None:
    inbox, port, tls = smtp_server
    settings = MailSettings(
        backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_username="shop",
        smtp_password="wrong",
        smtp_timeout_seconds=2,
    )
    sender = MailSender(db, settings, SmtpBackend(settings, tls_context=tls), clock)
    message = _queue(db, clock, locale="en")
    outcome = sender.send(message)
    assert outcome.status == "queued" and outcome.retry_in == 30 and inbox.messages == []
    assert sender.due_messages() == []  # waits for its delay


def test_console_backend_and_dev_page(db: Engine, clock: FakeClock, tmp_path: Path) -> None:
    settings = MailSettings(console_file=str(tmp_path / "mail.jsonl"))
    sender = MailSender(db, settings, ConsoleBackend(Path(settings.console_file)), clock)
    _queue(db, clock, locale="en", key="a")
    _queue(db, clock, template="order_to_fulfil", key="b", params={"supplier": 3})
    assert sender.send_due() == 2
    seen = read_console_outbox(Path(settings.console_file))
    assert [m["subject"] for m in seen] == ["Новый заказ №1 к исполнению", "Order #1 received"]
    assert "/suppliers/login?token=" in seen[0]["text"]

    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from mail.web import mail_routes

    page = TestClient(Starlette(routes=mail_routes(settings))).get("/dev/mail")
    assert page.status_code == 200 and "Order #1 received" in page.text
