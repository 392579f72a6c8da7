"""Queueing an e-mail from the hub: a row of ``mail_messages`` in the caller's transaction. The
``mail/`` package renders its template and sends it at most once; the hub never imports it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select

from bonusbridge.rewards.models import MailMessage

mail_messages = cast(Table, MailMessage.__table__)


def queue_mail(
    conn: Connection,
    *,
    key: str,
    template: str,
    to: str,
    locale: str,
    params: dict[str, Any],
    now: datetime,
) -> int:
    """Queue once per ``key`` (asking again returns the first message's id)."""
    found = conn.execute(select(mail_messages.c.id).where(mail_messages.c.message_key == key)).first()
    if found is not None:
        return int(found.id)
    return int(
        conn.execute(
            insert(mail_messages)
            .values(
                message_key=key[:200],
                template=template,
                locale=locale if locale in ("ru", "en") else "ru",
                to_address=to,
                params=json.dumps(params, ensure_ascii=False, sort_keys=True, default=str),
                status="queued",
                attempts=0,
                created_at=now,
            )
            .returning(mail_messages.c.id)
        ).scalar_one()
    )
