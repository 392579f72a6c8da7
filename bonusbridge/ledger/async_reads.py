"""The ledger's balance read, awaited on an asyncio connection (the shop API on PostgreSQL).

The same statement and the same view as ``LedgerBook.balances`` (``book.balance_query`` and
``book.balance_views``): only the waiting differs, so an async web handler reads a balance without
a worker thread, and the two paths cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bonusbridge.ledger.book import balance_query, balance_views
from bonusbridge.ledger.records import BalanceView
from bonusbridge.ledger.statements import cards
from bonusbridge.models import CardStatus


async def card_balance(
    conn: AsyncConnection, card_id: int, *, now: datetime, expiring_within: timedelta
) -> tuple[CardStatus, BalanceView] | None:
    """The card's status and balance now, or None when the ledger does not know the card."""
    status = (await conn.execute(select(cards.c.status).where(cards.c.id == card_id))).scalar()
    if status is None:
        return None
    statement, params = balance_query([card_id], now=now, expiring_within=expiring_within)
    views = balance_views(await conn.execute(statement, params), now=now, horizon=params["horizon"])
    view = views.get(card_id)
    return None if view is None else (CardStatus(status), view)
