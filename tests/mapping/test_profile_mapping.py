"""The engine on 1C objects as 1C returns them: partners, contact rows, cards, bonus documents, balances."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bonusbridge.models import CardStatus, Gender
from mapping.amounts import dumps_onec_json, loads_onec_json
from mapping.dates import EMPTY_DATE
from mapping.errors import (
    ControlCharacter,
    InvalidAmountText,
    InvalidEnumValue,
    InvalidName,
    InvalidPhone,
    InvalidReference,
    InvalidValueType,
    MappingError,
    MissingField,
)
from mapping.profile import load_profile
from mapping.refs import EMPTY_REF

MOSCOW = ZoneInfo("Europe/Moscow")
PARTNER = "9a3c1f52-2b6e-11ef-8e3a-00155d012a01"
CARD = "1d2e3f40-2b6e-11ef-8e3a-00155d012a02"
KIND = "77aa88bb-2b6e-11ef-8e3a-00155d012a03"
PROGRAM = "0c0c0c0c-2b6e-11ef-8e3a-00155d012a04"
CONTACT_KIND = "5e5e5e5e-2b6e-11ef-8e3a-00155d012a05"


@pytest.fixture(params=["retail", "ut11"])
def profile(request):
    return load_profile(request.param, tz=MOSCOW)


@pytest.fixture
def retail():
    return load_profile("retail", tz=MOSCOW)


@pytest.fixture
def ut11():
    return load_profile("ut11", tz=MOSCOW)


def partner(**overrides):
    """A ``Catalog_Партнеры`` object as 1C's OData returns it (fields the profile ignores included)."""
    return {
        "Ref_Key": PARTNER,
        "DataVersion": "AAAAAQAAAAA=",
        "DeletionMark": False,
        "Code": "00-00000042",
        "Description": "Демидова Анна Сергеевна",
        "НаименованиеПолное": "Демидова  Анна Сергеевна",
        "ДатаРегистрации": "2021-06-01T10:00:00",
        "ЮрФизЛицо": "ЧастноеЛицо",
        "Клиент": True,
        "Комментарий": "",
        "ДатаРождения": "1990-05-17T00:00:00",
        "Пол": "Женский",
        **overrides,
    }


def row(line, kind, **fields):
    return {"Ref_Key": PARTNER, "LineNumber": str(line), "Тип": kind, "Вид_Key": CONTACT_KIND, **fields}


# --- customers from 1C ------------------------------------------------------------------------


def test_customer_from_onec(profile):
    contacts = [
        row(2, "АдресЭлектроннойПочты", АдресЭП="anna@Example.ru", Представление="anna@Example.ru"),
        row(1, "Телефон", НомерТелефона="", Представление="8 (916) 123-45-67"),
        row(3, "Адрес", Представление="Москва, ул. Тверская, 1"),
    ]
    assert profile.customer_from_onec(partner(), contacts) == {
        "onec_ref": PARTNER,
        "last_name": "Демидова",
        "first_name": "Анна",
        "middle_name": "Сергеевна",
        "birth_date": date(1990, 5, 17),
        "gender": Gender.FEMALE,
        "phone_e164": "+79161234567",
        "email": "anna@example.ru",
    }


def test_empty_1c_values_become_none(profile):
    empty = partner(НаименованиеПолное="", Description="", ДатаРождения=EMPTY_DATE, Пол="")
    assert profile.customer_from_onec(empty, []) == {
        "onec_ref": PARTNER,
        "last_name": None,
        "first_name": None,
        "middle_name": None,
        "birth_date": None,
        "gender": None,
        "phone_e164": None,
        "email": None,
    }


def test_description_is_the_fallback_for_the_full_name(profile):
    result = profile.customer_from_onec(partner(НаименованиеПолное="", Description="Иванов Иван"))
    assert (result["last_name"], result["first_name"], result["middle_name"]) == ("Иванов", "Иван", None)


def test_fields_not_selected_are_left_out_not_emptied(profile):
    assert profile.customer_from_onec({"Ref_Key": PARTNER, "Пол": "Мужской"}) == {
        "onec_ref": PARTNER,
        "gender": Gender.MALE,
    }


