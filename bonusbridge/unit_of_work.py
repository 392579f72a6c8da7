"""Unit of work and repositories, in the style of *Architecture Patterns with Python*.

A unit of work is one database transaction: services change customers and cards through its
repositories, write ledger movements through ``uow.ledger``, and commit once. Everything done
inside it (later: the outbox rows that tell 1C) lands together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bonusbridge.db import create_session_factory
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import Card, CardBalance, Customer, Program, utcnow


class CustomerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, customer: Customer) -> Customer:
        self.session.add(customer)
        self.session.flush()
        return customer

    def get(self, customer_id: int) -> Customer | None:
        return self.session.get(Customer, customer_id)

    def by_verified_phone(self, phone_e164: str) -> Customer | None:
        return self.session.scalars(
            select(Customer).where(Customer.phone_e164 == phone_e164, Customer.phone_verified_at.is_not(None))
        ).first()


class CardRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, card: Card) -> Card:
        """Add a card with its (empty) balance row: the ledger locks that row for every operation."""
        card.number = normalize_card_number(card.number)
        self.session.add(card)
        self.session.flush()
        self.session.add(CardBalance(card_id=card.id))
        self.session.flush()
        return card

    def get(self, card_id: int) -> Card | None:
        return self.session.get(Card, card_id)

    def by_number(self, program_id: int, number: str) -> Card | None:
        return self.session.scalars(
            select(Card).where(Card.program_id == program_id, Card.number == normalize_card_number(number))
        ).first()

    def by_phone(self, phone_e164: str) -> list[Card]:
        return list(self.session.scalars(select(Card).where(Card.phone_e164 == phone_e164).order_by(Card.id)))

    def of_customer(self, customer_id: int) -> list[Card]:
        return list(
            self.session.scalars(select(Card).where(Card.customer_id == customer_id).order_by(Card.id))
        )


class ProgramRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_or_create(
        self, code: str, name: str, *, is_legacy: bool = False, name_en: str | None = None
    ) -> Program:
        program = self.session.scalars(select(Program).where(Program.code == code)).first()
        if program is None:
            program = Program(code=code, name=name, is_legacy=is_legacy, name_en=name_en)
            self.session.add(program)
            self.session.flush()
        return program


def normalize_card_number(number: str) -> str:
    """Card numbers arrive with spaces, dashes and mixed case from tills, files and people."""
    return "".join(ch for ch in number.strip().upper() if ch.isalnum())


class UnitOfWork:
    """``with UnitOfWork(engine) as uow: ...; uow.commit()``; leaving without commit rolls back."""

    def __init__(
        self,
        session_factory: sessionmaker[Session] | Engine,
        *,
        clock: Callable[[], datetime] = utcnow,
        hold_ttl: timedelta = timedelta(minutes=15),
    ) -> None:
        if isinstance(session_factory, Engine):
            session_factory = create_session_factory(session_factory)
        self.session_factory = session_factory
        self.clock = clock
        self.hold_ttl = hold_ttl

    def __enter__(self) -> UnitOfWork:
        self.session = self.session_factory()
        self.customers = CustomerRepository(self.session)
        self.cards = CardRepository(self.session)
        self.programs = ProgramRepository(self.session)
        return self

    @property
    def ledger(self) -> LedgerBook:
        """The ledger on this unit of work's transaction (pending ORM changes are flushed first)."""
        self.session.flush()
        return LedgerBook(self.session.connection(), now=self.clock(), hold_ttl=self.hold_ttl)

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()
        self.session.close()
