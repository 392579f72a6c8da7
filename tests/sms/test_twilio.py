"""Twilio gateway through the official package on our httpx client, against respx-mocked answers."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from bonusbridge.settings import Settings
from sms.gateway import DeliveryStatus, GatewayError, OutgoingSms, SendOutcomeUnknown
from sms.gateways.twilio import (
    InvalidSignature,
    InvalidStatusCallback,
    TwilioGateway,
    validate_status_callback,
)

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "tw-token-9d8c7b6a5f4e"
MESSAGE_SID = "SM1f0e2d3c4b5a69788796a5b4c3d2e1f0"
SERVICE_SID = "MG00112233445566778899aabbccddeeff"
API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
MESSAGES_URL = f"{API}/Messages.json"
MESSAGE_URL = f"{API}/Messages/{MESSAGE_SID}.json"
CALLBACK_URL = "https://bonus.example.ru/sms/twilio/status"
SMS = OutgoingSms(message_id=7, phone_e164="+79031234567", text="Your code: 271828")


def message_json(status: str = "queued", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": SMS.text,
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
        "date_sent": None,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": "BonusShop",
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": MESSAGE_SID,
        "status": status,
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{MESSAGE_SID}/Media.json"
        },
        "to": SMS.phone_e164,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{MESSAGE_SID}.json",
    }
    data.update(overrides)
    return data


def error_json(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": "BonusShop",
        "sms_timeout_seconds": 4.0,
    }
    values.update(overrides)
    return Settings(**values)


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def gateway() -> Iterator[TwilioGateway]:
    gw = TwilioGateway(make_settings())
    yield gw
    gw.close()


# --- send -------------------------------------------------------------------------------------


def test_send_posts_the_form_with_basic_auth_and_a_timeout(
    router: respx.MockRouter, gateway: TwilioGateway
) -> None:
    route = router.post(MESSAGES_URL).mock(return_value=httpx.Response(201, json=message_json()))

    receipt = gateway.send(SMS)

    request = route.calls.last.request
    expected_auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == expected_auth
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(request) == {"To": ["+79031234567"], "Body": [SMS.text], "From": ["BonusShop"]}
    assert request.extensions["timeout"] == {"connect": 4.0, "read": 4.0, "write": 4.0, "pool": 4.0}
    assert receipt.gateway == "twilio"
    assert receipt.provider_id == MESSAGE_SID
    assert receipt.status is DeliveryStatus.QUEUED
    assert receipt.provider_status == "queued"
    assert receipt.cost is None


def test_send_through_a_messaging_service_with_status_callback(router: respx.MockRouter) -> None:
    route = router.post(MESSAGES_URL).mock(return_value=httpx.Response(201, json=message_json("accepted")))
    gateway = TwilioGateway(
        make_settings(twilio_messaging_service_sid=SERVICE_SID, twilio_status_callback_url=CALLBACK_URL)
    )

    receipt = gateway.send(SMS)

    fields = form(route.calls.last.request)
    assert fields["MessagingServiceSid"] == [SERVICE_SID]
    assert fields["StatusCallback"] == [CALLBACK_URL]
    assert "From" not in fields
    assert receipt.status is DeliveryStatus.QUEUED


def test_send_without_a_sender_is_refused_before_any_request(router: respx.MockRouter) -> None:
    route = router.post(MESSAGES_URL)
    gateway = TwilioGateway(make_settings(twilio_from=""))

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert caught.value.retryable is False
    assert caught.value.sent is False
    assert route.call_count == 0


def test_send_without_credentials_is_refused_before_any_request(router: respx.MockRouter) -> None:
    route = router.route(host="api.twilio.com")
    gateway = TwilioGateway(make_settings(twilio_auth_token=""))

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert "auth token" in caught.value.reason
    assert route.call_count == 0


@pytest.mark.parametrize(
    ("price", "cost"),
    [("-0.0075", Decimal("0.0075")), ("-0.05250", Decimal("0.0525")), (None, None), ("", None)],
)
def test_price_becomes_a_positive_decimal_cost(
    router: respx.MockRouter, gateway: TwilioGateway, price: str | None, cost: Decimal | None
) -> None:
    router.get(MESSAGE_URL).mock(
        return_value=httpx.Response(200, json=message_json("delivered", price=price))
    )

    report = gateway.status(MESSAGE_SID)

    assert report.cost == cost


# --- errors -----------------------------------------------------------------------------------


def test_invalid_number_is_not_retryable_and_the_echoed_phone_is_masked(
    router: respx.MockRouter, gateway: TwilioGateway
) -> None:
    body = error_json(400, 21211, "Invalid 'To' Phone Number: +79031234567")
    router.post(MESSAGES_URL).mock(return_value=httpx.Response(400, json=body))

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert type(caught.value) is GatewayError
    assert caught.value.retryable is False
    assert caught.value.sent is False
    assert "21211" in caught.value.reason
    assert "+79031234567" not in str(caught.value)


def test_bad_credentials_are_not_retryable(router: respx.MockRouter, gateway: TwilioGateway) -> None:
    router.post(MESSAGES_URL).mock(
        return_value=httpx.Response(401, json=error_json(401, 20003, "Authenticate"))
    )

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert caught.value.retryable is False
    assert "HTTP 401" in caught.value.reason


@pytest.mark.parametrize(("http_status", "code"), [(429, 20429), (500, 20500), (503, 20503)])
def test_rate_limit_and_server_errors_are_retryable_and_not_sent(
    router: respx.MockRouter, gateway: TwilioGateway, http_status: int, code: int
) -> None:
    body = error_json(http_status, code, "Try again later")
    router.post(MESSAGES_URL).mock(return_value=httpx.Response(http_status, json=body))

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert type(caught.value) is GatewayError
    assert caught.value.retryable is True
    assert caught.value.sent is False


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("Name or service not known"), httpx.ConnectTimeout("connect timed out")]
)
def test_connect_errors_are_retryable_and_surely_not_sent(
    router: respx.MockRouter, gateway: TwilioGateway, failure: Exception
) -> None:
    router.post(MESSAGES_URL).mock(side_effect=failure)

    with pytest.raises(GatewayError) as caught:
        gateway.send(SMS)

    assert type(caught.value) is GatewayError
    assert caught.value.retryable is True
    assert caught.value.sent is False


def test_read_timeout_during_send_is_outcome_unknown(
    router: respx.MockRouter, gateway: TwilioGateway
) -> None:
    route = router.post(MESSAGES_URL).mock(side_effect=httpx.ReadTimeout("read timed out"))

    with pytest.raises(SendOutcomeUnknown) as caught:
        gateway.send(SMS)

    assert caught.value.sent is True
    assert caught.value.retryable is False
    assert route.call_count == 1  # never sent again


def test_read_timeout_during_status_is_a_plain_retryable_error(
    router: respx.MockRouter, gateway: TwilioGateway
) -> None:
    router.get(MESSAGE_URL).mock(side_effect=httpx.ReadTimeout("read timed out"))

    with pytest.raises(GatewayError) as caught:
        gateway.status(MESSAGE_SID)

    assert not isinstance(caught.value, SendOutcomeUnknown)
    assert caught.value.retryable is True


def test_created_answer_that_is_not_json_is_outcome_unknown(
    router: respx.MockRouter, gateway: TwilioGateway
) -> None:
    router.post(MESSAGES_URL).mock(return_value=httpx.Response(201, text="<html>gateway</html>"))

    with pytest.raises(SendOutcomeUnknown):
        gateway.send(SMS)


# --- status -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("twilio_status", "expected"),
    [
        ("queued", DeliveryStatus.QUEUED),
        ("accepted", DeliveryStatus.QUEUED),
        ("scheduled", DeliveryStatus.QUEUED),
        ("sending", DeliveryStatus.QUEUED),
        ("sent", DeliveryStatus.SENT),
        ("partially_delivered", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.DELIVERED),
        ("undelivered", DeliveryStatus.FAILED),
        ("failed", DeliveryStatus.FAILED),
        ("canceled", DeliveryStatus.FAILED),
        ("some_future_status", DeliveryStatus.QUEUED),
    ],
)
def test_status_maps_every_twilio_status(
    router: respx.MockRouter, gateway: TwilioGateway, twilio_status: str, expected: DeliveryStatus
) -> None:
    route = router.get(MESSAGE_URL).mock(return_value=httpx.Response(200, json=message_json(twilio_status)))

    report = gateway.status(MESSAGE_SID)

    assert route.call_count == 1
    assert report.provider_id == MESSAGE_SID
    assert report.status is expected
    assert report.provider_status == twilio_status
    assert (report.failure_reason is not None) is (expected is DeliveryStatus.FAILED)


def test_failed_status_carries_error_code_and_message(
    router: respx.MockRouter, gateway: TwilioGateway
) -> None:
    answer = message_json("undelivered", error_code=30003, error_message="Unreachable destination handset")
    router.get(MESSAGE_URL).mock(return_value=httpx.Response(200, json=answer))

    report = gateway.status(MESSAGE_SID)

    assert report.status is DeliveryStatus.FAILED
    assert report.failure_reason == "undelivered: 30003 Unreachable destination handset"
    assert report.at is not None and report.at.year == 2023


def test_status_of_a_malformed_sid_is_refused_without_a_request(
    router: respx.MockRouter, gateway: TwilioGateway
) -> None:
    route = router.route(host="api.twilio.com")

    with pytest.raises(GatewayError) as caught:
        gateway.status("../Balance")

    assert caught.value.retryable is False
    assert route.call_count == 0


def test_balance_is_a_decimal(router: respx.MockRouter, gateway: TwilioGateway) -> None:
    answer = {"currency": "USD", "balance": "14.62", "account_sid": ACCOUNT_SID}
    router.get(f"{API}/Balance.json").mock(return_value=httpx.Response(200, json=answer))

    assert gateway.balance() == Decimal("14.62")


# --- status callback --------------------------------------------------------------------------


def callback_params(**overrides: str) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": "BonusShop",
        "MessageSid": MESSAGE_SID,
        "MessageStatus": "delivered",
        "SmsSid": MESSAGE_SID,
        "SmsStatus": "delivered",
        "To": SMS.phone_e164,
    }
    params.update(overrides)
    return params


def sign(params: dict[str, str], url: str = CALLBACK_URL) -> str:
    signature: str = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    return signature


def test_a_correctly_signed_callback_is_read() -> None:
    params = callback_params()

    report = validate_status_callback(CALLBACK_URL, params, sign(params), AUTH_TOKEN)

    assert report.gateway == "twilio"
    assert report.provider_id == MESSAGE_SID
    assert report.status is DeliveryStatus.DELIVERED


def test_a_signed_failure_callback_carries_the_error_code() -> None:
    params = callback_params(MessageStatus="undelivered", SmsStatus="undelivered", ErrorCode="30008")

    report = validate_status_callback(CALLBACK_URL, params, sign(params), AUTH_TOKEN)

    assert report.status is DeliveryStatus.FAILED
    assert report.failure_reason == "undelivered: 30008"


def test_a_tampered_callback_is_rejected() -> None:
    params = callback_params(MessageStatus="failed")
    signature = sign(params)
    params["MessageStatus"] = "delivered"

    with pytest.raises(InvalidSignature):
        validate_status_callback(CALLBACK_URL, params, signature, AUTH_TOKEN)


@pytest.mark.parametrize(
    ("signature_token", "check_token", "url"),
    [
        ("another-token", AUTH_TOKEN, CALLBACK_URL),
        (AUTH_TOKEN, AUTH_TOKEN, "https://evil.example.com/sms/twilio/status"),
        (AUTH_TOKEN, "", CALLBACK_URL),
    ],
)
def test_a_signature_from_another_key_or_url_or_without_token_is_rejected(
    signature_token: str, check_token: str, url: str
) -> None:
    params = callback_params()
    signature = RequestValidator(signature_token).compute_signature(CALLBACK_URL, params)

    with pytest.raises(InvalidSignature):
        validate_status_callback(url, params, signature, check_token)


def test_an_unsigned_callback_is_rejected() -> None:
    with pytest.raises(InvalidSignature):
        validate_status_callback(CALLBACK_URL, callback_params(), "", AUTH_TOKEN)


def test_a_signed_callback_without_a_status_is_a_typed_value_error() -> None:
    params = {"AccountSid": ACCOUNT_SID, "MessageSid": MESSAGE_SID}

    with pytest.raises(InvalidStatusCallback) as caught:
        validate_status_callback(CALLBACK_URL, params, sign(params), AUTH_TOKEN)

    assert isinstance(caught.value, ValueError)


# --- secrets ----------------------------------------------------------------------------------


def test_send_logs_neither_the_token_nor_the_text_nor_the_full_phone(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    router.post(MESSAGES_URL).mock(return_value=httpx.Response(201, json=message_json()))
    caplog.set_level(logging.DEBUG)
    gateway = TwilioGateway(make_settings())

    gateway.send(SMS)

    logged = caplog.text
    assert f"twilio accepted message 7 for +7***67 as {MESSAGE_SID}" in logged
    assert AUTH_TOKEN not in logged
    assert base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode() not in logged
    assert "271828" not in logged
    assert "79031234567" not in logged
