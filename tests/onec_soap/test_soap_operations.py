"""Every operation of the web service through zeep against the live WSDL, on both configurations."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest

from connectors.onec.errors import OneCAuthError, OneCNotFound, OneCServerError
from connectors.onec.soap_client import LoyaltySoapClient

from .conftest import (
    CARD_IVANOV_1,
    CARD_IVANOV_2,
    CARD_PETROVA,
    IVANOV,
    IVANOV_PHONE,
    PETROVA,
    Base,
    soap_client,
)

REGISTER_BALANCE = "AccumulationRegister_БонусныеБаллы/Balance"


def register_total(base: Base, dimension: str, key: str) -> Decimal:
    """What OData's Balance says: the posted document must be visible there."""
    rows = base.get_json(REGISTER_BALANCE)["value"]
    return sum((Decimal(str(r["НачисленоBalance"])) for r in rows if r[dimension] == key), Decimal(0))


@pytest.mark.parametrize("phone", [IVANOV_PHONE, "89161234567", "9161234567", "+7-916-123-45-67"])
def test_find_cards_by_phone_normalizes_digits(soap: LoyaltySoapClient, phone: str) -> None:
    cards = soap.find_cards_by_phone(phone)
    assert sorted(c.number for c in cards) == [CARD_IVANOV_1, CARD_IVANOV_2]
    assert {c.owner for c in cards} == {IVANOV}
    assert {c.owner_name for c in cards} == {"Иванов Иван Иванович"}
    assert {c.status for c in cards} == {"Действует"}
    assert {c.kind for c in cards} == {"Бонусная карта Добрострой"}


def test_find_cards_messy_phones(soap: LoyaltySoapClient) -> None:
    assert [c.number for c in soap.find_cards_by_phone("8 916 234 56 78")] == [CARD_PETROVA]
    assert [c.number for c in soap.find_cards_by_phone("+79163456789")] == [
        "2000000000042"
    ]  # no НомерТелефона
    assert [c.number for c in soap.find_cards_by_phone("(495) 111-22-33")] == ["2000000000042"]  # "доб. 5"
    assert soap.find_cards_by_phone("+7 000 000-00-00") == []


def test_find_cards_bad_phone_is_a_fault(soap: LoyaltySoapClient) -> None:
    with pytest.raises(OneCServerError) as caught:
        soap.find_cards_by_phone("12345")
    assert caught.value.onec_message == "Неверный номер телефона: нужно не меньше 10 цифр"


def test_balances_per_card_in_retail(retail: Base) -> None:
    with soap_client(retail) as soap:
        assert soap.card_balance(CARD_IVANOV_1).accrued == Decimal("650")
        assert soap.card_balance(CARD_IVANOV_2).accrued == Decimal("100")
        cards = {c.number: c.balance for c in soap.find_cards_by_phone(IVANOV_PHONE)}
    assert cards == {CARD_IVANOV_1: Decimal("650"), CARD_IVANOV_2: Decimal("100")}


def test_balances_per_partner_in_ut11(ut11: Base) -> None:
    """УТ 11 keeps bonuses per partner: both of Иванов's cards show his 750."""
    with soap_client(ut11) as soap:
        assert soap.card_balance(CARD_IVANOV_1).accrued == Decimal("750")
        assert soap.card_balance(CARD_IVANOV_2).accrued == Decimal("750")
        balance = soap.card_balance(CARD_PETROVA)
    assert balance.card_number == CARD_PETROVA
    assert (balance.accrued, balance.to_write_off) == (Decimal(1200), Decimal(0))


def test_unknown_card_keeps_1c_message(soap: LoyaltySoapClient) -> None:
    with pytest.raises(OneCNotFound) as caught:
        soap.card_balance("9999999999999")
    assert caught.value.onec_message == "Карта лояльности с номером 9999999999999 не найдена"


def test_post_movement_retail_is_idempotent_and_visible_in_odata(retail: Base) -> None:
    with soap_client(retail) as soap:
        first = soap.post_bonus_movement(CARD_IVANOV_1, Decimal("120.50"), "site-order-1", "Заказ 1")
        again = soap.post_bonus_movement(CARD_IVANOV_1, Decimal("120.50"), "site-order-1", "Заказ 1")
        assert first.created and not again.created
        assert (again.ref, again.number) == (first.ref, first.number)
        assert first.number.startswith("РЗ")
        assert soap.card_balance(CARD_IVANOV_1).accrued == Decimal("770.50")  # 650 + 120.50, once
    doc = retail.get_json(f"Document_НачислениеИСписаниеБонусныхБаллов(guid'{first.ref}')")
    assert doc["Posted"] is True
    assert doc["ВидОперации"] == "Начисление"
    assert doc["Комментарий"] == "Заказ 1\nВнешнийИдентификатор: site-order-1"
    assert doc["Начисление"][0]["ДисконтнаяКарта_Key"] == "40000000-0000-4000-8000-000000000001"
    assert register_total(retail, "ДисконтнаяКарта_Key", "40000000-0000-4000-8000-000000000001") == Decimal(
        "770.50"
    )


def test_post_movement_ut11_goes_to_the_partner(ut11: Base) -> None:
    with soap_client(ut11) as soap:
        movement = soap.post_bonus_movement(CARD_IVANOV_2, Decimal(-50), "writeoff-1")
        assert movement.number.startswith("ТД")
        assert soap.card_balance(CARD_IVANOV_1).accrued == Decimal(700)  # same partner, other card
    doc = ut11.get_json(f"Document_НачислениеИСписаниеБонусныхБаллов(guid'{movement.ref}')")
    assert doc["ВидОперации"] == "Списание"
    assert doc["Начисление"][0]["Партнер_Key"] == IVANOV
    assert register_total(ut11, "Партнер_Key", IVANOV) == Decimal(700)


