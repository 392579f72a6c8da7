"""Customers and cards: the rules the schema itself enforces."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from bonusbridge.models import Card, CardStatus, Customer, Gender, Origin
from bonusbridge.unit_of_work import UnitOfWork, normalize_card_number

VERIFIED = datetime(2026, 1, 10, tzinfo=UTC)


def test_a_verified_phone_belongs_to_one_customer_only(db):
    with UnitOfWork(db) as uow:
        uow.customers.add(Customer(phone_e164="+79161234567", phone_verified_at=VERIFIED))
        uow.customers.add(Customer(phone_e164="+79161234567"))  # unverified duplicates are legacy reality
        uow.commit()
    with UnitOfWork(db) as uow, pytest.raises(IntegrityError):
        uow.customers.add(Customer(phone_e164="+79161234567", phone_verified_at=VERIFIED))
    with UnitOfWork(db) as uow:
        found = uow.customers.by_verified_phone("+79161234567")
        assert found is not None and found.phone_verified_at == VERIFIED


def test_profile_completeness_follows_the_configured_required_fields(db):
    customer = Customer(last_name="Иванова", first_name="Мария", gender=Gender.FEMALE)
    assert customer.missing_fields(["last_name", "first_name", "birth_date"]) == ["birth_date"]
    assert not customer.is_complete(["last_name", "first_name", "birth_date"])
    customer.birth_date = date(1990, 5, 17)
    assert customer.is_complete(["last_name", "first_name", "birth_date"])
    assert not customer.is_complete(["email"])


def test_profile_edits_bump_the_version_and_record_their_origin(db):
    with UnitOfWork(db) as uow:
        customer = uow.customers.add(Customer(first_name="Ivan", changed_by=Origin.MIGRATION))
        uow.commit()
        assert customer.version == 1
        customer.first_name = "Иван"
        customer.changed_by = Origin.WEBSITE
        uow.commit()
        assert customer.version == 2
        assert customer.updated_at.tzinfo is not None


def test_card_numbers_are_normalized_and_unique_within_their_program(db):
    assert normalize_card_number(" 2000-0000 0001 ") == "200000000001"
    with UnitOfWork(db) as uow:
        current = uow.programs.get_or_create("dobrostroy", "Добрострой")
        legacy = uow.programs.get_or_create("gold", "Gold", is_legacy=True)
        uow.cards.add(Card(program_id=current.id, number="2000 0000 0001"))
        uow.cards.add(Card(program_id=legacy.id, number="200000000001"))  # same number, other program
        uow.commit()
        found = uow.cards.by_number(current.id, "2000-0000-0001")
        assert found is not None and found.number == "200000000001"
    with UnitOfWork(db) as uow, pytest.raises(IntegrityError):
        program = uow.programs.get_or_create("dobrostroy", "Добрострой")
        uow.cards.add(Card(program_id=program.id, number="2000-0000-0001"))


def test_a_customer_has_at_most_one_primary_card(db):
    with UnitOfWork(db) as uow:
        program = uow.programs.get_or_create("dobrostroy", "Добрострой")
        owner = uow.customers.add(Customer(first_name="Anna"))
        first = uow.cards.add(Card(program_id=program.id, number="1", customer_id=owner.id, is_primary=True))
        uow.cards.add(Card(program_id=program.id, number="2", customer_id=owner.id))
        uow.commit()
        assert [card.number for card in uow.cards.of_customer(owner.id)] == ["1", "2"]
        assert first.status is CardStatus.ACTIVE
    with UnitOfWork(db) as uow, pytest.raises(IntegrityError):
        program = uow.programs.get_or_create("dobrostroy", "Добрострой")
        uow.cards.add(Card(program_id=program.id, number="3", customer_id=1, is_primary=True))


def test_merged_card_points_to_the_card_that_absorbed_it(db):
    with UnitOfWork(db) as uow:
        program = uow.programs.get_or_create("dobrostroy", "Добрострой")
        primary = uow.cards.add(Card(program_id=program.id, number="10"))
        absorbed = uow.cards.add(
            Card(
                program_id=program.id,
                number="11",
                status=CardStatus.BLOCKED,
                merged_into_id=primary.id,
                status_reason="merged into the primary card chosen in the cabinet",
                phone_raw="8 (916) 123-45-67",
                phone_e164="+79161234567",
            )
        )
        uow.commit()
        assert uow.cards.by_phone("+79161234567")[0].merged_into_id == primary.id
        assert absorbed.phone_raw == "8 (916) 123-45-67"
