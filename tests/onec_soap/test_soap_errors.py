"""Hardening and failure handling of the web service and its zeep client: XXE and DTDs refused,
wrong passwords, an unreachable 1C, HTML error pages, lock conflicts, the local WSDL with an
endpoint override, ping, and logs without personal data."""

from __future__ import annotations

import logging
import socket
from decimal import Decimal
from typing import Any

import httpx
import pytest
import zeep.exceptions

from bonusbridge.settings import Settings
from connectors.onec.auth import basic_auth
from connectors.onec.errors import (
    OneCAuthError,
    OneCError,
    OneCLockConflict,
    OneCNotFound,
    OneCProtocolError,
    OneCQueryError,
    OneCServerError,
    OneCUnavailable,
)
from connectors.onec.soap_client import LOCAL_WSDL, LoyaltySoapClient, _from_fault, ping

from .conftest import CARD_PETROVA, IVANOV_PHONE, SITE, Base, publication, soap_client

ENDPOINT = "/dobrostroy/ws/Loyalty.1cws"


def post_raw(base: Base, body: str | bytes, content_type: str = "text/xml; charset=utf-8") -> httpx.Response:
    return httpx.post(
        f"{base.origin}{ENDPOINT}",
        content=body.encode() if isinstance(body, str) else body,
        headers={"Content-Type": content_type, "Authorization": basic_auth(*SITE)},
        timeout=5,
    )


def set_faults(base: Base, **faults: Any) -> None:
    with base.admin() as admin:
        assert admin.put("/_admin/faults", json=faults).status_code == 200


XXE = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body><m:GetCardBalance xmlns:m="http://dobrostroy.ru/loyalty">
    <m:cardNumber>&xxe;</m:cardNumber>
  </m:GetCardBalance></soap:Body>
</soap:Envelope>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body><m:GetCardBalance xmlns:m="http://dobrostroy.ru/loyalty">
    <m:cardNumber>&lol3;</m:cardNumber></m:GetCardBalance></soap:Body></soap:Envelope>"""


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_dtd_and_entities_are_refused(retail: Base, payload: str) -> None:
    response = post_raw(retail, payload)
    assert response.status_code == 500
    assert "<faultcode>soap:Client</faultcode>" in response.text
    assert "DTD" in response.text
    assert "root:" not in response.text and "lollol" not in response.text


def test_dtd_hidden_behind_utf16_is_refused(retail: Base) -> None:
    """The byte check cannot see a UTF-16 DOCTYPE; the parsed document's docinfo still refuses it."""
    response = post_raw(retail, XXE.replace('<?xml version="1.0"?>', "").encode("utf-16"))
    assert response.status_code == 500
    assert "soap:Client" in response.text
    assert "root:" not in response.text


def test_malformed_xml_and_unknown_operation(retail: Base) -> None:
    broken = post_raw(retail, "<soap:Envelope")
    assert broken.status_code == 500 and "Ошибка разбора XML" in broken.text
    unknown = post_raw(
        retail,
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<m:DropDatabase xmlns:m="http://dobrostroy.ru/loyalty"/></soap:Body></soap:Envelope>',
    )
    assert unknown.status_code == 500 and "DropDatabase" in unknown.text


def test_post_without_credentials_is_401(retail: Base) -> None:
    response = httpx.post(f"{retail.origin}{ENDPOINT}", content=b"<x/>", timeout=5)
    assert response.status_code == 401


def test_wrong_password_live_wsdl(retail: Base) -> None:
    with soap_client(retail, ("Сайт", "неверный")) as soap, pytest.raises(OneCAuthError) as caught:
        soap.card_balance(CARD_PETROVA)
    assert caught.value.status == 401


def test_wrong_password_local_wsdl(retail: Base) -> None:
    client = soap_client(retail, ("Сайт", "неверный"), wsdl=LOCAL_WSDL, endpoint=f"{retail.origin}{ENDPOINT}")
    with client, pytest.raises(OneCAuthError) as caught:
        client.card_balance(CARD_PETROVA)
    assert caught.value.status == 401


def test_cyrillic_login_is_sent_as_utf8(retail: Base) -> None:
    with soap_client(retail, ("Администратор", "")) as soap:
        assert soap.card_balance(CARD_PETROVA).accrued == Decimal(1200)


def test_local_wsdl_with_endpoint_override(base: Base) -> None:
    """The shipped WSDL names srv1c.dobrostroy.local; the override sends calls to the emulator."""
    client = soap_client(base, wsdl=LOCAL_WSDL, endpoint=f"{base.origin}{ENDPOINT}")
    with client:
        assert client.card_balance(CARD_PETROVA).accrued == Decimal(1200)
        assert client.address == f"{base.origin}{ENDPOINT}"
        assert client.post_bonus_movement(CARD_PETROVA, Decimal(1), "local-1").created
    with soap_client(base, wsdl=LOCAL_WSDL, endpoint=f"{base.origin}{ENDPOINT}", soap12=True) as c12:
        assert c12.card_balance(CARD_PETROVA).accrued == Decimal(1201)


