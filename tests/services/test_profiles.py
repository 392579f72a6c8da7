"""update_profile: every rule and every refusal, on the configured real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bonusbridge import errors
from bonusbridge.models import CardStatus, Gender, Origin
from bonusbridge.services.cards import refresh_spending_status
from bonusbridge.services.profiles import latest_today, update_profile
from tests.services.conftest import COMPLETE, REQUIRED, VERIFIED, Message, World

WEB = Origin.WEBSITE


def edit(world: World, customer_id: int, changes: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Run update_profile in its own unit of work, commit, and return the customer's columns."""
    kwargs.setdefault("origin", WEB)
    kwargs.setdefault("required_fields", REQUIRED)
    with world.uow() as uow:
        customer = update_profile(uow, customer_id, changes, **kwargs)
        uow.commit()
        return {column: getattr(customer, column) for column in ("version", "changed_by", *changes)}


def refused(world: World, error: type[Exception], customer_id: int, changes: dict[str, Any], **kwargs: Any):
    """Expect a refusal; commit anyway, as a careless caller might, and prove nothing changed."""
    kwargs.setdefault("origin", WEB)
    kwargs.setdefault("required_fields", REQUIRED)
    before = world.snapshot()
    with world.uow() as uow:
        with pytest.raises(error) as caught:
            update_profile(uow, customer_id, changes, **kwargs)
        uow.commit()
    assert world.snapshot() == before
    return caught.value


# --------------------------------------------------------------------------- applying an edit


def test_an_edit_sets_the_fields_records_its_origin_and_bumps_the_version(world):
    customer = world.customer(first_name="Ivan")
    after = edit(world, customer, {"first_name": "Иван", "city": "Тверь"})
    assert after == {"version": 2, "changed_by": WEB, "first_name": "Иван", "city": "Тверь"}
    stored = world.get_customer(customer)
    assert (stored.first_name, stored.city, stored.changed_by) == ("Иван", "Тверь", WEB)


def test_an_edit_queues_exactly_one_outbox_message_for_the_customer(world):
    customer = world.customer()
    mark = world.mark()
    edit(world, customer, {"first_name": "Иван", "last_name": "Петров", "marketing_consent": True})
    assert world.outbox(mark) == [Message("customer", customer, "website")]


def test_an_edit_from_1c_queues_no_outbox_message(world):
    customer = world.customer(changed_by=Origin.WEBSITE)
    mark = world.mark()
    after = edit(world, customer, {"city": "Клин"}, origin=Origin.ONEC)
    assert after["changed_by"] is Origin.ONEC and after["version"] == 2
    assert world.outbox(mark) == []


def test_a_no_op_edit_writes_no_row_and_queues_nothing(world):
    customer = world.customer(first_name="Иван", city="Тверь", gender=Gender.MALE, changed_by=Origin.ADMIN)
    world.card(customer, primary=True, status=CardStatus.ACCUMULATION_ONLY)
    with world.uow() as uow:  # bring the card's reason in line, so the edit has nothing to change
        refresh_spending_status(uow, uow.customers.get(customer), required_fields=REQUIRED, origin=WEB)
        uow.commit()
    before = world.snapshot()
    after = edit(world, customer, {"first_name": " Иван ", "city": "Тверь", "gender": "male"})
    assert after["version"] == 1 and after["changed_by"] is Origin.ADMIN
    assert world.snapshot() == before


def test_only_the_fields_that_differ_are_written(world):
    customer = world.customer(first_name="Иван", last_name="Петров")
    edit(world, customer, {"first_name": "Иван", "last_name": "Петрова"})
    stored = world.get_customer(customer)
    assert (stored.first_name, stored.last_name, stored.version) == ("Иван", "Петрова", 2)


def test_unknown_customer_is_refused(world):
    error = refused(world, errors.UnknownCustomer, 404, {"city": "Тверь"})
    assert error.code == "unknown_customer"


# --------------------------------------------------------------------------- optimistic version


def test_the_version_the_cabinet_showed_is_accepted(world):
    customer = world.customer()
    assert edit(world, customer, {"city": "Тверь"}, expected_version=1)["version"] == 2
    assert edit(world, customer, {"city": "Клин"}, expected_version=2)["version"] == 3


def test_a_stale_version_is_refused_with_a_concurrency_error(world):
    customer = world.customer()
    edit(world, customer, {"city": "Тверь"})  # someone else's edit: version 2 now
    error = refused(world, errors.StaleVersion, customer, {"city": "Клин"}, expected_version=1)
    assert (error.code, error.expected, error.actual) == ("stale_version", 1, 2)
    assert world.get_customer(customer).city == "Тверь"


def test_a_stale_version_is_refused_even_for_a_no_op_edit(world):
    customer = world.customer(city="Тверь")
    edit(world, customer, {"city": "Клин"})
    refused(world, errors.StaleVersion, customer, {"city": "Клин"}, expected_version=1)


# --------------------------------------------------------------------------- which fields