def test_the_embedded_contact_section_is_used(profile):
    embedded = partner(КонтактнаяИнформация=[row(1, "Телефон", НомерТелефона="+79161234567")])
    assert profile.customer_from_onec(embedded)["phone_e164"] == "+79161234567"


def test_a_mobile_is_preferred_over_an_earlier_landline(profile):
    contacts = [
        row(1, "Телефон", НомерТелефона="+74951234567"),
        row(2, "Телефон", НомерТелефона="мобильный не помнит"),
        row(3, "Телефон", НомерТелефона="+79161234567"),
    ]
    assert profile.customer_from_onec(partner(), contacts)["phone_e164"] == "+79161234567"
    # Without a mobile, the landline is still the customer's phone (the SMS layer decides).
    assert profile.customer_from_onec(partner(), contacts[:2])["phone_e164"] == "+74951234567"


def test_a_bad_phone_is_a_typed_error_with_context_and_no_personal_data(profile):
    contacts = [row(1, "Телефон", НомерТелефона="8 916 123-45")]
    with pytest.raises(InvalidPhone) as caught:
        profile.customer_from_onec(partner(), contacts)
    message = str(caught.value)
    assert f"Catalog_Партнеры(guid'{PARTNER}').КонтактнаяИнформация[LineNumber=1].НомерТелефона" in message
    assert "8***45" in message and "916" not in message
    assert caught.value.reason == "too_short"
    assert caught.value.field == "НомерТелефона"


def test_errors_can_be_collected_and_are_logged_without_personal_data(profile, caplog):
    bad = partner(НаименованиеПолное="Демидова\x07 Анна", ДатаРождения="17.05.1990")
    contacts = [
        row(1, "Телефон", НомерТелефона="+7 916 123 45 6"),
        row(2, "АдресЭлектроннойПочты", АдресЭП="x"),
    ]
    errors: list[MappingError] = []
    with caplog.at_level(logging.WARNING, logger="mapping"):
        result = profile.customer_from_onec(bad, contacts, errors=errors)
    assert result == {"onec_ref": PARTNER, "gender": Gender.FEMALE}  # bad fields left out, not emptied
    assert [type(error) for error in errors] == [
        ControlCharacter,
        type(errors[1]),
        InvalidPhone,
        type(errors[3]),
    ]
    assert [error.code for error in errors] == [
        "control_character",
        "invalid_date",
        "invalid_phone",
        "invalid_email",
    ]
    assert errors[0].field == "НаименованиеПолное" and "U+0007" in str(errors[0])
    assert len(caplog.records) == 4
    for text in ("Демидова", "17.05", "1990", "916 123", "+79161"):
        assert text not in caplog.text
    assert "invalid_phone" in caplog.text


def test_an_unknown_enum_value(profile):
    with pytest.raises(InvalidEnumValue, match="Пол: 1C value 'Неизвестно'"):
        profile.customer_from_onec(partner(Пол="Неизвестно"))


# --- customers to 1C --------------------------------------------------------------------------

HUB_CUSTOMER = {
    "onec_ref": PARTNER,
    "last_name": "Алиев",
    "first_name": "Рашид",
    "middle_name": "Мамед оглы",
    "birth_date": date(1979, 1, 31),
    "gender": Gender.MALE,
    "phone_e164": "+79161234567",
    "email": "rashid@example.com",
}


def test_customer_to_onec_for_create(profile):
    body, contacts = profile.customer_to_onec(HUB_CUSTOMER, for_create=True)
    assert body == {
        "ЮрФизЛицо": "ЧастноеЛицо",
        "Клиент": True,
        "Ref_Key": PARTNER,
        "НаименованиеПолное": "Алиев Рашид Мамед оглы",
        "Description": "Алиев Рашид Мамед оглы",
        "ДатаРождения": "1979-01-31T00:00:00",
        "Пол": "Мужской",
    }
    assert contacts == [
        {
            "LineNumber": "1",
            "Тип": "Телефон",
            "НомерТелефона": "+79161234567",
            "Представление": "+7 916 123-45-67",
            "НомерТелефонаБезКодов": "1234567",
        },
        {
            "LineNumber": "2",
            "Тип": "АдресЭлектроннойПочты",
            "АдресЭП": "rashid@example.com",
            "Представление": "rashid@example.com",
        },
    ]


