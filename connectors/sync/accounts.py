"""The sync's side of accounts per partner (``bonusbridge.ledger.accounts``).

In ``ut11`` 1C keeps bonuses per partner, so every card of a customer shares the customer's account
card: a card that 1C creates or gives to a partner joins the partner's account (points it held on
its own move onto the account, a transfer between cards of one partner that 1C is never sent), and
a card 1C takes from its partner becomes its own account again. In ``retail`` nothing happens here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bonusbridge.ledger import accounts
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import Card, Origin
from connectors.sync.context import SyncContext


def join_partner_account(ctx: SyncContext, session: Session, card: Card) -> None:
    """Put ``card`` on its partner's account (``ut11``), or on its own when it has no partner."""
    if not ctx.settings.balances_per_customer:
        return
    session.flush()  # the card's owner as the sync just set it
    if card.customer_id is None:
        accounts.leave_account(session.connection(), card.id)
        return
    book = LedgerBook(session.connection(), now=ctx.clock())
    accounts.share_customer_account(book, card.customer_id, origin=Origin.SYSTEM)


def share_all(ctx: SyncContext) -> int:
    """Put every customer's cards on the customer's account (``ut11``), one transaction per
    customer: for a hub that kept a balance per card before (migration 0018), so the partner's
    other cards stop showing 0. Returns how many customers had a card to put on their account; in
    ``retail`` does nothing. Idempotent."""
    if not ctx.settings.balances_per_customer:
        return 0
    with ctx.session_factory() as session:
        owners = [
            int(owner)
            for owner in session.scalars(
                select(Card.customer_id)
                .where(Card.customer_id.is_not(None), Card.account_card_id.is_(None))
                .distinct()
                .order_by(Card.customer_id)
            )
            if owner is not None
        ]
    for customer_id in owners:
        with ctx.session_factory() as session:
            book = LedgerBook(session.connection(), now=ctx.clock())
            accounts.share_customer_account(book, customer_id, origin=Origin.SYSTEM)
            session.commit()
    return len(owners)


__all__ = ["join_partner_account", "share_all"]
