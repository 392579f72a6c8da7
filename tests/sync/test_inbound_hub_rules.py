"""Issue 18 item 6: 1C's edits keep the hub's rules, in both 1C configurations.

- a phone changed in 1C is not a verified one: the sync clears the verification, through the same
  hub function as every other phone change (``profiles.change_phone``);
- the spending lock follows the profile whichever way 1C changes an input of it: the partner's
  profile completed in 1C lifts ``accumulation_only``, a card given to another partner takes that
  partner's lock, and the initial load brings the cards of incomplete profiles in
  ``accumulation_only`` (``cards.lock_status``, the one rule); 1C learns each status the rule set.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from bonusbridge.models import Card, CardStatus, Customer
from bonusbridge.services.cabinet import customer_for_verified_phone
from bonusbridge.unit_of_work import UnitOfWork
from connectors.sync.pull import pull_full
from tests.onec_live import Base
from tests.sync.conftest import Harness

PARTNERS = "Catalog_Партнеры"
IVANOV = "10000000-0000-4000-8000-000000000001"  # complete profile
PETROVA = "10000000-0000-4000-8000-000000000002"  # 8-916-234-56-78, no birth date
CARD_1 = "40000000-0000-4000-8000-000000000001"  # Иванов
CARD_3 = "40000000-0000-4000-8000-000000000003"  # Петрова
CARD_5 = "40000000-0000-4000-8000-000000000005"  # Кузнецова, no birth date
ONEC_STATUS = {"active": "Действует", "accumulation_only": "ТолькоНакопление"}


def _harness(base: Base, db: Any) -> Harness:
    return Harness(base, db)


def _customer(h: Harness, ref: str) -> Customer:
    with h.ctx.session_factory() as s:
        customer = s.scalars(select(Customer).where(Customer.onec_ref == ref)).one()
        s.expunge(customer)
        return customer


def _card(h: Harness, ref: str) -> Card:
    with h.ctx.session_factory() as s:
        card = s.scalars(select(Card).where(Card.onec_ref == ref)).one()
        s.expunge(card)
        return card


def _owner_field(h: Harness) -> str:
    return "ВладелецКарты" if h.base.config == "retail" else "Партнер_Key"


def _onec_status(h: Harness, ref: str) -> str:
    return str(h.onec.get(h.ctx.profile.card.entity_set, ref).get("Статус") or "")


def test_a_phone_changed_in_1c_is_no_longer_verified(any_base, db):
    h = _harness(any_base, db)
    try:
        pull_full(h.ctx)
        h.sync()
        with UnitOfWork(h.ctx.engine) as uow:
            customer_for_verified_phone(uow, "+79162345678")
            uow.commit()
        h.sync()
        assert _customer(h, PETROVA).phone_verified_at is not None
        shown = "+7 (916) 999-88-77"
        h.onec.patch(
            PARTNERS,
            PETROVA,
            {"КонтактнаяИнформация": [{"LineNumber": 1, "Тип": "Телефон", "Представление": shown}]},
        )
        h.sync()
        petrova = _customer(h, PETROVA)
        assert petrova.phone_e164 == "+79169998877"
        assert petrova.phone_verified_at is None, "a number 1C typed in is not one the customer proved"
    finally:
        h.close()


def test_the_initial_load_brings_cards_of_incomplete_profiles_in_accumulation_only(any_base, db):
    h = _harness(any_base, db)
    try:
        pull_full(h.ctx)
        assert _card(h, CARD_1).status is CardStatus.ACTIVE
        for ref in (CARD_3, CARD_5):
            card = _card(h, ref)
            assert card.status is CardStatus.ACCUMULATION_ONLY, ref
            assert card.status_reason == "profile incomplete, missing: birth_date"
        h.sync()  # 1C learns the status the rule gave (the tills refuse spending on it)
        assert _onec_status(h, CARD_3) == ONEC_STATUS["accumulation_only"]
        assert _onec_status(h, CARD_5) == ONEC_STATUS["accumulation_only"]
    finally:
        h.close()


def test_a_profile_completed_in_1c_lifts_accumulation_only_and_1c_learns_it(any_base, db):
    h = _harness(any_base, db)
    try:
        pull_full(h.ctx)
        h.sync()
        assert _card(h, CARD_3).status is CardStatus.ACCUMULATION_ONLY
        # The accountant fills Петрова's birth date in 1C.
        h.onec.patch(PARTNERS, PETROVA, {"ДатаРождения": "1991-02-03T00:00:00"})
        h.sync()
        assert _customer(h, PETROVA).birth_date == date(1991, 2, 3)
        card = _card(h, CARD_3)
        assert (card.status, card.status_reason) == (CardStatus.ACTIVE, None)
        assert _onec_status(h, CARD_3) == ONEC_STATUS["active"]
        # Emptied again in 1C: the card only accumulates again.
        h.onec.patch(PARTNERS, PETROVA, {"ДатаРождения": "0001-01-01T00:00:00"})
        h.sync()
        assert _customer(h, PETROVA).birth_date is None
        assert _card(h, CARD_3).status is CardStatus.ACCUMULATION_ONLY
        assert _onec_status(h, CARD_3) == ONEC_STATUS["accumulation_only"]
    finally:
        h.close()


def test_a_card_given_in_1c_to_another_partner_takes_that_partners_lock(any_base, db):
    h = _harness(any_base, db)
    try:
        pull_full(h.ctx)
        h.sync()
        assert _card(h, CARD_1).status is CardStatus.ACTIVE
        # Иванов's card moves to Петрова (incomplete profile), and Петрова's to Иванов.
        card_set = h.ctx.profile.card.entity_set
        h.onec.patch(card_set, CARD_1, {_owner_field(h): PETROVA})
        h.onec.patch(card_set, CARD_3, {_owner_field(h): IVANOV})
        h.sync()
        moved, back = _card(h, CARD_1), _card(h, CARD_3)
        assert moved.customer_id == _customer(h, PETROVA).id
        assert moved.status is CardStatus.ACCUMULATION_ONLY
        assert back.customer_id == _customer(h, IVANOV).id
        assert back.status is CardStatus.ACTIVE
        assert _onec_status(h, CARD_1) == ONEC_STATUS["accumulation_only"]
        assert _onec_status(h, CARD_3) == ONEC_STATUS["active"]
    finally:
        h.close()


def test_a_status_set_in_1c_does_not_lift_the_lock_of_an_incomplete_profile(any_base, db):
    """An accountant marks the card of an incomplete profile "Действует" in 1C: the lock is the
    hub's rule, so the card stays ``accumulation_only`` and 1C is told so again (its tills refuse
    spending on it); a block set in 1C is kept."""
    h = _harness(any_base, db)
    try:
        pull_full(h.ctx)
        h.sync()
        card_set = h.ctx.profile.card.entity_set
        assert _onec_status(h, CARD_3) == ONEC_STATUS["accumulation_only"]
        h.onec.patch(card_set, CARD_3, {"Статус": ONEC_STATUS["active"]})
        h.sync()
        card = _card(h, CARD_3)
        assert (card.status, card.status_reason) == (
            CardStatus.ACCUMULATION_ONLY,
            "profile incomplete, missing: birth_date",
        )
        assert _onec_status(h, CARD_3) == ONEC_STATUS["accumulation_only"]
        h.onec.patch(card_set, CARD_3, {"Статус": "НеДействует"})
        h.sync()
        assert _card(h, CARD_3).status is CardStatus.BLOCKED
        assert _onec_status(h, CARD_3) == "НеДействует"
    finally:
        h.close()
