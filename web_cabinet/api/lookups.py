"""Read-only answers: cards by number, customers by phone, a card's balance (quotes: ``engine``).

Phones and card numbers arrive in POST bodies only: a URL ends up in proxy and server logs, and
both identify a person.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, Row, Select, select
from sqlalchemy.orm import Session

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.records import BalanceView
from bonusbridge.models import Card, CardStatus, Customer, Program
from bonusbridge.orders import service as orders
from bonusbridge.privacy import mask_card_number
from bonusbridge.settings import Settings
from mapping.phones import normalize_phone
from web_cabinet.api import ids, schemas
from web_cabinet.api.cardnumbers import normalize_card_number, normalized_column
from web_cabinet.api.problems import ApiProblem

#: At most this many matches are listed (a number shared by many legacy programs is still a handful).
MAX_MATCHES = 50


def _cards_query() -> Select[int, str, str, CardStatus, bool, int | None]:
    return (
        select(Card.id, Card.number, Program.code, Card.status, Card.is_primary, Card.customer_id)
        .join(Program, Program.id == Card.program_id)
        .order_by(Card.id)
        .limit(MAX_MATCHES)
    )


def _card_out(row: Row[int, str, str, CardStatus, bool, int | None], secret: bytes) -> schemas.CardOut:
    status = CardStatus(row.status)
    return schemas.CardOut(
        card_id=ids.encode("card", row.id, secret),
        number_masked=mask_card_number(row.number),
        program=row.code,
        status=status.value,
        can_spend=status is CardStatus.ACTIVE,
        is_primary=row.is_primary,
    )


def find_cards(conn: Connection, raw_number: str, secret: bytes) -> schemas.CardsFound:
    number = normalize_card_number(raw_number)
    if number is None:
        raise ApiProblem("invalid_card_number", "a card number has digits and Latin letters only")
    rows = conn.execute(_cards_query().where(normalized_column(Card.number) == number)).all()
    return schemas.CardsFound(cards=[_card_out(row, secret) for row in rows])


def find_customers(
    conn: Connection, raw_phone: str, settings: Settings, secret: bytes
) -> schemas.CustomersFound:
    phone = normalize_phone(raw_phone)
    if not phone.valid or phone.e164 is None:
        reason = phone.reason.value if phone.reason else "invalid"
        raise ApiProblem("invalid_phone", f"the phone number is not valid ({reason})")
    with Session(bind=conn) as session:
        customers = session.scalars(
            select(Customer).where(Customer.phone_e164 == phone.e164).order_by(Customer.id).limit(MAX_MATCHES)
        ).all()
    found = []
    for customer in customers:
        cards = conn.execute(_cards_query().where(Card.customer_id == customer.id)).all()
        found.append(
            schemas.CustomerOut(
                customer_id=ids.encode("customer", customer.id, secret),
                phone_verified=customer.phone_verified_at is not None,
                profile_complete=customer.is_complete(list(settings.profile_required_fields)),
                cards=[_card_out(row, secret) for row in cards],
            )
        )
    unbound = conn.execute(
        _cards_query().where(Card.phone_e164 == phone.e164, Card.customer_id.is_(None))
    ).all()
    return schemas.CustomersFound(customers=found, unbound_cards=[_card_out(row, secret) for row in unbound])


def balance(book: LedgerBook, card_id: int, public_id: str, expiring_within: timedelta) -> schemas.BalanceOut:
    status = orders.card_status(book.conn, card_id)
    return balance_out(public_id, status, book.balance(card_id, expiring_within=expiring_within))


def balance_out(public_id: str, status: CardStatus, view: BalanceView) -> schemas.BalanceOut:
    return schemas.BalanceOut(
        card_id=public_id,
        status=status.value,
        can_spend=status is CardStatus.ACTIVE,
        available=view.available,
        pending=view.pending,
        held=view.held,
        expiring_soon=view.expiring_soon,
        expiring_until=view.expiring_horizon,
        next_expiry=view.next_expiry,
        as_of=view.as_of,
    )