def test_a_patch_carries_only_the_given_fields(profile):
    assert profile.customer_to_onec({"email": "new@example.com"}) == (
        {},
        [
            {
                "LineNumber": "1",
                "Тип": "АдресЭлектроннойПочты",
                "АдресЭП": "new@example.com",
                "Представление": "new@example.com",
            }
        ],
    )
    assert profile.customer_to_onec({"birth_date": None}) == ({"ДатаРождения": EMPTY_DATE}, [])
    assert profile.customer_to_onec({"onec_ref": None}) == ({}, [])  # 1C assigns the key


def test_name_parts_travel_together(profile):
    with pytest.raises(MissingField, match="needs first_name, middle_name"):
        profile.customer_to_onec({"last_name": "Иванов"})


def test_a_name_that_would_not_read_back_is_refused_or_skipped(profile):
    lonely = {"last_name": None, "first_name": "Иван", "middle_name": None, "gender": "male"}
    with pytest.raises(InvalidName, match=r"Catalog_Партнеры\.НаименованиеПолное/Description"):
        profile.customer_to_onec(lonely)
    errors: list[MappingError] = []
    body, _ = profile.customer_to_onec(lonely, errors=errors)
    assert body == {"Пол": "Мужской"} and len(errors) == 1


def test_hub_text_with_a_control_character_is_not_sent(profile):
    with pytest.raises(ControlCharacter):
        profile.customer_to_onec({"last_name": "Иванов\x1b", "first_name": "Иван", "middle_name": None})


def test_merge_contacts_updates_the_row_the_hub_reads_and_keeps_the_rest(profile):
    existing = [
        row(1, "Адрес", Представление="Москва"),
        row(2, "Телефон", НомерТелефона="+74951234567", Представление="+7 495 123-45-67"),
        row(3, "Телефон", НомерТелефона="+79031112233", Представление="+7 903 111-22-33"),
    ]
    merged = profile.merge_contacts(existing, {"phone_e164": "+79161234567"})
    assert [r["LineNumber"] for r in merged] == ["1", "2", "3"]
    assert [r.get("НомерТелефона") for r in merged] == [None, "+74951234567", "+79161234567"]
    assert merged[2]["Вид_Key"] == CONTACT_KIND and merged[2]["Представление"] == "+7 916 123-45-67"
    assert profile.customer_from_onec(partner(), merged)["phone_e164"] == "+79161234567"


def test_merge_contacts_adds_a_mobile_beside_a_landline(profile):
    existing = [row(1, "Телефон", НомерТелефона="+74951234567")]
    merged = profile.merge_contacts(existing, {"phone_e164": "+79161234567"})
    assert [r["НомерТелефона"] for r in merged] == ["+74951234567", "+79161234567"]
    assert profile.customer_from_onec(partner(), merged)["phone_e164"] == "+79161234567"


def test_merge_contacts_removes_a_cleared_value_and_ignores_absent_ones(profile):
    existing = [
        row(1, "Телефон", НомерТелефона="+79161234567"),
        row(2, "АдресЭлектроннойПочты", АдресЭП="a@example.com"),
    ]
    merged = profile.merge_contacts(existing, {"phone_e164": None})
    assert merged == [{**existing[1], "LineNumber": "1"}]
    assert profile.merge_contacts(existing, {"last_name": "X"}) == existing


# --- cards ------------------------------------------------------------------------------------


def test_retail_card(retail):
    card = {
        "Ref_Key": CARD,
        "DataVersion": "AAAAAgAAAAA=",
        "Code": "000000017",
        "Description": "2000000000017",
        "ВидКарты_Key": KIND,
        "МагнитныйКод": "     ",  # 1C pads fixed-length strings, empty ones too
        "Штрихкод": "2000000000017   ",
        "Статус": "Заблокирована",
        "ВладелецКарты": EMPTY_REF,
        "ВладелецКарты_Type": "StandardODATA.Undefined",
        "ДатаОткрытия": "2020-01-15T12:00:00",
    }
    assert retail.card_from_onec(card) == {
        "onec_ref": CARD,
        "number": "2000000000017",
        "status": CardStatus.BLOCKED,
        "customer_onec_ref": None,
        "kind_onec_ref": KIND,
    }


