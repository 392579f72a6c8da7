"""Issue 17 item 1: a profile edit is never silently lost on its way to 1C.

Whatever the profile form accepts reaches 1C (the live emulator, through the real outbox and the
mapping profile) and reads back equal; what 1C could not hold is refused at the form, tied to its
field; one dead letter of a customer does not hold back that customer's later changes; and when a
change did not reach 1C the customer is told so and staff see it on the drift page, with the reason.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import select

from bonusbridge import errors
from bonusbridge.models import Customer, Origin, OutboxMessage, SyncState
from bonusbridge.services.profiles import update_profile
from bonusbridge.unit_of_work import UnitOfWork
from connectors.sync.pull import pull_full
from tests.sync.conftest import Harness
from tests.web_cabinet.conftest import PHONE, log_in
from tests.web_cabinet.test_profile import FILLED, setup_one_card, submit
from web_cabinet.i18n import translator
from web_cabinet.pages.profile import read_form

PARTNER_1 = "10000000-0000-4000-8000-000000000001"
NAMES = ("last_name", "first_name", "middle_name")

# Pieces a person (or a paste) puts in a name field: words in both scripts with ё and apostrophes,
# separators, and what must never reach 1C (bidi overrides, zero-width and control characters).
_PIECES = st.sampled_from(
    [
        "Анна",
        "Мария",
        "Пётр",
        "Ёлкина",
        "Петрова",
        "O'Neil",
        "д'Артаньян",
        "Jean",
        "Мамед",
        "оглы",
        "кызы",
        "Ван",
        "дер",
        "Берг",
        "-",
        " - ",
        " ",
        "  ",
        "\u00a0",
        "\u202e",
        "\u2066",
        "\u200b",
        "\x07",
        "\t",
        "7",
        "<b>",
        "’",
        ".",
    ]
)
_NAME = st.lists(_PIECES, max_size=6).map("".join)
_FORM = st.fixed_dictionaries(
    {
        "last_name": _NAME,
        "first_name": _NAME,
        "middle_name": _NAME,
        "birth_date": st.one_of(
            st.just(""), st.dates(date(1890, 1, 1), date(2030, 1, 1)).map(date.isoformat), st.just("1.2.85")
        ),
        "gender": st.sampled_from(["", "female", "male", "other"]),
        "email": st.sampled_from(["", "anna@example.ru", "Анна@пример.рф", "bad address"]),
        "city": st.sampled_from(["", "Москва", "Орёл", "Ростов-на-Дону"]),
        "marketing_consent": st.booleans(),
    }
)


@pytest.fixture
def linked(retail, db):
    """The emulator's demo base loaded into the hub: customer 1's hub id and 1C reference."""
    h = Harness(retail, db)
    pull_full(h.ctx)
    with UnitOfWork(db) as uow:
        cid = uow.session.scalars(select(Customer.id).where(Customer.onec_ref == PARTNER_1)).one()
    yield h, cid
    h.close()


def _hub(db, cid: int) -> Customer:
    with UnitOfWork(db) as uow:
        customer = uow.customers.get(cid)
        assert customer is not None
        uow.session.expunge(customer)
        return customer


def _dead(db) -> list[tuple[int, str | None]]:
    with db.connect() as conn:
        rows = conn.execute(
            select(OutboxMessage.entity_id, OutboxMessage.last_error).where(
                OutboxMessage.state == SyncState.DEAD
            )
        ).all()
    return [(row.entity_id, row.last_error) for row in rows]


def _onec_view(h: Harness, ref: str) -> dict[str, Any]:
    partner = h.onec.get(h.ctx.profile.customer.entity_set, ref)
    return h.ctx.profile.customer_from_onec(partner)


@hyp_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(typed=_FORM)
def test_whatever_the_form_accepts_reaches_onec_and_reads_back_equal(linked, db, typed):
    h, cid = linked
    t = translator("ru")
    _, changes, problems = read_form(h.settings, _hub(db, cid), typed, t)
    if problems:
        return  # refused at the form, tied to a field: the customer sees why and nothing is queued
    for name in NAMES:
        value = changes[name] or ""
        assert "\u202e" not in value and "\u200b" not in value and "\x07" not in value
    try:
        with UnitOfWork(db) as uow:
            update_profile(uow, cid, changes, origin=Origin.WEBSITE)
            uow.commit()
    except errors.InvalidProfileField:
        return  # the hub's own checks (a birth date in the future …): the form shows them too
    h.sync()
    assert _dead(db) == [], "an accepted profile must not end in the dead letters"
    row = _hub(db, cid)
    back = _onec_view(h, PARTNER_1)
    assert (back["last_name"], back["first_name"], back["middle_name"]) == (
        row.last_name,
        row.first_name,
        row.middle_name,
    )
    assert back["birth_date"] == row.birth_date
    assert back.get("gender") == (row.gender.value if row.gender else None)
    assert back.get("email") == row.email


def test_double_first_name_reaches_onec_whole(linked, db):
    h, cid = linked
    typed = {**FILLED, "last_name": "Петрова", "first_name": "Анна  Мария"}
    _, changes, problems = read_form(h.settings, _hub(db, cid), typed, translator("ru"))
    assert problems == {}
    with UnitOfWork(db) as uow:
        update_profile(uow, cid, changes, origin=Origin.WEBSITE)
        uow.commit()
    h.sync()
    assert _dead(db) == []
    back = _onec_view(h, PARTNER_1)
    assert (back["last_name"], back["first_name"], back["middle_name"]) == ("Петрова", "Анна Мария", None)


def test_one_dead_letter_does_not_block_the_customers_later_changes(linked, db):
    h, cid = linked
    # A name 1C cannot hold in one string (a patronymic without a first name), written around the
    # form (an old row, a staff tool): its message is dead-lettered, with the reason.
    with UnitOfWork(db) as uow:
        update_profile(uow, cid, {"first_name": None, "middle_name": "Ивановна"}, origin=Origin.ADMIN)
        uow.commit()
    h.sync()
    dead = _dead(db)
    assert [entity for entity, _ in dead] == [cid] and "mapping" in (dead[0][1] or "")
    # The customer's next change (the birth date) reaches 1C all the same.
    with UnitOfWork(db) as uow:
        update_profile(uow, cid, {"birth_date": date(1977, 7, 7)}, origin=Origin.WEBSITE)
        uow.commit()
    h.sync()
    assert _onec_view(h, PARTNER_1)["birth_date"] == date(1977, 7, 7)


# --- at the form ------------------------------------------------------------------------------


def test_bidi_override_and_controls_are_stripped_at_the_form(client, settings, world):
    customer, _ = setup_one_card(world)
    log_in(client, settings)
    page = client.get("/profile")
    response = submit(client, page, last_name="Петрова \u202e", first_name="Ма\u200bрия\u2066")
    assert response.status_code == 303
    row = world.customer_row(customer)
    assert (row.last_name, row.first_name) == ("Петрова", "Мария")


def test_the_hub_refuses_a_bidi_override_from_any_other_caller(world, hub):
    customer = world.customer(phone_e164=PHONE)
    with pytest.raises(errors.InvalidProfileField, match="U\\+202E"), hub.unit_of_work() as uow:
        update_profile(uow, customer, {"last_name": "Петрова \u202eairaM"}, origin=Origin.ADMIN)


def test_double_names_hyphens_apostrophes_latin_and_yo_are_accepted(client, settings, world):
    customer, _ = setup_one_card(world)
    log_in(client, settings)
    page = client.get("/profile")
    response = submit(client, page, last_name="О'Нил-Ёлкина", first_name="Анна Мария", middle_name="")
    assert response.status_code == 303
    row = world.customer_row(customer)
    assert (row.last_name, row.first_name) == ("О'Нил-Ёлкина", "Анна Мария")
    page = client.get("/profile")
    assert submit(client, page, last_name="Smith", first_name="John Paul").status_code == 303


def test_a_required_field_cannot_be_emptied(client, settings, world):
    customer, _ = setup_one_card(world, last_name="Иванова", first_name="Мария")
    log_in(client, settings)
    page = client.get("/profile")
    response = submit(client, page, first_name="  \u202e ")
    assert response.status_code == 400
    assert (
        'aria-describedby="first_name-error"' in response.text and "нельзя оставить пустым" in response.text
    )
    assert world.customer_row(customer).first_name == "Мария"


@pytest.mark.parametrize(
    ("fields", "where", "words"),
    [
        ({"last_name": "", "first_name": "Мария", "middle_name": ""}, "last_name", "фамилию"),
        ({"first_name": "", "middle_name": "Ивановна"}, "first_name", "отчество"),
        ({"first_name": "М4рия"}, "first_name", "Только буквы"),
    ],
)
def test_what_onec_could_not_hold_is_refused_at_its_field(client, settings, world, fields, where, words):
    settings.profile_required_fields = ["birth_date"]
    customer, _ = setup_one_card(world)
    log_in(client, settings)
    page = client.get("/profile")
    response = submit(client, page, **fields)
    assert response.status_code == 400
    assert f'id="{where}-error"' in response.text and words in response.text
    assert world.customer_row(customer).first_name is None


def test_a_change_that_did_not_reach_onec_is_not_called_saved(client, settings, world, hub):
    customer, _ = setup_one_card(world)
    log_in(client, settings)
    page = client.get("/profile")
    assert submit(client, page).status_code == 303
    with hub.engine.begin() as conn:  # 1C refused it for good (what the outbound drain records)
        conn.execute(
            OutboxMessage.__table__.update()
            .where(OutboxMessage.topic == "customer", OutboxMessage.entity_id == customer)
            .values(state=SyncState.DEAD.value, last_error="mapping: 1C refused the name")
        )
    profile = client.get("/profile")
    assert 'id="profile-undelivered"' in profile.text and "не дошли до магазинов" in profile.text
    again = submit(client, profile, city="Тула")
    assert again.status_code == 303
    home = client.get(again.headers["location"])
    assert "Анкета сохранена." not in home.text
    assert "магазины пока не получили" in home.text
    assert FILLED["last_name"] == world.customer_row(customer).last_name
