"""Helpers for the service tests: a small world of customers, cards and points on the real database,
and readers of what the database holds afterwards (snapshots, outbox messages, balances)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bonusbridge.ledger.audit import check_ledger
from bonusbridge.models import Card, CardStatus, Customer, Origin
from bonusbridge.unit_of_work import UnitOfWork
from tests.conftest import FakeClock

REQUIRED = ["last_name", "first_name", "birth_date"]
COMPLETE = {"last_name": "Иванова", "first_name": "Мария", "birth_date": date(1990, 5, 17)}
VERIFIED = datetime(2026, 1, 10, tzinfo=UTC)

#: Everything a refused call must leave exactly as it was.
TABLES = (
    "customers",
    "cards",
    "card_balances",
    "lots",
    "holds",
    "movements",
    "ledger_operations",
    "sync_outbox",
)


@dataclass(frozen=True)
class Message:
    topic: str
    entity_id: int
    origin: str


class World:
    """Builds test data through the real unit of work and reads the results back with plain SQL.

    Setup rows are written with ``changed_by=onec`` / ``origin=onec`` (as the initial load from 1C
    would), so they queue no outbox messages of their own; tests still look only at messages
    queued after a ``mark()``.
    """

    def __init__(self, db: Engine, clock: FakeClock) -> None:
        self.db = db
        self.clock = clock
        self._numbers = count(1)
        self._keys = count(1)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, clock=self.clock)

    # --- building
    def customer(self, **fields: Any) -> int:
        fields.setdefault("changed_by", Origin.ONEC)
        with self.uow() as uow:
            customer = uow.customers.add(Customer(**fields))
            uow.commit()
            return customer.id

    def card(
        self,
        customer_id: int | None = None,
        *,
        status: CardStatus = CardStatus.ACTIVE,
        primary: bool = False,
        number: str | None = None,
        program: str = "dobrostroy",
    ) -> int:
        with self.uow() as uow:
            program_row = uow.programs.get_or_create(program, program.title())
            card = uow.cards.add(
                Card(
                    program_id=program_row.id,
                    number=number or f"2000{next(self._numbers):08d}",
                    status=status,
                    customer_id=customer_id,
                    is_primary=primary,
                    changed_by=Origin.ONEC,
                )
            )
            uow.commit()
            return card.id

    def accrue(self, card_id: int, amount: str, **kwargs: Any) -> None:
        with self.uow() as uow:
            uow.ledger.accrue(card_id, amount, key=f"setup-{next(self._keys)}", origin=Origin.ONEC, **kwargs)
            uow.commit()

    def hold(self, card_id: int, amount: str) -> int:
        with self.uow() as uow:
            record = uow.ledger.hold(card_id, amount, key=f"hold-{next(self._keys)}", origin=Origin.ONEC)
            uow.commit()
            return record.id

    # --- reading
    def snapshot(self) -> dict[str, list[Any]]:
        with self.db.connect() as conn:
            return {table: conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all() for table in TABLES}

    def mark(self) -> int:
        """The newest outbox message now: ``outbox(after=mark)`` reads only what came later."""
        with self.db.connect() as conn:
            return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM sync_outbox")).scalar_one())

    def outbox(self, after: int) -> list[Message]:
        with self.db.connect() as conn:
            rows = conn.execute(
                text("SELECT topic, entity_id, origin FROM sync_outbox WHERE id > :after ORDER BY id"),
                {"after": after},
            ).all()
        return [Message(*row) for row in rows]

    def messages(self, after: int, topic: str, entity_id: int) -> list[Message]:
        """The outbox messages about one customer, card or movement since ``after``."""
        return [m for m in self.outbox(after) if m.topic == topic and m.entity_id == entity_id]

    def get_card(self, card_id: int) -> Card:
        with self.uow() as uow:
            card = uow.cards.get(card_id)
            assert card is not None
            uow.session.expunge(card)  # detached, loaded: leaving the unit of work rolls back
            return card

    def get_customer(self, customer_id: int) -> Customer:
        with self.uow() as uow:
            customer = uow.customers.get(customer_id)
            assert customer is not None
            uow.session.expunge(customer)
            return customer

    def total(self, card_id: int) -> Decimal:
        with self.uow() as uow:
            return uow.ledger.balance(card_id).total

    def customer_total(self, customer_id: int) -> Decimal:
        with self.uow() as uow:
            return sum(
                (uow.ledger.balance(card.id).total for card in uow.cards.of_customer(customer_id)),
                Decimal("0.00"),
            )


@pytest.fixture
def world(db: Engine, clock: FakeClock) -> Iterator[World]:
    yield World(db, clock)
    with db.connect() as conn:
        assert check_ledger(conn) == []