@pytest.mark.parametrize("field", ["version", "id", "phone_verified_at", "changed_by", "onec_ref", "Email"])
def test_a_field_that_is_not_editable_is_refused_by_name(world, field):
    customer = world.customer()
    error = refused(world, errors.UnknownProfileField, customer, {"city": "Тверь", field: "x"})
    assert error.field == field and error.code == "unknown_profile_field"


def test_one_bad_field_refuses_the_whole_edit(world):
    customer = world.customer(first_name="Иван")
    error = refused(
        world, errors.InvalidProfileField, customer, {"first_name": "Пётр", "birth_date": "1990-01-01"}
    )
    assert error.field == "birth_date"
    assert world.get_customer(customer).first_name == "Иван"


def test_errors_never_quote_the_value(world):
    customer = world.customer()
    error = refused(world, errors.InvalidProfileField, customer, {"email": "ivanova-secret"})
    assert "ivanova-secret" not in str(error)


# --------------------------------------------------------------------------- names and city


@pytest.mark.parametrize("field", ["last_name", "first_name", "middle_name", "city"])
def test_text_fields_are_stripped(world, field):
    customer = world.customer()
    assert edit(world, customer, {field: "  Анна-Мария \t"})[field] == "Анна-Мария"


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_an_empty_text_field_becomes_none(world, empty):
    customer = world.customer(middle_name="Ивановна")
    assert edit(world, customer, {"middle_name": empty})["middle_name"] is None


def test_text_of_100_characters_is_accepted_and_101_refused(world):
    customer = world.customer()
    assert edit(world, customer, {"last_name": "Я" * 100})["last_name"] == "Я" * 100
    error = refused(world, errors.InvalidProfileField, customer, {"last_name": "Я" * 101})
    assert error.field == "last_name" and "100" in error.reason


@pytest.mark.parametrize("value", [42, b"Ivan", ["Ivan"], True])
def test_text_fields_must_be_text(world, value):
    customer = world.customer()
    assert refused(world, errors.InvalidProfileField, customer, {"first_name": value}).field == "first_name"


@pytest.mark.parametrize("value", ["Ив\x07ан", "Ivan\x00", "Ivan\nPetrov", "Iv\x85an"])
def test_text_with_a_control_character_is_refused_as_1c_could_not_exchange_it(world, value):
    customer = world.customer()
    error = refused(world, errors.InvalidProfileField, customer, {"first_name": value})
    assert "control character" in error.reason


# --------------------------------------------------------------------------- birth date


def test_a_birth_date_is_stored(world):
    customer = world.customer()
    assert edit(world, customer, {"birth_date": date(1990, 5, 17)})["birth_date"] == date(1990, 5, 17)


def test_a_birth_date_of_today_is_accepted(world):
    customer = world.customer()
    today = world.clock.now.date()
    assert edit(world, customer, {"birth_date": today})["birth_date"] == today


def test_a_birth_date_in_the_future_is_refused(world):
    customer = world.customer()
    tomorrow_everywhere = latest_today(world.clock.now) + timedelta(days=1)
    error = refused(world, errors.InvalidProfileField, customer, {"birth_date": tomorrow_everywhere})
    assert (error.field, error.reason) == ("birth_date", "is in the future")


def test_today_is_the_date_anywhere_on_earth():
    assert latest_today(datetime(2026, 1, 15, 9, 59, tzinfo=UTC)) == date(2026, 1, 15)
    assert latest_today(datetime(2026, 1, 15, 10, 0, tzinfo=UTC)) == date(2026, 1, 16)  # Kiribati


def test_a_birth_date_before_1900_is_refused_and_1900_accepted(world):
    customer = world.customer()
    refused(world, errors.InvalidProfileField, customer, {"birth_date": date(1899, 12, 31)})
    assert edit(world, customer, {"birth_date": date(1900, 1, 1)})["birth_date"] == date(1900, 1, 1)


@pytest.mark.parametrize("value", ["1990-05-17", datetime(1990, 5, 17, tzinfo=UTC), 19900517])
def test_a_birth_date_must_be_a_date(world, value):
    customer = world.customer()
    error = refused(world, errors.InvalidProfileField, customer, {"birth_date": value})
    assert error.field == "birth_date" and "must be a date" in error.reason


# --------------------------------------------------------------------------- gender, e-mail, consent, phone


@pytest.mark.parametrize("value", [Gender.FEMALE, "female"])
def test_gender_is_a_gender(world, value):
    customer = world.customer()
    assert edit(world, customer, {"gender": value})["gender"] is Gender.FEMALE


@pytest.mark.parametrize("value", ["f", "Female", "other", 1])
def test_an_unknown_gender_is_refused(world, value):
    customer = world.customer()
    assert refused(world, errors.InvalidProfileField, customer, {"gender": value}).field == "gender"


def test_gender_can_be_cleared(world):
    customer = world.customer(gender=Gender.MALE)
    assert edit(world, customer, {"gender": None})["gender"] is None