def test_retail_card_owner_is_a_composite_reference(retail):
    body = retail.card_to_onec({"customer_onec_ref": PARTNER})
    assert body == {"ВладелецКарты": PARTNER, "ВладелецКарты_Type": "StandardODATA.Catalog_Партнеры"}
    assert retail.card_from_onec(body) == {"customer_onec_ref": PARTNER}
    assert retail.card_to_onec({"customer_onec_ref": None}) == {
        "ВладелецКарты": EMPTY_REF,
        "ВладелецКарты_Type": "StandardODATA.Undefined",
    }
    assert "ВладелецКарты_Type" in retail.card.onec_fields  # $select asks for the type too
    foreign = {"ВладелецКарты": PARTNER, "ВладелецКарты_Type": "StandardODATA.Catalog_Контрагенты"}
    with pytest.raises(InvalidReference, match="expected a Catalog_Партнеры"):
        retail.card_from_onec(foreign)


def test_ut11_card(ut11):
    card = {
        "Ref_Key": CARD,
        "Owner_Key": KIND,
        "Description": "Карта 17",
        "Штрихкод": "",
        "МагнитныйКод": ";2000000000017=4912?",  # the stripe's track 2, as the reader typed it
        "Статус": "Действует",
        "Партнер_Key": PARTNER,
        "Контрагент_Key": EMPTY_REF,
        "Соглашение_Key": EMPTY_REF,
    }
    assert ut11.card_from_onec(card) == {
        "onec_ref": CARD,
        "number": "2000000000017",
        "status": CardStatus.ACTIVE,
        "customer_onec_ref": PARTNER,
        "kind_onec_ref": KIND,
    }
    assert ut11.card_to_onec(
        {"number": "17", "status": "accumulation_only", "customer_onec_ref": PARTNER}
    ) == {
        "Штрихкод": "17",
        "Description": "17",
        "Статус": "ТолькоНакопление",
        "Партнер_Key": PARTNER,
    }


def test_card_errors(profile):
    with pytest.raises(InvalidEnumValue, match=f"guid'{CARD}'\\).Статус"):
        profile.card_from_onec({"Ref_Key": CARD, "Статус": "Потеряна"})
    with pytest.raises(MappingError, match="not a GUID"):
        profile.card_from_onec({"Ref_Key": "карта-17"})
    with pytest.raises(InvalidEnumValue):
        profile.card_to_onec({"status": "lost"})
    with pytest.raises(InvalidValueType, match="expected a string, got int"):
        profile.card_from_onec({"Штрихкод": 2000000000017})


# --- bonus documents and balances ------------------------------------------------------------

ACCRUAL = {
    "amount": Decimal("150.50"),
    "occurred_at": datetime(2024, 3, 20, 11, 5, 7, tzinfo=UTC),
    "available_from": datetime(2024, 3, 21, 0, 0, tzinfo=UTC),
    "expires_at": None,
    "program_onec_ref": PROGRAM,
    "reason": "BonusBridge website:order-1017",
    "card_onec_ref": CARD,
    "customer_onec_ref": PARTNER,
}


def test_retail_movement_is_per_card(retail):
    body = retail.movement_to_onec(ACCRUAL)
    assert body == {
        "Date": "2024-03-20T14:05:07",
        "БонуснаяПрограммаЛояльности_Key": PROGRAM,
        "Комментарий": "BonusBridge website:order-1017",
        "ВидОперации": "Начисление",
        "Начисление": [
            {
                "LineNumber": "1",
                "ДисконтнаяКарта_Key": CARD,
                "СуммаБонусныхБаллов": Decimal("150.50"),
                "ДатаНачисления": "2024-03-21T03:00:00",
                "ДатаСписания": EMPTY_DATE,
            }
        ],
    }
    assert '"СуммаБонусныхБаллов":150.50' in dumps_onec_json(body)


def test_ut11_movement_is_per_partner_and_a_debit_is_a_write_off(ut11):
    body = ut11.movement_to_onec({**ACCRUAL, "amount": Decimal("-20")})
    assert body["ВидОперации"] == "Списание"
    row = body["Начисление"][0]
    assert row["Партнер_Key"] == PARTNER and "ДисконтнаяКарта_Key" not in row
    assert row["СуммаБонусныхБаллов"] == Decimal("20.00")
    movement = ut11.movement_from_onec(loads_onec_json(dumps_onec_json(body)))
    assert movement == [
        {
            **{k: v for k, v in ACCRUAL.items() if k != "card_onec_ref"},
            "line_number": 1,
            "amount": Decimal("-20.00"),
        }
    ]


