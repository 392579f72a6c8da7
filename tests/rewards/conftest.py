"""Fixtures of the rewards shop's tests: a member with points, a supplier, and a catalog builder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Card, Customer, Origin
from bonusbridge.unit_of_work import UnitOfWork
from tests.conftest import FakeClock
from tests.rewards.factories import Reward, make_supplier, reward_maker


@pytest.fixture
def service(db: Engine, clock: FakeClock) -> LedgerService:
    return LedgerService(db, clock=clock, hold_ttl=timedelta(minutes=15))


Member = Callable[..., tuple[int, int]]


@pytest.fixture
def member(db: Engine, clock: FakeClock, service: LedgerService) -> Member:
    """``member(points="100.00", phone=..., email=...)`` → (customer id, card id)."""
    counter = iter(range(1, 100_000))

    def make(points: str = "1000.00", phone: str | None = None, email: str | None = None) -> tuple[int, int]:
        n = next(counter)
        with UnitOfWork(db, clock=clock) as uow:
            program = uow.programs.get_or_create("dobrostroy", "Dobrostroy")
            customer = uow.customers.add(
                Customer(
                    phone_e164=phone or f"+7916{n:07d}", email=email or f"member{n}@example.test", locale="en"
                )
            )
            card = uow.cards.add(
                Card(program_id=program.id, number=f"7700-{n:08d}", customer_id=customer.id, is_primary=True)
            )
            uow.commit()
            ids = customer.id, card.id
        if Decimal(points) > 0:
            service.accrue(ids[1], points, key=f"seed:{ids[1]}", origin=Origin.ADMIN)
        return ids

    return make


@pytest.fixture
def supplier(db: Engine, clock: FakeClock) -> int:
    return make_supplier(db, clock)


@pytest.fixture
def reward(db: Engine, clock: FakeClock, supplier: int) -> Reward:
    return reward_maker(db, clock, supplier)
