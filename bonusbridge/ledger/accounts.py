"""Which account a card's points live on: the one owner of that rule.

TigerBeetle keeps balances on *accounts*; a card is an alias of one. In the ``retail`` profile
(1C's bonus register is per card) every card is its own account: ``cards.account_card_id`` is NULL
and nothing here changes what the ledger did before. In ``ut11`` (the register's dimension is the
partner, ``Settings.balance_per == "customer"``) every card of a customer names one *account
card* of that customer, the account card itself included: each card shows and spends the
partner's points, a till receipt on any of them (merged or not) lands on the partner's balance,
and a merge of two cards of one partner only changes their statuses — there is nothing to move.

The account card of a customer is stable: once some of its cards name one, new cards join it (the
primary card, or the oldest card that is not blocked, only starts an account). Points a card held
on its own before joining move onto the account as a transfer between cards of the same partner,
which nets to zero for the partner in 1C (the sync does not deliver it, ``same_account_transfer``).

Every path that reads or moves points by card asks here: the ledger's operations and balance
reads (``LedgerBook``), the sync's documents and receipts, the order service, merges.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select, update

from bonusbridge import errors
from bonusbridge.ledger.statements import cards, movements
from bonusbridge.models import CardStatus, MovementKind, Origin

if TYPE_CHECKING:
    from bonusbridge.ledger.book import LedgerBook

#: ``Settings.balance_per`` values: a balance per card (retail) or per customer (УТ 11's partner).
PER_CARD = "card"
PER_CUSTOMER = "customer"

#: The reason written on the transfer that brings a card's own points onto its customer's account.
JOIN_REASON = "the card joins its partner's account (bonuses per partner)"

ACCOUNT_OF = select(
    func.coalesce(cards.c.account_card_id, cards.c.id), cards.c.status, cards.c.account_card_id
)


def resolve(conn: Connection, card_id: int) -> tuple[int, CardStatus, bool]:
    """The card's account card, the card's own status, and whether the account is shared (the
    card names an account: ``ut11``). Raises ``UnknownCard``."""
    row = conn.execute(ACCOUNT_OF.where(cards.c.id == card_id)).first()
    if row is None:
        raise errors.UnknownCard(card_id)
    return int(row[0]), CardStatus(row[1]), row[2] is not None


def account_card(conn: Connection, card_id: int) -> int:
    """The card whose balance holds ``card_id``'s points: the card itself unless it names an
    account (``ut11``: its partner's account card)."""
    return resolve(conn, card_id)[0]


def accounts_of(conn: Connection, card_ids: Iterable[int]) -> dict[int, int]:
    """``account_card`` for several cards in one query (unknown cards are left out)."""
    wanted = sorted(set(card_ids))
    if not wanted:
        return {}
    rows = conn.execute(
        select(cards.c.id, func.coalesce(cards.c.account_card_id, cards.c.id)).where(cards.c.id.in_(wanted))
    )
    return {int(card): int(account) for card, account in rows}


def customer_account(conn: Connection, customer_id: int) -> int | None:
    """The customer's account card in ``ut11``: the one its cards already name (the oldest such,
    should they disagree), else its primary card, else its oldest card that is not blocked, else
    its oldest card; None for a customer without cards."""
    rows = conn.execute(
        select(cards.c.id, cards.c.account_card_id, cards.c.is_primary, cards.c.status)
        .where(cards.c.customer_id == customer_id)
        .order_by(cards.c.id)
    ).all()
    if not rows:
        return None
    own = {row.id for row in rows}
    named = sorted({row.account_card_id for row in rows if row.account_card_id in own})
    if named:
        return int(named[0])
    primary = [row.id for row in rows if row.is_primary]
    if primary:
        return int(primary[0])
    usable = [row.id for row in rows if CardStatus(row.status) is not CardStatus.BLOCKED]
    return int((usable or [rows[0].id])[0])


def share_customer_account(
    book: LedgerBook, customer_id: int, *, origin: Origin = Origin.SYSTEM
) -> int | None:
    """Make every card of the customer an alias of the customer's account card (``ut11``), moving
    points a card held on its own onto the account first (each lot keeps its expiry date; held
    points stay with their hold until it is resolved). Idempotent: a second call changes nothing.
    Returns the account card (None: the customer has no card)."""
    conn = book.conn
    account = customer_account(conn, customer_id)
    if account is None:
        return None
    rows = conn.execute(
        select(cards.c.id, cards.c.account_card_id)
        .where(cards.c.customer_id == customer_id)
        .order_by(cards.c.id)
    ).all()
    for card_id, named in rows:
        if named == account:
            continue
        if named == card_id and _named_by_others(conn, card_id, customer_id):
            continue  # still the account of another partner's cards: their points are on it
        if card_id != account and named is None:
            # Keyed by the card's latest movement: one join per state of the card, however often asked.
            last = conn.scalar(select(func.max(movements.c.id)).where(movements.c.card_id == card_id)) or 0
            key = f"account:{account}:join:{card_id}:{last}"
            book.transfer_own_points(card_id, account, key=key, origin=origin)
        conn.execute(update(cards).where(cards.c.id == card_id).values(account_card_id=account))
    return account


def _named_by_others(conn: Connection, card_id: int, customer_id: int) -> bool:
    return (
        conn.execute(
            select(cards.c.id)
            .where(
                cards.c.account_card_id == card_id, cards.c.id != card_id, cards.c.customer_id != customer_id
            )
            .limit(1)
        ).first()
        is not None
    )


def follow_owner(book: LedgerBook, card_id: int) -> None:
    """After a card changed hands (a merge binding it, an unmerge): where its customer's cards share
    an account (ut11) the card joins it — its own points, if any, moving onto it —, a card nobody
    owns becomes its own account again, and where accounts are per card (retail: no card names
    one) nothing changes."""
    row = book.conn.execute(
        select(cards.c.account_card_id, cards.c.customer_id).where(cards.c.id == card_id)
    ).first()
    if row is None:
        return
    if row.customer_id is None:
        if row.account_card_id is not None:
            leave_account(book.conn, card_id)
        return
    shared = row.account_card_id is not None or (
        book.conn.execute(
            select(cards.c.id)
            .where(cards.c.customer_id == row.customer_id, cards.c.account_card_id.is_not(None))
            .limit(1)
        ).first()
        is not None
    )
    if shared:
        share_customer_account(book, int(row.customer_id))


def leave_account(conn: Connection, card_id: int) -> None:
    """A card that no longer belongs to the customer whose account it named becomes its own
    account again (its points stayed with the partner, as in 1C's register)."""
    conn.execute(
        update(cards)
        .where(cards.c.id == card_id, cards.c.account_card_id.is_not(None))
        .values(account_card_id=None)
    )


def same_account_transfer(conn: Connection, movement_id: int) -> bool:
    """Whether a movement is one half of a transfer between two cards that share one account now
    or whose customers are the same (a card joining its partner's account, a merge in ``ut11``):
    for a register kept per partner the pair nets to zero, so 1C must not be sent either half."""
    row = conn.execute(
        select(movements.c.kind, movements.c.card_id, movements.c.counterpart_card_id).where(
            movements.c.id == movement_id
        )
    ).first()
    if row is None or row.kind not in (MovementKind.TRANSFER_IN, MovementKind.TRANSFER_OUT):
        return False
    if row.counterpart_card_id is None:
        return False
    owners = dict(
        conn.execute(
            select(cards.c.id, cards.c.customer_id).where(
                cards.c.id.in_([row.card_id, row.counterpart_card_id])
            )
        ).all()
    )
    first, second = owners.get(row.card_id), owners.get(row.counterpart_card_id)
    return first is not None and first == second


__all__ = [
    "JOIN_REASON",
    "PER_CARD",
    "PER_CUSTOMER",
    "account_card",
    "accounts_of",
    "customer_account",
    "follow_owner",
    "leave_account",
    "resolve",
    "same_account_transfer",
    "share_customer_account",
]
