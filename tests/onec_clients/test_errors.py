"""Typed errors: emulator faults over real HTTP, and respx for shapes the emulator does not produce
(XML error bodies, oversized or truncated answers, control characters). Every error keeps 1C's
message and never echoes the credentials."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest
import respx

from connectors.onec.errors import (
    OneCError,
    OneCLockConflict,
    OneCNotFound,
    OneCProtocolError,
    OneCServerError,
    OneCUnavailable,
    error_from_response,
)
from connectors.onec.filters import F, Guid
from connectors.onec.odata import ODataClient
from tests.onec_live import PARTNER_PETROVA, Base

from .conftest import client_for, set_faults

PARTNERS = "Catalog_Партнеры"
ROOT = "http://1c.test/base"
URL = f"{ROOT}/odata/standard.odata/"


def test_1c_html_error_page_is_unavailable_with_its_title(retail: Base) -> None:
    set_faults(retail, error_rate=1.0, error_status=500, error_page="1c")
    with client_for(retail) as c, pytest.raises(OneCUnavailable) as info:
        c.list(PARTNERS)
    assert info.value.retryable and info.value.status == 500
    assert "1C:Enterprise 8 application error" in str(info.value)


def test_iis_503_is_unavailable(retail: Base) -> None:
    set_faults(retail, error_rate=1.0, error_status=503, error_page="iis")
    with client_for(retail) as c, pytest.raises(OneCUnavailable, match="Service Unavailable"):
        c.get(PARTNERS, PARTNER_PETROVA)


def test_lock_conflict_is_retryable_and_keeps_1c_message(retail: Base) -> None:
    set_faults(retail, lock_conflict_rate=1.0)
    with client_for(retail) as c, pytest.raises(OneCLockConflict) as info:
        c.patch(PARTNERS, PARTNER_PETROVA, {"Комментарий": "x"})
    assert info.value.retryable and "Конфликт блокировок" in (info.value.onec_message or "")
    set_faults(retail)
    with client_for(retail) as c:
        assert (
            "Комментарий" not in c.get(PARTNERS, PARTNER_PETROVA)
            or c.get(PARTNERS, PARTNER_PETROVA)["Комментарий"] != "x"
        )


def test_hang_becomes_a_timeout(retail: Base) -> None:
    set_faults(retail, timeout_rate=1.0, timeout_seconds=5)
    with client_for(retail, timeout=0.3) as c, pytest.raises(OneCUnavailable, match="did not answer in time"):
        c.list(PARTNERS)


def test_dropped_connection_mid_body(retail: Base) -> None:
    set_faults(retail, drop_rate=1.0)
    with client_for(retail) as c, pytest.raises((OneCProtocolError, OneCUnavailable)) as info:
        c.list(PARTNERS)
    assert info.value.retryable


def test_unreachable_1c() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        ODataClient(f"http://127.0.0.1:{port}/base", "u", "p", timeout=2) as c,
        pytest.raises(OneCUnavailable),
    ):
        c.list(PARTNERS)


def test_iis_query_string_limit_is_not_a_not_found(client: ODataClient) -> None:
    refs = [Guid(f"10000000-0000-4000-8000-{i:012d}") for i in range(60)]
    with pytest.raises(OneCProtocolError, match=r"404\.15") as info:
        client.list(PARTNERS, F.any_of("Ref_Key", refs))
    assert info.value.status == 404 and not isinstance(info.value, OneCNotFound)


def test_no_password_or_personal_data_in_logs(retail: Base, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="connectors.onec")
    with client_for(retail, password="секрет-123") as c, pytest.raises(OneCError):
        c.list(PARTNERS, F.eq("Description", "Петрова Мария"))
    with client_for(retail) as c:
        c.list(PARTNERS, F.eq("Description", "Петрова Мария"))
    assert caplog.records and "секрет" not in caplog.text and "Петрова" not in caplog.text
    assert "%D0%9F%D0%B5%D1%82" not in caplog.text  # not even percent-encoded
    assert "Catalog_Партнеры -> 200" in caplog.text


# --- shapes the emulator does not produce ----------------------------------------------------------


@respx.mock
def test_xml_error_body() -> None:
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><m:error xmlns:m="http://schemas.microsoft.com/ado/2007/08/'
        'dataservices/metadata"><m:code>9</m:code><m:message xml:lang="ru">Экземпляр сущности не найден'
        "</m:message></m:error>"
    )
    respx.get(url__startswith=URL).respond(404, text=xml, headers={"content-type": "application/xml"})
    with ODataClient(ROOT, "u", "p") as c, pytest.raises(OneCNotFound) as info:
        c.get(PARTNERS, PARTNER_PETROVA)
    assert info.value.onec_code == "9" and info.value.onec_message == "Экземпляр сущности не найден"


@respx.mock
def test_handler_failure_json_500_is_a_server_error() -> None:
    body = {
        "odata.error": {"code": "-1", "message": {"lang": "ru", "value": "Ошибка в обработчике ПередЗаписью"}}
    }
    respx.post(url__startswith=URL).respond(500, json=body)
    with ODataClient(ROOT, "u", "p") as c, pytest.raises(OneCServerError, match="ПередЗаписью") as info:
        c.create(PARTNERS, {"Description": "x"})
    assert not info.value.retryable


@respx.mock
def test_html_login_page_with_200_is_a_protocol_error() -> None:
    page = "<html><head><title>Вход в 1С:Предприятие</title></head><body><form>Пароль</form></body></html>"
    respx.get(url__startswith=URL).respond(200, text=page, headers={"content-type": "text/html"})
    with ODataClient(ROOT, "u", "p") as c, pytest.raises(OneCProtocolError, match="Вход в 1С:Предприятие"):
        c.list(PARTNERS)


@respx.mock
def test_atom_xml_instead_of_json() -> None:
    respx.get(url__startswith=URL).respond(
        200, text="<feed/>", headers={"content-type": "application/atom+xml"}
    )
    with ODataClient(ROOT, "u", "p") as c, pytest.raises(OneCProtocolError, match="XML instead of JSON"):
        c.list(PARTNERS)


@respx.mock
def test_truncated_json() -> None:
    respx.get(url__startswith=URL).respond(
        200,
        content=b'{"odata.metadata": "x", "value": [{"Ref_Key": "1',
        headers={"content-type": "application/json"},
    )
    with ODataClient(ROOT, "u", "p") as c, pytest.raises(OneCProtocolError, match="truncated"):
        c.list(PARTNERS)


@respx.mock
def test_oversized_answer_is_refused_while_reading() -> None:
    big = b'{"value": [' + b",".join([b'{"Description": "' + b"x" * 1000 + b'"}'] * 200) + b"]}"
    respx.get(url__startswith=URL).mock(
        return_value=httpx.Response(
            200, stream=httpx.ByteStream(big), headers={"content-type": "application/json"}
        )
    )
    with (
        ODataClient(ROOT, "u", "p", max_body_bytes=50_000) as c,
        pytest.raises(OneCProtocolError, match="limit"),
    ):
        c.list(PARTNERS)


@respx.mock
@pytest.mark.parametrize(
    "raw", [b'{"value": [{"Description": "a\\u0001b"}]}', b'{"value": [{"Description": "a\x01b"}]}']
)
def test_control_character_in_data(raw: bytes) -> None:
    respx.get(url__startswith=URL).respond(200, content=raw, headers={"content-type": "application/json"})
    with (
        ODataClient(ROOT, "u", "p") as c,
        pytest.raises(OneCProtocolError, match="control character") as info,
    ):
        c.list(PARTNERS)
    assert "a\x01b" not in str(info.value)


def test_error_parser_trims_long_html() -> None:
    page = "<html><head><title>Bad Request</title></head><body>" + "слово " * 5000 + "</body></html>"
    error = error_from_response(
        httpx.Response(
            400, text=page, headers={"content-type": "text/html"}, request=httpx.Request("GET", URL)
        )
    )
    assert isinstance(error, OneCProtocolError) and error.onec_message and len(error.onec_message) <= 300
    assert error.onec_message.startswith("Bad Request")


@respx.mock
def test_utf8_authorization_header() -> None:
    route = respx.get(url__startswith=URL).respond(200, json={"value": []})
    with ODataClient(ROOT, "Сайт", "пароль") as c:
        c.list(PARTNERS)
    import base64

    header = route.calls.last.request.headers["authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")).decode("utf-8") == "Сайт:пароль"
    url = str(route.calls.last.request.url)
    assert "+" not in url.split("?", 1)[1]


@respx.mock
def test_httpx_request_log_has_no_query_string(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    respx.get(url__startswith=URL).respond(200, json={"value": []})
    with ODataClient(ROOT, "u", "p") as c:
        c.list(PARTNERS, F.eq("Description", "Петрова"))
    assert (
        "HTTP Request" in caplog.text and "$filter" not in caplog.text and "%D0%9F%D0%B5" not in caplog.text
    )
