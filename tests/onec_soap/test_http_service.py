"""The ``/hs/loyalty/`` HTTP service: each endpoint raw (status codes, 1C's error JSON) and through
``LoyaltyHttpClient`` (typed results and errors)."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bonusbridge.settings import Settings
from connectors.onec.auth import basic_auth
from connectors.onec.errors import (
    OneCAuthError,
    OneCConflict,
    OneCNotFound,
    OneCProtocolError,
    OneCQueryError,
    OneCUnavailable,
)
from connectors.onec.hs_client import LoyaltyHttpClient, ping

from .conftest import (
    CARD_IVANOV_1,
    CARD_IVANOV_2,
    CARD_PETROVA,
    IVANOV,
    IVANOV_PHONE,
    PETROVA,
    SITE,
    Base,
    hs_client,
    publication,
)


def raw(base: Base, user: tuple[str, str] | None = SITE) -> httpx.Client:
    headers = {} if user is None else {"Authorization": basic_auth(*user)}
    return httpx.Client(base_url=f"{publication(base)}/hs/loyalty/", headers=headers, timeout=5)


def set_faults(base: Base, **faults: Any) -> None:
    with base.admin() as admin:
        assert admin.put("/_admin/faults", json=faults).status_code == 200


# --- raw endpoints ---------------------------------------------------------------------------------
def test_endpoints_raw(retail: Base) -> None:
    with raw(retail) as c:
        cards = c.get("cards", params={"phone": IVANOV_PHONE})
        assert cards.status_code == 200 and cards.headers["content-type"].startswith("application/json")
        assert sorted(x["number"] for x in cards.json()["cards"]) == [CARD_IVANOV_1, CARD_IVANOV_2]
        assert c.get(f"cards/{CARD_PETROVA}/balance").json() == {
            "cardNumber": CARD_PETROVA,
            "accrued": "1200.00",
            "toWriteOff": "0",
        }
        body = {"cardNumber": CARD_PETROVA, "amount": "25.5", "externalId": "hs-1", "comment": "тест"}
        created = c.post("movements", json=body)
        assert created.status_code == 201 and created.json()["created"] is True
        repeat = c.post("movements", json=body)
        assert repeat.status_code == 200 and repeat.json()["ref"] == created.json()["ref"]
        assert c.get(f"cards/{CARD_PETROVA}/balance").json()["accrued"] == "1225.50"
        blocked = c.post(f"cards/{CARD_PETROVA}/block", json={"reason": "утеряна"})
        assert blocked.status_code == 200 and blocked.json()["status"] == "НеДействует"
        partner = c.get(f"partners/{IVANOV}")
        assert partner.json()["birthDate"] == "1985-07-20"
        patched = c.patch(f"partners/{IVANOV}", json={"email": "new@example.ru"})
        assert patched.status_code == 200 and patched.json()["email"] == "new@example.ru"


def test_errors_raw(retail: Base) -> None:
    with raw(retail) as c:
        missing = c.get("cards/0000/balance")
        assert missing.status_code == 404
        error = missing.json()
        assert error["errorCode"] == "NotFound"
        assert error["exception"]["cause"]["description"] == "Карта лояльности с номером 0000 не найдена"
        assert error["exception"]["moduleName"].startswith("HTTPСервис.")
        assert c.get("cards").status_code == 400  # no phone
        assert c.post("movements", content=b"{not json").status_code == 400
        assert c.post("movements", json={"cardNumber": CARD_PETROVA, "amount": 5}).status_code == 400
        c.post("movements", json={"cardNumber": CARD_PETROVA, "amount": 5, "externalId": "x"})
        conflict = c.post("movements", json={"cardNumber": CARD_PETROVA, "amount": 6, "externalId": "x"})
        assert conflict.status_code == 409
        assert c.patch(f"partners/{IVANOV}", json={"unknown": "1"}).status_code == 400
        assert c.get("nothing/here").status_code == 404
        assert c.delete(f"partners/{IVANOV}").status_code == 405
    with raw(retail, None) as anonymous:
        assert anonymous.get(f"partners/{IVANOV}").status_code == 401
    with raw(retail, ("Сайт", "неверный")) as wrong:
        assert wrong.get(f"partners/{IVANOV}").status_code == 401
    with raw(retail, ("Наблюдатель", "просмотр")) as reader:
        assert reader.get(f"partners/{IVANOV}").status_code == 200
        denied = reader.post(f"cards/{CARD_PETROVA}/block", json={})
        assert denied.status_code == 403
        assert denied.json()["exception"]["cause"]["description"] == "Нарушение прав доступа!"


# --- typed client -----------------------------------------------------------------------------------
def test_client_operations(base: Base) -> None:
    with hs_client(base) as hs:
        cards = hs.find_cards_by_phone("8 (916) 123-45-67")
        assert sorted(c.number for c in cards) == [CARD_IVANOV_1, CARD_IVANOV_2]
        before = hs.card_balance(CARD_IVANOV_1).accrued
        assert before == (Decimal(650) if base.config == "retail" else Decimal(750))
        first = hs.post_bonus_movement(CARD_IVANOV_1, Decimal("10.25"), "hs-idem")
        again = hs.post_bonus_movement(CARD_IVANOV_1, Decimal("10.25"), "hs-idem")
        assert first.created and not again.created and first.ref == again.ref
        assert hs.card_balance(CARD_IVANOV_1).accrued == before + Decimal("10.25")
        other = hs.card_balance(CARD_IVANOV_2).accrued
        assert other == (Decimal(100) if base.config == "retail" else before + Decimal("10.25"))
        assert hs.block_card(CARD_IVANOV_2, "утеряна").blocked
        partner = hs.update_partner(PETROVA, name="Петрова М.", birth_date=date(1991, 1, 2))
        assert (partner.name, partner.birth_date) == ("Петрова М.", date(1991, 1, 2))
        assert hs.get_partner(PETROVA) == partner
        assert hs.update_partner(PETROVA, clear_birth_date=True).birth_date is None


def test_client_errors(retail: Base) -> None:
    with hs_client(retail) as hs:
        with pytest.raises(OneCNotFound) as not_found:
            hs.card_balance("нет-такой")
        assert not_found.value.onec_message == "Карта лояльности с номером нет-такой не найдена"
        with pytest.raises(OneCQueryError) as bad:
            hs.find_cards_by_phone("123")
        assert bad.value.onec_message == "Неверный номер телефона: нужно не меньше 10 цифр"
        hs.post_bonus_movement(CARD_PETROVA, Decimal(1), "c-1")
        with pytest.raises(OneCConflict):
            hs.post_bonus_movement(CARD_PETROVA, Decimal(2), "c-1")
    with hs_client(retail, ("Сайт", "неверный")) as wrong, pytest.raises(OneCAuthError) as auth:
        wrong.get_partner(IVANOV)
    assert auth.value.status == 401
    with hs_client(retail, ("Наблюдатель", "просмотр")) as reader, pytest.raises(OneCAuthError) as denied:
        reader.block_card(CARD_PETROVA)
    assert denied.value.status == 403 and denied.value.onec_message == "Нарушение прав доступа!"


@pytest.mark.parametrize(("page", "status"), [("1c", 500), ("iis", 502)])
def test_client_html_error_page(
    retail: Base, page: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    set_faults(retail, error_rate=1.0, error_status=status, error_page=page, match="/hs/")
    with hs_client(retail) as hs, pytest.raises(OneCUnavailable) as caught:
        hs.find_cards_by_phone(IVANOV_PHONE)
    assert caught.value.status == status
    if page == "1c":
        assert "сервер 1С:Предприятия недоступен" in (caught.value.onec_message or "")
    assert "FindCardsByPhone" in caplog.text and "916" not in caplog.text


def test_client_not_published(retail: Base) -> None:
    """A 404 without 1C's JSON means the service (or the URL template) is not there."""
    hs = LoyaltyHttpClient(f"{publication(retail)}/nope", *SITE, timeout=5)
    with hs, pytest.raises((OneCProtocolError, OneCNotFound)) as caught:
        hs.get_partner(IVANOV)
    assert not isinstance(caught.value, OneCNotFound)


def test_client_non_json_success_is_protocol_error() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, html="<html>login</html>"))
    with (
        LoyaltyHttpClient("http://1c/base", *SITE, transport=transport) as hs,
        pytest.raises(OneCProtocolError),
    ):
        hs.get_partner(IVANOV)


def test_client_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    hs = LoyaltyHttpClient("http://1c/base", *SITE, transport=httpx.MockTransport(refuse))
    with hs, pytest.raises(OneCUnavailable):
        hs.card_balance(CARD_PETROVA)


def test_ping(retail: Base) -> None:
    settings = Settings(onec_base_url=publication(retail), onec_username=SITE[0], onec_password=SITE[1])
    ok, detail = ping(settings)
    assert ok, detail
    bad, detail = ping(Settings(onec_base_url=publication(retail), onec_username=SITE[0], onec_password="x"))
    assert not bad and "onec_auth" in detail
