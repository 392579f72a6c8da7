"""The points engine behind the API: request bodies turned into the hub's baskets, and quotes for the
website and the tills.

The rules are the hub's (``bonusbridge.points``); orders, receipts, refunds and returns are the hub's
order service (``bonusbridge.orders``), so this module only translates.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, select

from bonusbridge import errors
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import Card, CardStatus
from bonusbridge.points import store
from bonusbridge.points.program import Program
from bonusbridge.points.quote import Basket, Line, Quote, Wallet, quote
from bonusbridge.settings import Settings
from web_cabinet.api import opt_in, schemas
from web_cabinet.api.cardnumbers import normalize_card_number, normalized_column
from web_cabinet.api.problems import ApiProblem

ZERO = Decimal("0.00")
#: Why a line of a non-member's receipt earned nothing (the receipt's ``earn_refused`` says so too).
NOT_A_MEMBER_RULE = "not a member of the loyalty program: earns nothing"


def hub_lines(lines: list[schemas.BasketLine]) -> list[Line]:
    return [
        Line(line.sku, line.quantity, line.price, line.discount, line.category, line.brand, line.vat_rate)
        for line in lines
    ]


def basket(
    lines: list[schemas.BasketLine], body: schemas.Advantages, now: datetime, points_to_spend: Decimal
) -> Basket:
    return Basket(
        lines=hub_lines(lines),
        at=body.at or now,
        currency=body.currency,
        vouchers=body.vouchers,
        points_to_spend=points_to_spend,
    )


def lines_out(computed: Quote) -> list[schemas.LineOut]:
    return [
        schemas.LineOut(
            sku=line.sku,
            amount=line.amount,
            base=line.base,
            multiplier=f"{line.multiplier.normalize():f}",
            points=line.points,
            rules=list(line.rules),
        )
        for line in computed.lines
    ]


def quote_card(
    book: LedgerBook,
    program: Program,
    card_id: int,
    public_id: str,
    lines: list[schemas.BasketLine],
    body: schemas.Advantages,
    points_to_spend: Decimal,
    *,
    settings: Settings,
    till: bool = False,
) -> schemas.QuoteOut:
    """The quote of the basket for the card. The points earned are shown even when the owner must
    join first (``join_required``), since joining at checkout is what earns them (seed 001); a
    till (``till``) never requires joining. Two queries: the card's facts, its balance."""
    found = store.card_facts(book.conn, card_id, body.at or book.now)
    if found is None:
        raise errors.UnknownCard(card_id)
    status, facts = found.status, found.customer
    joined = opt_in.for_quote(settings, found.owner_id, found.member, till=till)
    member, join_required = joined.member, joined.join_required
    available = book.balance(card_id).available
    refused = None if status is CardStatus.ACTIVE else status.value
    computed = quote(
        program, basket(lines, body, book.now, points_to_spend), facts, Wallet(available, refused)
    )
    return schemas.QuoteOut(
        card_id=public_id,
        order_total=computed.total,
        points_earned=computed.points,
        points_earned_value=computed.points_value,
        max_spend_points=computed.max_spend_points,
        max_spend_value=computed.max_spend_value,
        available=available,
        spend_refused=computed.spend_refused,
        balance_after_max_spend=computed.balance_after_max_spend,
        currency=computed.currency,
        rule=computed.rule,
        program_version=computed.version_id,
        lines=lines_out(computed),
        member=member,
        join_required=join_required,
    )


def till_card(conn: Connection, raw_number: str) -> int:
    """The card a till scanned: the primary one among programs sharing the number, else the only
    one not blocked."""
    number = normalize_card_number(raw_number)
    if number is None:
        raise ApiProblem("invalid_card_number", "a card number has digits and Latin letters only")
    rows = conn.execute(
        select(Card.id, Card.is_primary, Card.status)
        .where(normalized_column(Card.number) == number)
        .order_by(Card.is_primary.desc(), Card.id)
        .limit(50)
    ).all()
    if rows and rows[0].is_primary:
        return int(rows[0].id)
    usable = [row.id for row in rows if CardStatus(row.status) is not CardStatus.BLOCKED]
    if len(usable) == 1 or (rows and not usable):
        return int(usable[0] if usable else rows[0].id)
    if not rows:
        raise errors.UnknownCard(0)
    raise ApiProblem("invalid_card_number", "several programs issued this number: scan the primary card")
