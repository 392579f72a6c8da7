"""Suppliers and rewards made through the catalog, shared by the domain's and the API's shop tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from bonusbridge.rewards import catalog
from tests.conftest import FakeClock

Reward = Callable[..., int]


def make_supplier(db: Engine, clock: FakeClock) -> int:
    with db.begin() as conn:
        return catalog.create_supplier(
            conn, name="Gifts Ltd", email="orders@gifts.test", locale="en", actor="staff:mk", now=clock()
        )


def reward_maker(db: Engine, clock: FakeClock, supplier: int) -> Reward:
    """``make(**fields)`` → a new reward's id: a 100-point thermos unless ``fields`` say otherwise."""
    counter = iter(range(1, 100_000))

    def make(**fields: Any) -> int:
        form = {
            "code": f"R{next(counter)}",
            "kind": "physical",
            "category": "gifts",
            "name_ru": "Термос",
            "name_en": "Thermos",
            "points_price": "100.00",
            "supplier_id": str(supplier),
        }
        form.update({key: str(value) for key, value in fields.items()})
        with db.begin() as conn:
            return catalog.create_reward(
                conn, catalog.parse_draft(form), actor="staff:mk", reason="test", now=clock()
            )

    return make
