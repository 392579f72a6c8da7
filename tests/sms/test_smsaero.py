"""SMS Aero gateway against respx-mocked hosts, with the request and answer shapes of API v2."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from bonusbridge.settings import Settings
from sms.gateway import DeliveryStatus, GatewayError, OutgoingSms, SendOutcomeUnknown
from sms.gateways.smsaero import InvalidStatusPayload, SmsAeroGateway, parse_callback

EMAIL = "shop@example.ru"
API_KEY = "sa-key-4f9c2e7d1b"
PRIMARY = "https://gate.smsaero.ru/v2/"
SECOND = "https://gate.smsaero.org/v2/"
THIRD = "https://gate.smsaero.net/v2/"
SMS = OutgoingSms(message_id=42, phone_e164="+79031234567", text="Ваш код: 481516")


def sms_object(status: int = 0, extend_status: str = "queue", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": 12345,
        "from": "BonusShop",
        "number": "79031234567",
        "text": SMS.text,
        "status": status,
        "extendStatus": extend_status,
        "channel": "FREE SIGN",
        "cost": 5.49,
        "dateCreate": 1719119523,
        "dateSend": 1719119523,
    }
    data.update(overrides)
    return data


def ok(data: Any) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "message": None, "data": data})


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "smsaero_email": EMAIL,
        "smsaero_api_key": API_KEY,
        "smsaero_sign": "BonusShop",
        "sms_timeout_seconds": 3.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def gateway() -> Iterator[SmsAeroGateway]:
    gw = SmsAeroGateway(make_settings())
    yield gw
    gw.close()


# --- send -------------------------------------------------------------------------------------


def test_send_posts_json_with_basic_auth_and_reads_the_receipt(
    router: respx.MockRouter, gateway: SmsAeroGateway
) -> None:
    route = router.post(PRIMARY + "sms/send").mock(return_value=ok(sms_object()))

    receipt = gateway.send(SMS)

    request = route.calls.last.request
    assert str(request.url) == "https://gate.smsaero.ru/v2/sms/send"
    expected_auth = "Basic " + base64.b64encode(f"{EMAIL}:{API_KEY}".encode()).decode()
    assert request.headers["Authorization"] == expected_auth
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"number": "79031234567", "text": SMS.text, "sign": "BonusShop"}
    assert request.extensions["timeout"] == {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    assert receipt.gateway == "smsaero"
    assert receipt.provider_id == "12345"
    assert receipt.status is DeliveryStatus.QUEUED
    assert receipt.provider_status == "0:queue"
    assert receipt.failure_reason is None


def test_send_cost_is_the_exact_decimal_of_the_json_number(
    router: respx.MockRouter, gateway: SmsAeroGateway
) -> None:
    router.post(PRIMARY + "sms/send").mock(return_value=ok(sms_object(cost=5.49)))

    receipt = gateway.send(SMS)

    assert receipt.cost == Decimal("5.49")
    assert str(receipt.cost) == "5.49"  # not 5.4900000000000002131628207280300557613372802734375


def test_send_includes_callback_url_when_configured(router: respx.MockRouter) -> None:
    route = router.post(PRIMARY + "sms/send").mock(return_value=ok(sms_object()))
    gateway = SmsAeroGateway(make_settings(smsaero_callback_url="https://bonus.example.ru/sms/smsaero"))

    gateway.send(SMS)

    assert (
        json.loads(route.calls.last.request.content)["callbackUrl"] == "https://bonus.example.ru/sms/smsaero"
    )


def test_test_mode_uses_testsend_and_teststatus(router: respx.MockRouter) -> None:
    send = router.post(PRIMARY + "sms/testsend").mock(return_value=ok(sms_object()))
    status = router.post(PRIMARY + "sms/teststatus").mock(return_value=ok(sms_object(1, "delivery")))
    real_send = router.post(PRIMARY + "sms/send")
    gateway = SmsAeroGateway(make_settings(smsaero_test_mode=True))

    receipt = gateway.send(SMS)
    report = gateway.status(receipt.provider_id)

    assert send.call_count == 1
    assert status.call_count == 1
    assert real_send.call_count == 0
    assert report.status is DeliveryStatus.DELIVERED


def test_send_with_unreadable_success_answer_is_outcome_unknown(
    router: respx.MockRouter, gateway: SmsAeroGateway
) -> None:
    router.post(PRIMARY + "sms/send").mock(return_value=ok({"from": "BonusShop", "status": 0}))

    with pytest.raises(SendOutcomeUnknown) as caught:
        gateway.send(SMS)

    assert caught.value.sent is True
    assert caught.value.retryable is False


def test_send_with_non_json_200_is_outcome_unknown(router: respx.MockRouter, gateway: SmsAeroGateway) -> None:
    router.post(PRIMARY + "sms/send").mock(return_value=httpx.Response(200, text="<html>ok</html>"))

    with pytest.raises(SendOutcomeUnknown):
        gateway.send(SMS)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("http_status", "body", "reason_part"),
    [
        (200, {"success": False, "data": None, "message": "Validation error."}, "Validation error."),
        (400, {"success": False, "data": None, "message": "Validation error."}, "Validation error."),
        (200, {"result": "no credits"}, "no credits"),
        (200, {"result": "reject", "reason": "Sender name not approved"}, "Sender name not approved"),
        (200, {"success": False}, "request refused"),
        (200, {"unexpected": "shape"}, "request refused"),
    ],
)
def test_refusals_are_not_retryable_and_not_sent(
    router: respx.MockRouter,
    gateway: SmsAeroGateway,
    http_status: int,
    body: dict[str, Any],
    reason_part: str,
) -> None:
    router.post(PRIMARY + "sms/send").mock(return_value=httpx.Response(http_status, json=body))

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert type(caught.value) is GatewayError
    assert caught.value.retryable is False
    assert caught.value.sent is False
    assert reason_part in caught.value.reason


def test_refusal_text_echoing_the_phone_is_masked(router: respx.MockRouter, gateway: SmsAeroGateway) -> None:
    body = {"success": False, "message": "Number 79031234567 is in the blacklist"}
    router.post(PRIMARY + "sms/send").mock(return_value=httpx.Response(400, json=body))

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert "79031234567" not in str(caught.value)
    assert "7***67" in caught.value.reason


@pytest.mark.parametrize("http_status", [401, 403])
def test_bad_credentials_are_not_retryable(
    router: respx.MockRouter, gateway: SmsAeroGateway, http_status: int
) -> None:
    body = {"success": False, "data": None, "message": "Unauthorized"}
    router.post(PRIMARY + "sms/send").mock(return_value=httpx.Response(http_status, json=body))

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert caught.value.retryable is False
    assert caught.value.sent is False
    assert f"HTTP {http_status}" in caught.value.reason


@pytest.mark.parametrize("http_status", [429, 500, 502, 503])
def test_rate_limit_and_server_errors_are_retryable_and_not_sent(
    router: respx.MockRouter, gateway: SmsAeroGateway, http_status: int
) -> None:
    primary = router.post(PRIMARY + "sms/send").mock(return_value=httpx.Response(http_status, text="busy"))
    second = router.post(SECOND + "sms/send")

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert type(caught.value) is GatewayError
    assert caught.value.retryable is True
    assert caught.value.sent is False
    assert primary.call_count == 1
    assert second.call_count == 0  # an HTTP answer means the host is up: no fallback


def test_non_json_error_page_is_a_typed_error(router: respx.MockRouter, gateway: SmsAeroGateway) -> None:
    router.post(PRIMARY + "sms/send").mock(return_value=httpx.Response(404, text="<h1>Not Found</h1>"))

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert caught.value.retryable is False
    assert caught.value.sent is False


# --- fallback hosts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("Name or service not known"), httpx.ConnectTimeout("connect timed out")]
)
def test_send_moves_to_the_next_host_when_the_first_was_never_reached(
    router: respx.MockRouter, gateway: SmsAeroGateway, failure: Exception
) -> None:
    primary = router.post(PRIMARY + "sms/send").mock(side_effect=failure)
    second = router.post(SECOND + "sms/send").mock(return_value=ok(sms_object()))

    receipt = gateway.send(SMS)

    assert primary.call_count == 1
    assert second.call_count == 1
    assert receipt.provider_id == "12345"


def test_send_with_every_host_unreachable_is_retryable_and_not_sent(
    router: respx.MockRouter, gateway: SmsAeroGateway
) -> None:
    routes = [
        router.post(base + "sms/send").mock(side_effect=httpx.ConnectError("refused"))
        for base in (PRIMARY, SECOND, THIRD)
    ]
    plain_http = router.route(scheme="http")

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert type(caught.value) is GatewayError
    assert caught.value.retryable is True
    assert caught.value.sent is False
    assert [route.call_count for route in routes] == [1, 1, 1]
    assert plain_http.call_count == 0  # never falls back from https to http


def test_read_timeout_during_send_is_outcome_unknown_and_never_retried_elsewhere(
    router: respx.MockRouter, gateway: SmsAeroGateway
) -> None:
    primary = router.post(PRIMARY + "sms/send").mock(side_effect=httpx.ReadTimeout("read timed out"))
    second = router.post(SECOND + "sms/send").mock(return_value=ok(sms_object()))
    third = router.post(THIRD + "sms/send").mock(return_value=ok(sms_object()))

    with pytest.raises(SendOutcomeUnknown) as caught:
        gateway.send(SMS)

    assert caught.value.sent is True
    assert caught.value.retryable is False
    assert primary.call_count == 1
    assert second.call_count == 0
    assert third.call_count == 0


def test_read_timeout_during_status_tries_the_next_host(
    router: respx.MockRouter, gateway: SmsAeroGateway
) -> None:
    router.post(PRIMARY + "sms/status").mock(side_effect=httpx.ReadTimeout("read timed out"))
    second = router.post(SECOND + "sms/status").mock(return_value=ok(sms_object(1, "delivery")))

    report = gateway.status("12345")

    assert second.call_count == 1
    assert report.status is DeliveryStatus.DELIVERED


# --- status -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "extend_status", "expected", "reason"),
    [
        (0, "queue", DeliveryStatus.QUEUED, None),
        (1, "delivery", DeliveryStatus.DELIVERED, None),
        (2, "no delivery", DeliveryStatus.FAILED, "not delivered (no delivery)"),
        (3, "transfer", DeliveryStatus.SENT, None),
        (4, "wait status", DeliveryStatus.QUEUED, None),
        (6, "rejected", DeliveryStatus.FAILED, "rejected (rejected)"),
        (8, "moderation", DeliveryStatus.QUEUED, None),
    ],
)
def test_status_maps_every_smsaero_code(
    router: respx.MockRouter,
    gateway: SmsAeroGateway,
    code: int,
    extend_status: str,
    expected: DeliveryStatus,
    reason: str | None,
) -> None:
    answer = sms_object(code, extend_status, cost="5.49", dateAnswer=1719119530)
    route = router.post(PRIMARY + "sms/status").mock(return_value=ok(answer))

    report = gateway.status("12345")

    assert json.loads(route.calls.last.request.content) == {"id": 12345}
    assert report.status is expected
    assert report.provider_status == f"{code}:{extend_status}"
    assert report.failure_reason == reason
    assert report.cost == Decimal("5.49")
    assert report.at == datetime.fromtimestamp(1719119530, tz=UTC)
    assert report.extra == {"channel": "FREE SIGN"}


def test_unknown_status_code_reads_as_queued_not_final(
    router: respx.MockRouter, gateway: SmsAeroGateway
) -> None:
    router.post(PRIMARY + "sms/status").mock(return_value=ok(sms_object(5, "something new")))

    report = gateway.status("12345")

    assert report.status is DeliveryStatus.QUEUED
    assert not report.status.final
    assert report.provider_status == "5:something new"


def test_status_of_a_non_numeric_id_is_refused_without_a_request(
    router: respx.MockRouter, gateway: SmsAeroGateway
) -> None:
    route = router.post(PRIMARY + "sms/status")

    with pytest.raises(GatewayError) as caught:
        gateway.status("console-abc")

    assert caught.value.retryable is False
    assert route.call_count == 0


def test_status_with_unreadable_data_is_a_typed_error(
    router: respx.MockRouter, gateway: SmsAeroGateway
) -> None:
    router.post(PRIMARY + "sms/status").mock(return_value=ok([]))

    with pytest.raises(GatewayError) as caught:
        gateway.status("12345")

    assert "unreadable" in caught.value.reason


# --- balance ----------------------------------------------------------------------------------


def test_balance_is_an_exact_decimal(router: respx.MockRouter, gateway: SmsAeroGateway) -> None:
    route = router.post(PRIMARY + "balance").mock(return_value=ok({"balance": 337.03}))

    assert gateway.balance() == Decimal("337.03")
    assert route.calls.last.request.headers["Authorization"].startswith("Basic ")


def test_balance_with_unreadable_data_is_a_typed_error(
    router: respx.MockRouter, gateway: SmsAeroGateway
) -> None:
    router.post(PRIMARY + "balance").mock(return_value=ok({"amount": "lots"}))

    with pytest.raises(GatewayError):
        gateway.balance()


# --- callback ---------------------------------------------------------------------------------


def test_parse_callback_reads_the_status_object() -> None:
    report = parse_callback(sms_object(1, "delivery", cost="5.49", dateAnswer=1719119530))

    assert report.gateway == "smsaero"
    assert report.provider_id == "12345"
    assert report.status is DeliveryStatus.DELIVERED
    assert report.provider_status == "1:delivery"
    assert report.cost == Decimal("5.49")


def test_parse_callback_accepts_form_strings() -> None:
    report = parse_callback({"id": "12345", "status": "2", "extendStatus": "no delivery", "cost": "0"})

    assert report.provider_id == "12345"
    assert report.status is DeliveryStatus.FAILED
    assert report.failure_reason == "not delivered (no delivery)"
    assert report.cost == Decimal("0")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"id": 12345},
        {"status": 1},
        {"id": "abc", "status": 1},
        {"id": 12345, "status": "delivered"},
        {"id": 12345, "status": True},
        {"id": [1], "status": 1},
    ],
)
def test_parse_callback_rejects_garbage_with_a_typed_value_error(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidStatusPayload) as caught:
        parse_callback(payload)

    assert isinstance(caught.value, ValueError)


def test_parse_callback_tolerates_a_garbage_cost() -> None:
    report = parse_callback({"id": 7, "status": 1, "cost": "n/a"})

    assert report.cost is None
    assert report.status is DeliveryStatus.DELIVERED


# --- secrets ----------------------------------------------------------------------------------


def test_send_logs_neither_secrets_nor_text_nor_the_full_phone(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    router.post(PRIMARY + "sms/send").mock(side_effect=httpx.ConnectError("refused"))
    router.post(SECOND + "sms/send").mock(return_value=ok(sms_object()))
    caplog.set_level(logging.DEBUG)
    gateway = SmsAeroGateway(make_settings())

    gateway.send(SMS)

    logged = caplog.text
    assert "smsaero accepted message 42" in logged  # the capture did see our lines
    assert API_KEY not in logged
    assert base64.b64encode(f"{EMAIL}:{API_KEY}".encode()).decode() not in logged
    assert "481516" not in logged
    assert "79031234567" not in logged
