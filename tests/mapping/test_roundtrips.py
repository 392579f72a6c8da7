"""hub → 1C → hub is the identity, for every valid hub value, in both profiles.

The 1C side goes through the wire format too (``dumps_onec_json`` → ``loads_onec_json``), so a
value that only survives as a Python object (a float, a naive datetime) would fail here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bonusbridge.models import CardStatus, Gender
from mapping.amounts import dumps_onec_json, loads_onec_json
from mapping.names import PATRONYMIC_SUFFIXES
from mapping.profile import Profile, load_profile

ZONES = [ZoneInfo("Europe/Moscow"), ZoneInfo("Asia/Yekaterinburg")]
PROFILES = {(name, str(zone)): load_profile(name, tz=zone) for name in ("retail", "ut11") for zone in ZONES}

profiles = pytest.mark.parametrize("profile", PROFILES.values(), ids=[f"{n}-{z}" for n, z in PROFILES])
examples = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


def wire(value):
    """What 1C would receive and send back: JSON text, numbers parsed as Decimal."""
    return loads_onec_json(dumps_onec_json(value))


# --- hub values ---------------------------------------------------------------------------------

_word = st.from_regex(r"[А-ЯЁA-Z][а-яёa-z]{1,10}", fullmatch=True).filter(
    lambda word: word.casefold() not in PATRONYMIC_SUFFIXES
)
_name_part = st.one_of(_word, st.builds("{}-{}".format, _word, _word))
_middle = st.one_of(
    st.none(), _name_part, st.builds("{} {}".format, _word, st.sampled_from(["оглы", "кызы"]))
)


@st.composite
def _names(draw):
    """Valid hub names: none at all, or a surname and a first name with an optional patronymic."""
    if draw(st.booleans()) and draw(st.booleans()):
        return {"last_name": None, "first_name": None, "middle_name": None}
    return {"last_name": draw(_name_part), "first_name": draw(_name_part), "middle_name": draw(_middle)}


def _valid_phone(prefix: str, digits: int):
    def build(tail: str) -> str:
        number = f"{prefix}{tail}"
        assume(phonenumbers.is_valid_number(phonenumbers.parse(number)))
        return number

    return st.text("0123456789", min_size=digits, max_size=digits).map(build)


_phone = st.one_of(
    st.none(),
    _valid_phone("+79", 9),  # Russian mobiles
    _valid_phone("+7495", 7),  # Moscow landlines: valid, mapped all the same
    _valid_phone("+7701", 7),  # Kazakh mobiles share +7
)
_email = st.one_of(
    st.none(),
    st.builds(
        "{}@{}.{}".format,
        st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}", fullmatch=True),
        st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
        st.sampled_from(["ru", "com", "kz", "рф"]),
    ),
)
_ref = st.uuids().map(str)
_moment = st.datetimes(
    min_value=datetime(2015, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))
_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Cn")),
    min_size=1,
    max_size=40,
)


@st.composite
def customers(draw):
    return {
        "onec_ref": draw(_ref),
        **draw(_names()),
        "birth_date": draw(st.one_of(st.none(), st.dates(date(1900, 1, 1), date(2020, 12, 31)))),
        "gender": draw(st.one_of(st.none(), st.sampled_from(Gender))),
        "phone_e164": draw(_phone),
        "email": draw(_email),
    }


@st.composite
def cards(draw):
    return {
        "onec_ref": draw(_ref),
        "number": draw(st.from_regex(r"[0-9A-Z]{1,20}", fullmatch=True)),
        "status": draw(st.sampled_from(CardStatus)),
        "customer_onec_ref": draw(st.one_of(st.none(), _ref)),
        "kind_onec_ref": draw(st.one_of(st.none(), _ref)),
    }


@st.composite
def movements(draw, owner_field: str):
    amount = draw(
        st.decimals(min_value=Decimal("-9999999999999.99"), max_value=Decimal("9999999999999.99"), places=2)
    )
    assume(amount != 0)
    return {
        "onec_ref": draw(st.one_of(st.none(), _ref)),
        "amount": amount,
        "occurred_at": draw(_moment),
        "available_from": draw(st.one_of(st.none(), _moment)),
        "expires_at": draw(st.one_of(st.none(), _moment)),
        "program_onec_ref": draw(st.one_of(st.none(), _ref)),
        "reason": draw(st.one_of(st.none(), _text)),
        owner_field: draw(_ref),
    }


# --- the round trips ----------------------------------------------------------------------------


@profiles
@examples
@given(customer=customers())
def test_customer_round_trip(profile: Profile, customer):
    body, contacts = profile.customer_to_onec(customer, for_create=True)
    assert profile.customer_from_onec(wire(body), wire(contacts)) == customer


@profiles
@examples
@given(customer=customers(), previous=customers())
def test_customer_round_trip_through_an_existing_contact_section(profile: Profile, customer, previous):
    """Updating a partner whose section already holds other contacts still reads back the hub's."""
    _, old_rows = profile.customer_to_onec(previous)
    old_rows = [*old_rows, {"LineNumber": "9", "Тип": "Адрес", "Представление": "Москва"}]
    body, _ = profile.customer_to_onec(customer)
    merged = profile.merge_contacts(wire(old_rows), customer)
    assert profile.customer_from_onec(wire(body), wire(merged)) == customer
    assert any(row.get("Тип") == "Адрес" and row["Представление"] == "Москва" for row in merged)


@profiles
@examples
@given(card=cards())
def test_card_round_trip(profile: Profile, card):
    assert profile.card_from_onec(wire(profile.card_to_onec(card, for_create=True))) == card


@profiles
@examples
@given(data=st.data())
def test_movement_round_trip(profile: Profile, data):
    movement = data.draw(movements(profile.bonus_owner_field))
    back = profile.movement_from_onec(wire(profile.movement_to_onec(movement)))
    expected = movement if movement["onec_ref"] else {k: v for k, v in movement.items() if k != "onec_ref"}
    assert back == [{**expected, "line_number": 1}]