def test_movement_refusals(profile):
    for amount, error in ((0.5, InvalidAmountText), (Decimal(0), InvalidAmountText), (None, MissingField)):
        with pytest.raises(error):
            profile.movement_to_onec({**ACCRUAL, "amount": amount})
    missing_owner = {k: v for k, v in ACCRUAL.items() if k != profile.bonus_owner_field}
    with pytest.raises(MissingField, match=profile.bonus_owner_field):
        profile.movement_to_onec(missing_owner)
    with pytest.raises(InvalidEnumValue, match="unknown operation"):
        profile.movement_from_onec({"ВидОперации": "Перемещение", "Начисление": []})
    with pytest.raises(MissingField, match="without its amount"):
        profile.movement_from_onec({"ВидОперации": "Начисление", "Начисление": [{"LineNumber": "1"}]})


def test_a_document_without_the_proposed_date_columns_leaves_the_dates_out(profile):
    document = {
        "Ref_Key": CARD,
        "Date": "2024-03-20T14:05:07",
        "ВидОперации": "Начисление",
        "БонуснаяПрограммаЛояльности_Key": PROGRAM,
        "Комментарий": "",
        "Начисление": [
            {
                "LineNumber": "2",
                profile.movement.rows.rules[0].onec[0]: CARD,
                "СуммаБонусныхБаллов": 5,
                "КСписанию": 0,
            },
            {
                "LineNumber": "1",
                profile.movement.rows.rules[0].onec[0]: CARD,
                "СуммаБонусныхБаллов": Decimal("1.5"),
            },
        ],
    }
    owner = profile.bonus_owner_field
    common = {
        "onec_ref": CARD,
        "occurred_at": ACCRUAL["occurred_at"],
        "program_onec_ref": PROGRAM,
        "reason": None,
    }
    assert profile.movement_from_onec(document) == [
        {**common, owner: CARD, "line_number": 1, "amount": Decimal("1.50")},
        {**common, owner: CARD, "line_number": 2, "amount": Decimal("5.00")},
    ]


def test_movement_rows_need_a_usable_line_number(profile):
    owner_column = profile.movement.rows.rules[0].onec[0]
    document = {"Ref_Key": CARD, "ВидОперации": "Списание"}
    row = {owner_column: CARD, "СуммаБонусныхБаллов": 5}
    with pytest.raises(
        MissingField, match=r"Начисление\[LineNumber=\?\]: a row without its LineNumber"
    ) as caught:
        profile.movement_from_onec({**document, "Начисление": [row]})
    assert caught.value.field == "LineNumber"
    for bad in ("один", "0", 1.0):
        with pytest.raises(InvalidAmountText, match=r"\.LineNumber: ") as caught:
            profile.movement_from_onec({**document, "Начисление": [{**row, "LineNumber": bad}]})
        assert caught.value.field == "LineNumber"
    assert (
        profile.movement_from_onec({**document, "Начисление": [{**row, "LineNumber": 7}]})[0]["line_number"]
        == 7
    )


def test_balance_rows(retail, ut11):
    common = {"БонуснаяПрограммаЛояльности_Key": PROGRAM, "НачисленоBalance": 150.5, "КСписаниюBalance": 0}
    parsed = loads_onec_json(dumps_onec_json({**common, "НачисленоBalance": Decimal("150.5")}))
    assert retail.balance_from_onec({"ДисконтнаяКарта_Key": CARD, **parsed}) == {
        "card_onec_ref": CARD,
        "program_onec_ref": PROGRAM,
        "total": Decimal("150.50"),
        "to_write_off": Decimal("0.00"),
    }
    assert ut11.balance_from_onec({"Партнер_Key": PARTNER, **parsed})["customer_onec_ref"] == PARTNER
    with pytest.raises(InvalidAmountText, match=r"НачисленоBalance: .*float"):
        ut11.balance_from_onec({"Партнер_Key": PARTNER, **common})