def test_an_email_is_trimmed_with_its_domain_lower_cased(world):
    customer = world.customer()
    assert edit(world, customer, {"email": " Maria.Ivanova@Mail.RU "})["email"] == "Maria.Ivanova@mail.ru"


@pytest.mark.parametrize(
    "value", ["maria", "maria@", "@mail.ru", "maria@mail", "ma ria@mail.ru", "a@b@mail.ru", "maria@.ru", 7]
)
def test_an_implausible_email_is_refused(world, value):
    customer = world.customer()
    assert refused(world, errors.InvalidProfileField, customer, {"email": value}).field == "email"


def test_an_email_longer_than_254_characters_is_refused(world):
    customer = world.customer()
    refused(world, errors.InvalidProfileField, customer, {"email": "a" * 250 + "@x.ru"})


def test_an_empty_email_clears_it(world):
    customer = world.customer(email="maria@mail.ru")
    assert edit(world, customer, {"email": " "})["email"] is None


def test_marketing_consent_is_a_bool(world):
    customer = world.customer()
    assert edit(world, customer, {"marketing_consent": True})["marketing_consent"] is True
    assert edit(world, customer, {"marketing_consent": False})["marketing_consent"] is False


@pytest.mark.parametrize("value", [1, 0, "yes", "true", None])
def test_marketing_consent_that_is_not_a_bool_is_refused(world, value):
    customer = world.customer()
    error = refused(world, errors.InvalidProfileField, customer, {"marketing_consent": value})
    assert error.field == "marketing_consent"


def test_a_new_phone_is_stored_and_is_no_longer_verified(world):
    customer = world.customer(phone_e164="+79161234567", phone_verified_at=VERIFIED)
    edit(world, customer, {"phone_e164": "+79031234567"})
    stored = world.get_customer(customer)
    assert (stored.phone_e164, stored.phone_verified_at) == ("+79031234567", None)


def test_the_same_phone_keeps_its_verification(world):
    customer = world.customer(phone_e164="+79161234567", phone_verified_at=VERIFIED)
    before = world.snapshot()
    edit(world, customer, {"phone_e164": "+79161234567"})
    assert world.snapshot() == before


@pytest.mark.parametrize(
    "value", ["89161234567", "+7 916 123-45-67", "+7916123456", "+70000000000", "phone", 7]
)
def test_a_phone_not_in_e164_form_is_refused(world, value):
    customer = world.customer()
    assert refused(world, errors.InvalidProfileField, customer, {"phone_e164": value}).field == "phone_e164"


# --------------------------------------------------------------------------- cards follow the profile


def test_completing_the_profile_lets_the_cards_spend(world):
    customer = world.customer()
    first = world.card(customer, primary=True, status=CardStatus.ACCUMULATION_ONLY)
    second = world.card(customer, status=CardStatus.ACCUMULATION_ONLY)
    blocked = world.card(customer, status=CardStatus.BLOCKED)
    mark = world.mark()
    edit(world, customer, COMPLETE)
    for card_id in (first, second):
        card = world.get_card(card_id)
        assert (card.status, card.status_reason, card.changed_by) == (CardStatus.ACTIVE, None, WEB)
        assert len(world.messages(mark, "card", card_id)) == 1
    assert world.get_card(blocked).status is CardStatus.BLOCKED
    assert world.messages(mark, "card", blocked) == []
    assert len(world.messages(mark, "customer", customer)) == 1


def test_emptying_a_required_field_makes_the_cards_accumulate_only(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card(customer, primary=True)
    mark = world.mark()
    edit(world, customer, {"first_name": ""})
    card = world.get_card(card_id)
    assert card.status is CardStatus.ACCUMULATION_ONLY
    assert card.status_reason == "profile incomplete, missing: first_name"
    assert [m.origin for m in world.outbox(mark)] == ["website", "website"]


def test_an_edit_that_does_not_change_completeness_leaves_the_cards_alone(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card(customer, primary=True)
    mark = world.mark()
    edit(world, customer, {"city": "Тверь"})
    assert world.messages(mark, "card", card_id) == []
    assert world.get_card(card_id).changed_by is Origin.ONEC


def test_a_1c_edit_completing_the_profile_tells_1c_the_new_card_status(world):
    """1C's own edit is not sent back, but the status the hub derived from it is: the tills must
    learn that the card may spend now (see status_change_origin)."""
    customer = world.customer()
    card_id = world.card(customer, primary=True, status=CardStatus.ACCUMULATION_ONLY)
    mark = world.mark()
    edit(world, customer, COMPLETE, origin=Origin.ONEC)
    assert world.messages(mark, "customer", customer) == []
    assert [m.origin for m in world.messages(mark, "card", card_id)] == ["system"]
    assert world.get_card(card_id).changed_by is Origin.SYSTEM


def test_the_required_fields_are_configurable(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card(customer, primary=True)
    edit(world, customer, {"city": "Тверь"}, required_fields=["email", "city"])
    card = world.get_card(card_id)
    assert (card.status, card.status_reason) == (
        CardStatus.ACCUMULATION_ONLY,
        "profile incomplete, missing: email",
    )