def test_live_wsdl_with_endpoint_override(retail: Base) -> None:
    with soap_client(retail, endpoint=f"http://127.0.0.1:{retail.server.port}{ENDPOINT}") as soap:
        assert soap.card_balance(CARD_PETROVA).accrued == Decimal(1200)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable() -> None:
    port = free_port()
    live = LoyaltySoapClient(f"http://127.0.0.1:{port}/dobrostroy", *SITE, timeout=2)
    with live, pytest.raises(OneCUnavailable):
        live.card_balance(CARD_PETROVA)
    endpoint = f"http://127.0.0.1:{port}{ENDPOINT}"
    local = LoyaltySoapClient("http://x/y", *SITE, timeout=2, wsdl=LOCAL_WSDL, endpoint=endpoint)
    with local, pytest.raises(OneCUnavailable):
        local.card_balance(CARD_PETROVA)


def test_missing_local_wsdl_is_typed() -> None:
    soap = LoyaltySoapClient("http://x/y", *SITE, wsdl="/nonexistent/Loyalty.wsdl")
    with soap, pytest.raises(OneCProtocolError):
        soap.card_balance(CARD_PETROVA)


@pytest.mark.parametrize(("page", "status"), [("1c", 500), ("iis", 503)])
def test_html_error_page_instead_of_soap(retail: Base, page: str, status: int) -> None:
    with soap_client(retail) as soap:
        soap.operations()  # the WSDL is loaded; now 1C breaks
        set_faults(retail, error_rate=1.0, error_status=status, error_page=page, match="/ws/")
        with pytest.raises(OneCUnavailable) as caught:
            soap.card_balance(CARD_PETROVA)
    assert caught.value.status == status
    if page == "1c":  # the platform's own words are kept
        assert "сервер 1С:Предприятия недоступен" in (caught.value.onec_message or "")


def test_html_error_page_on_wsdl_load(retail: Base) -> None:
    set_faults(retail, error_rate=1.0, error_status=502, error_page="iis", match="/ws/")
    with soap_client(retail) as soap, pytest.raises(OneCUnavailable) as caught:
        soap.card_balance(CARD_PETROVA)
    assert caught.value.status == 502


def test_lock_conflict(retail: Base) -> None:
    with soap_client(retail) as soap:
        soap.operations()
        set_faults(retail, lock_conflict_rate=1.0, match="/ws/")
        with pytest.raises(OneCLockConflict) as caught:
            soap.post_bonus_movement(CARD_PETROVA, Decimal(1), "lock-1")
    assert caught.value.retryable


def test_timeout(retail: Base) -> None:
    with LoyaltySoapClient(publication(retail), *SITE, timeout=0.5) as soap:
        soap.operations()
        set_faults(retail, timeout_rate=1.0, timeout_seconds=3, match="/ws/")
        with pytest.raises(OneCUnavailable, match="did not answer"):
            soap.card_balance(CARD_PETROVA)


def test_soap12_client_fault_shape(retail: Base) -> None:
    """zeep validates before sending, so a request 1C cannot read is sent raw (SOAP 1.2 here)."""
    response = post_raw(
        retail,
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
        '<m:GetCardBalance xmlns:m="http://dobrostroy.ru/loyalty"/></soap:Body></soap:Envelope>',
        "application/soap+xml; charset=utf-8",
    )
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/soap+xml")
    assert "<soap:Value>soap:Sender</soap:Value>" in response.text
    assert "не заполнено свойство 'cardNumber'" in response.text


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("soap:Client", "Ошибка преобразования данных XDTO", OneCQueryError),
        ("soap:Server", "Карта лояльности с номером 1 не найдена", OneCNotFound),
        ("soap:Server", "Нарушение прав доступа!", OneCAuthError),
        ("soap:Server", "Конфликт блокировок при выполнении транзакции", OneCLockConflict),
        ("soap:Receiver", "Недостаточно бонусных баллов", OneCServerError),
    ],
)
def test_fault_typing(code: str, message: str, expected: type[OneCError]) -> None:
    fault: Any = zeep.exceptions.Fault
    error = _from_fault(fault(message, code=code))
    assert type(error) is expected
    assert error.onec_message == message


def test_failures_are_logged_without_personal_data(retail: Base, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with soap_client(retail) as soap:
        soap.operations()
        set_faults(retail, error_rate=1.0, match="/ws/")
        with pytest.raises(OneCUnavailable) as caught:
            soap.find_cards_by_phone(IVANOV_PHONE)
    text = caplog.text
    assert "FindCardsByPhone" in text and "onec_unavailable" in text
    for secret in ("916", "123-45-67", "Иванов", "сайт-пароль"):
        assert secret not in text
    assert "123-45-67" not in str(caught.value)


def settings_for(base: Base, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "onec_base_url": publication(base),
        "onec_username": SITE[0],
        "onec_password": SITE[1],
        "onec_timeout_seconds": 5,
        **overrides,
    }
    return Settings(**values)


def test_ping(retail: Base) -> None:
    ok, detail = ping(settings_for(retail))
    assert ok, detail
    assert "6 operations" in detail and ENDPOINT in detail
    ok, detail = ping(
        settings_for(retail, onec_soap_wsdl=str(LOCAL_WSDL), onec_soap_endpoint=f"{retail.origin}{ENDPOINT}")
    )
    assert ok, detail
    bad, detail = ping(settings_for(retail, onec_password="неверный"))
    assert not bad and "onec_auth" in detail
