"""The sync's side of accounts per partner (``bonusbridge.ledger.accounts``).

In ``ut11`` 1C keeps bonuses per partner, so every card of a customer shares the customer's account
card: a card that 1C creates or gives to a partner joins the partner's account (points it held on
its own move onto the account, a transfer between cards of one partner that 1C is never sent), and
a card 1C takes from its partner becomes its own account again. In ``retail`` nothing happens here.
"""

from __future__ import annotations

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


__all__ = ["join_partner_account"]
