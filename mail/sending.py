"""Sending the outbox (``mail_messages``, queued by the hub in the transaction that asks): each
message is claimed (``queued`` → ``sending``) in its own committed step before the backend is
called, so a second worker or a redelivered task finds it claimed and does nothing. A surely-not-
sent failure puts it back with a growing delay (``failed`` after ``max_attempts``); an unconfirmed one
is never sent again. Every message carries its own ``Message-ID`` (the row's), so a receiving
server can tell a retry from a new message."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, cast

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Engine, Table, or_, select, update

from bonusbridge.rewards.models import MailMessage
from mail.backends import MailBackend, NotSent, Unconfirmed
from mail.settings import MailSettings
from mail.templates import render

table = cast(Table, MailMessage.__table__)
STALE_CLAIM = timedelta(minutes=10)


def supplier_link(settings: MailSettings, secret: str, supplier_id: int) -> str:
    """A signed link to the supplier's orders (its expiry is checked where it is opened)."""
    token = URLSafeTimedSerializer(secret, salt="supplier-login").dumps({"supplier": supplier_id})
    return f"{settings.base_url}/suppliers/login?token={token}"


@dataclass(frozen=True)
class Outcome:
    status: str | None
    retry_in: int | None = None


class MailSender:
    def __init__(
        self,
        engine: Engine,
        settings: MailSettings,
        backend: MailBackend,
        clock: Callable[[], datetime],
        *,
        link_secret: str = "dev-only-supplier-link-secret",
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.backend = backend
        self.clock = clock
        self.link_secret = link_secret

    def _claim(self, message_id: int) -> Any:
        now = self.clock()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(table)
                .where(
                    table.c.id == message_id,
                    table.c.status == "queued",
                    or_(table.c.not_before.is_(None), table.c.not_before <= now),
                )
                .values(status="sending", claimed_at=now, attempts=table.c.attempts + 1)
            )
            if done.rowcount != 1:
                return None
            return conn.execute(select(table).where(table.c.id == message_id)).one()

    def build(self, row: Any) -> EmailMessage:
        params: dict[str, Any] = {"base_url": self.settings.base_url, **json.loads(row.params)}
        if row.template == "order_to_fulfil":
            params["link"] = supplier_link(self.settings, self.link_secret, int(params["supplier"]))
        rendered = render(row.template, row.locale, params)
        message = EmailMessage()
        message["From"] = self.settings.from_address
        message["To"] = row.to_address
        message["Subject"] = rendered.subject
        domain = self.settings.from_address.rsplit("@", 1)[-1].rstrip(">") or "bonusbridge.local"
        message["Message-ID"] = row.message_id or make_msgid(idstring=f"mail-{row.id}", domain=domain)
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        return message

    def send(self, message_id: int) -> Outcome:
        row = self._claim(message_id)
        if row is None:
            return Outcome(None)
        email = self.build(row)
        now = self.clock()
        try:
            self.backend.send(email)
        except Unconfirmed as exc:
            self._settle(message_id, "unconfirmed", error=str(exc)[:1000], message_id=email["Message-ID"])
            return Outcome("unconfirmed")
        except NotSent as exc:
            if row.attempts >= self.settings.max_attempts:
                self._settle(message_id, "failed", error=str(exc)[:1000])
                return Outcome("failed")
            delay = min(30 * 2 ** (row.attempts - 1), 3600)
            with self.engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.id == message_id)
                    .values(
                        status="queued", not_before=now + timedelta(seconds=delay), last_error=str(exc)[:1000]
                    )
                )
            return Outcome("queued", retry_in=delay)
        self._settle(message_id, "sent", message_id=email["Message-ID"], sent_at=now)
        return Outcome("sent")

    def _settle(self, row_id: int, status: str, **values: Any) -> None:
        error = values.pop("error", None)
        if error is not None:
            values["last_error"] = error
        with self.engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == row_id).values(status=status, **values))

    def due_messages(self, limit: int = 500) -> list[int]:
        now = self.clock()
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(table.c.id)
                    .where(
                        table.c.status == "queued",
                        or_(table.c.not_before.is_(None), table.c.not_before <= now),
                    )
                    .order_by(table.c.id)
                    .limit(limit)
                ).scalars()
            )

    def release_stale_claims(self) -> int:
        """A worker that died between claim and send: the message is unconfirmed (it may have left)."""
        with self.engine.begin() as conn:
            return conn.execute(
                update(table)
                .where(table.c.status == "sending", table.c.claimed_at < self.clock() - STALE_CLAIM)
                .values(status="unconfirmed", last_error="the sending worker stopped after claiming it")
            ).rowcount

    def send_due(self) -> int:
        sent = 0
        for message_id in self.due_messages():
            if self.send(message_id).status == "sent":
                sent += 1
        return sent