def test_external_id_reused_for_another_movement_is_refused(soap: LoyaltySoapClient) -> None:
    soap.post_bonus_movement(CARD_IVANOV_1, Decimal(10), "dup-1")
    with pytest.raises(OneCServerError) as caught:
        soap.post_bonus_movement(CARD_IVANOV_1, Decimal(11), "dup-1")
    assert "уже использован" in (caught.value.onec_message or "")


def test_write_off_beyond_balance_is_refused(soap: LoyaltySoapClient) -> None:
    with pytest.raises(OneCServerError) as caught:
        soap.post_bonus_movement(CARD_PETROVA, Decimal(-5000), "too-much")
    assert (caught.value.onec_message or "").startswith("Недостаточно бонусных баллов")
    assert soap.card_balance(CARD_PETROVA).accrued == Decimal(1200)


def test_zero_amount_is_refused(soap: LoyaltySoapClient) -> None:
    with pytest.raises(OneCServerError, match="нулевой"):
        soap.post_bonus_movement(CARD_PETROVA, Decimal(0), "zero")


def test_block_card(base: Base) -> None:
    with soap_client(base) as soap:
        card = soap.block_card(CARD_PETROVA, "утеряна")
        assert card.status == "НеДействует" and card.blocked
        assert soap.block_card(CARD_PETROVA).blocked  # twice is fine
        with pytest.raises(OneCServerError, match="заблокирована"):
            soap.post_bonus_movement(CARD_PETROVA, Decimal(10), "after-block")
        assert [c.status for c in soap.find_cards_by_phone("89162345678")] == ["НеДействует"]
    cards = "Catalog_КартыЛояльности" if base.config == "ut11" else "Catalog_ИнформационныеКарты"
    stored = base.get_json(f"{cards}(guid'40000000-0000-4000-8000-000000000003')")
    assert stored["Статус"] == "НеДействует" and stored["DeletionMark"] is False


def test_get_partner(soap: LoyaltySoapClient) -> None:
    partner = soap.get_partner(IVANOV)
    assert partner.name == partner.full_name == "Иванов Иван Иванович"
    assert partner.phone == IVANOV_PHONE
    assert partner.email == "ivanov@example.ru"
    assert partner.birth_date == date(1985, 7, 20)
    assert partner.code == "000000001"
    assert soap.get_partner(PETROVA).birth_date is None


def test_get_partner_errors(soap: LoyaltySoapClient) -> None:
    with pytest.raises(OneCNotFound):
        soap.get_partner("10000000-0000-4000-8000-0000000000ff")
    with pytest.raises(OneCServerError, match="Неверный идентификатор"):
        soap.get_partner("not-a-guid")


def test_update_partner(base: Base) -> None:
    with soap_client(base) as soap:
        updated = soap.update_partner(
            PETROVA,
            full_name="Петрова Мария Сергеевна",
            phone="+7 (903) 555-44-33",
            email="maria@example.ru",
            birth_date=date(1990, 2, 28),
        )
        assert updated.full_name == "Петрова Мария Сергеевна"
        assert updated.phone == "+7 (903) 555-44-33"
        assert updated.email == "maria@example.ru"
        assert updated.birth_date == date(1990, 2, 28)
        assert updated.name == "Петрова Мария"  # not sent: unchanged
        assert [c.number for c in soap.find_cards_by_phone("89035554433")] == [CARD_PETROVA]
        assert soap.find_cards_by_phone("89162345678") == []
        cleared = soap.update_partner(PETROVA, email="", clear_birth_date=True)
        assert cleared.email == "" and cleared.birth_date is None
    stored = base.get_json(f"Catalog_Партнеры(guid'{PETROVA}')")
    assert stored["ДатаРождения"] == "0001-01-01T00:00:00"
    assert [row["Тип"] for row in stored["КонтактнаяИнформация"]] == ["Телефон"]


def test_update_partner_bad_email(soap: LoyaltySoapClient) -> None:
    with pytest.raises(OneCServerError, match="электронной почты"):
        soap.update_partner(IVANOV, email="not an email")


def test_read_only_user_cannot_write(retail: Base) -> None:
    with soap_client(retail, ("Наблюдатель", "просмотр")) as soap:
        assert soap.card_balance(CARD_PETROVA).accrued == Decimal(1200)  # reading is allowed
        with pytest.raises(OneCAuthError) as caught:
            soap.post_bonus_movement(CARD_PETROVA, Decimal(1), "ro-1")
    assert caught.value.onec_message == "Нарушение прав доступа!"


def test_soap12_binding(base: Base) -> None:
    with soap_client(base, soap12=True) as soap:
        assert soap.card_balance(CARD_PETROVA).accrued == Decimal(1200)
        assert soap.post_bonus_movement(CARD_PETROVA, Decimal(5), "s12").created
        with pytest.raises(OneCNotFound) as caught:
            soap.card_balance("0")
    assert caught.value.onec_message == "Карта лояльности с номером 0 не найдена"


def test_client_side_typing_of_xdto_error(retail: Base) -> None:
    """A request 1C cannot read (a required element missing) is a soap:Client fault."""
    envelope = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soap:Body><m:GetCardBalance xmlns:m="http://dobrostroy.ru/loyalty"/></soap:Body></soap:Envelope>'
    )
    response = httpx.post(
        f"{retail.origin}/dobrostroy/ws/Loyalty.1cws",
        content=envelope.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        auth=httpx.BasicAuth("Сайт".encode(), "сайт-пароль".encode()),
        timeout=5,
    )
    assert response.status_code == 500
    assert "<faultcode>soap:Client</faultcode>" in response.text
    assert "не заполнено свойство 'cardNumber'" in response.text
