"""The catalog as one member sees it, with whether each reward may be ordered now and why not.

``catalog.item_of`` knows the reward's own state (activity, stock, gating); this adds what depends
on the member's orders and balance: the per-member limit already reached (``member_limit_reached``)
and a price above the points available (``insufficient_balance``). The cabinet's pages and the shop
API both list through here, so the reasons have one owner.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from bonusbridge.rewards import cart, catalog, errors


def _refine(
    item: catalog.CatalogItem, row: Any, facts: catalog.MemberFacts, before: int
) -> catalog.CatalogItem:
    if not item.orderable:
        return item
    lang = facts.language
    if row.per_member_limit is not None and before >= row.per_member_limit:
        message = errors.MemberLimitReached(
            name=item.name, limit=row.per_member_limit, already=before
        ).user_message(lang)
        return replace(
            item, orderable=False, reason="member_limit_reached", threshold=str(row.per_member_limit),
            message=message,
        )  # fmt: skip
    if row.points_price > facts.available:
        message = errors.NotEnoughPoints(
            needed=str(row.points_price), available=str(facts.available)
        ).user_message(lang)
        return replace(
            item, orderable=False, reason="insufficient_balance", threshold=str(row.points_price),
            message=message,
        )  # fmt: skip
    return item


def for_member(
    conn: Connection,
    customer_id: int,
    facts: catalog.MemberFacts,
    now: datetime,
    *,
    category: str | None = None,
) -> list[catalog.CatalogItem]:
    """The rewards listed to the member (visible, in their country and language), each explained."""
    query = select(catalog.rewards).order_by(
        catalog.rewards.c.category, catalog.rewards.c.points_price, catalog.rewards.c.id
    )
    if category:
        query = query.where(catalog.rewards.c.category == category)
    rows = [row for row in conn.execute(query) if catalog.visible(row, now) and catalog.shown_to(row, facts)]
    before = cart.bought_before(conn, customer_id, [row.id for row in rows])
    return [_refine(catalog.item_of(row, facts, now), row, facts, before.get(row.id, 0)) for row in rows]


def one_for_member(
    conn: Connection, customer_id: int, reward_id: int, facts: catalog.MemberFacts, now: datetime
) -> catalog.CatalogItem:
    """One reward for the member, also one not listed to them (another country or language: the
    reason says so); a reward no longer visible is refused as such."""
    row = conn.execute(select(catalog.rewards).where(catalog.rewards.c.id == reward_id)).first()
    if row is None:
        raise errors.UnknownReward()
    if not catalog.visible(row, now):
        raise errors.RewardNotVisible(name=catalog.name_of(row, facts.language))
    before = cart.bought_before(conn, customer_id, [row.id]).get(row.id, 0)
    return _refine(catalog.item_of(row, facts, now), row, facts, before)
