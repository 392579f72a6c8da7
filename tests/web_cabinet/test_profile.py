"""The profile form: prefilled from the hub's customer row (1C's partner), saved through
``update_profile`` (so to 1C), the spending lock lifted when the required fields are filled, a
stale form after a 1C accountant's edit shown with the new values and never overwriting them, a
double submission applied once, bad values tied to their fields."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from bonusbridge.models import CardStatus, Origin, OutboxMessage
from bonusbridge.services.profiles import update_profile
from tests.web_cabinet.conftest import PHONE, VERSION, csrf, form_id, log_in

FILLED = {
    "last_name": "Иванова",
    "first_name": "Мария",
    "middle_name": "",
    "birth_date": "1985-04-12",
    "gender": "female",
    "email": "",
    "city": "",
    "pd_consent": "yes",
}


def submit(client, page, **overrides):
    data = {**FILLED, **overrides}
    version = VERSION.search(page.text)
    assert version
    data.update(csrf_token=csrf(page.text), form_id=form_id(page.text), version=version.group(1))
    return client.post("/profile", data=data)


def setup_one_card(world, **customer_fields):
    customer = world.customer(phone_e164=PHONE, **customer_fields)
    card = world.card("2000-0000-0042", phone=PHONE)
    return customer, card


def test_the_form_is_prefilled_from_1cs_partner_data(client, settings, world):
    setup_one_card(world, last_name="Иванова", city="Тула")
    log_in(client, settings)
    page = client.get("/profile")
    assert 'id="last_name" name="last_name" value="Иванова"' in page.text
    assert 'value="Тула"' in page.text
    assert 'name="version"' in page.text and 'name="form_id"' in page.text
    assert page.text.count('class="needed"') == 3


def test_completing_the_profile_lifts_the_spending_lock_and_goes_to_1c(client, settings, world):
    customer, card = setup_one_card(world)
    log_in(client, settings)
    assert world.card_row(card).status is CardStatus.ACCUMULATION_ONLY
    home = client.get("/")
    assert "Только накопление" in home.text and "фамилия, имя, дата рождения" in home.text
    with world.hub.engine.connect() as conn:
        before = conn.scalar(select(func.count()).select_from(OutboxMessage))
    saved = submit(client, client.get("/profile"))
    assert saved.status_code == 303 and saved.headers["location"] == "/"
    row = world.customer_row(customer)
    assert (row.last_name, row.first_name, row.birth_date) == ("Иванова", "Мария", date(1985, 4, 12))
    assert row.changed_by is Origin.WEBSITE
    assert world.card_row(card).status is CardStatus.ACTIVE
    with world.hub.engine.connect() as conn:
        queued = (
            conn.execute(
                select(OutboxMessage.topic).where(
                    OutboxMessage.id > before, OutboxMessage.origin == "website"
                )
            )
            .scalars()
            .all()
        )
    assert "customer" in queued and "card" in queued, "the profile and the lifted lock go to 1C"
    home = client.get("/")
    assert "Анкета сохранена" in home.text and 'data-status="active"' in home.text


def test_a_partial_profile_is_saved_but_the_card_stays_accumulation_only(client, settings, world):
    customer, card = setup_one_card(world)
    log_in(client, settings)
    saved = submit(client, client.get("/profile"), birth_date="")
    assert saved.status_code == 303
    assert world.customer_row(customer).last_name == "Иванова"
    assert world.card_row(card).status is CardStatus.ACCUMULATION_ONLY
    assert "дата рождения" in client.get("/").text


def test_a_stale_form_after_1c_changed_the_profile_overwrites_nothing_and_shows_the_new_values(
    client, settings, world
):
    customer, _ = setup_one_card(world, last_name="Петрова")
    log_in(client, settings)
    page = client.get("/profile")
    with world.hub.unit_of_work() as uow:  # a 1C accountant corrects the name meanwhile
        update_profile(uow, customer, {"last_name": "Петрова-Водкина"}, origin=Origin.ONEC)
        uow.commit()
    stale = submit(client, page, last_name="Сидорова")
    assert stale.status_code == 409
    assert "данные изменились" in stale.text
    assert 'value="Петрова-Водкина"' in stale.text, "the new value is shown in the form"
    assert "Сидорова" in stale.text and 'id="unsaved-edits"' in stale.text, "and what was not saved"
    assert world.customer_row(customer).last_name == "Петрова-Водкина"
    again = submit(client, stale, last_name="Сидорова")
    assert again.status_code == 303
    assert world.customer_row(customer).last_name == "Сидорова"


def test_a_stale_form_in_english(client, settings, world):
    customer, _ = setup_one_card(world)
    client.cookies.set("bb_lang", "en", domain="cabinet.test")
    log_in(client, settings)
    page = client.get("/profile")
    with world.hub.unit_of_work() as uow:
        update_profile(uow, customer, {"city": "Tula"}, origin=Origin.ONEC)
        uow.commit()
    stale = submit(client, page)
    assert stale.status_code == 409 and "Your data changed while you were editing" in stale.text


def test_a_double_submitted_profile_form_changes_nothing_twice(client, settings, world):
    customer, _ = setup_one_card(world)
    log_in(client, settings)
    page = client.get("/profile")
    assert submit(client, page).status_code == 303
    version = world.customer_row(customer).version
    with world.hub.engine.connect() as conn:
        outbox = conn.scalar(select(func.count()).select_from(OutboxMessage))
    twice = submit(client, page, city="Калуга")  # the same form (same form_id and version) again
    assert twice.status_code == 303, "the second submission is a replay, not a stale-form error"
    row = world.customer_row(customer)
    assert row.version == version and row.city is None
    with world.hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(OutboxMessage)) == outbox


def test_bad_values_are_tied_to_their_fields_and_nothing_is_saved(client, settings, world):
    customer, _ = setup_one_card(world)
    log_in(client, settings)
    page = client.get("/profile")
    future = submit(client, page, birth_date="2999-01-01")
    assert future.status_code == 400
    assert 'aria-describedby="birth_date-error"' in future.text and "не раньше 1900" in future.text
    garbage = submit(client, page, birth_date="12.04.85")
    assert garbage.status_code == 400 and 'id="birth_date-error"' in garbage.text
    email = submit(client, page, email="not-an-address")
    assert email.status_code == 400 and 'id="email-error"' in email.text
    assert 'value="Иванова"' in email.text, "what was typed is kept"
    long = submit(client, page, city="x" * 150)
    assert long.status_code == 400 and 'id="city-error"' in long.text
    assert world.customer_row(customer).last_name is None
