"""SMS Aero (HTTP API v2) through a thin httpx client of our own.

Why not the ``smsaero-api`` package: it is built on ``requests`` (respx cannot intercept it), retries
over plain http after an SSL error, logs the credentials and the message text at DEBUG, and may send
again after a read timeout. Each of the four is a reason on its own for a gateway that carries
one-time codes.

Fallback hosts: a request moves on to the next SMS Aero host only when it surely never reached a
server (connection refused, DNS failure, connect timeout). A ``send`` that timed out while waiting
for the answer may have been queued, so it raises ``SendOutcomeUnknown`` instead of trying again
elsewhere; read-only calls (status, balance) may try every host.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from bonusbridge.privacy import mask_phone
from bonusbridge.settings import Settings
from sms.gateway import (
    DeliveryStatus,
    GatewayError,
    OutgoingSms,
    SendOutcomeUnknown,
    SendReceipt,
    StatusReport,
)

GATEWAY_NAME = "smsaero"
#: Tried in this order; always https (an SSL error is an error, never a reason to go plain http).
BASE_URLS = (
    "https://gate.smsaero.ru/v2/",
    "https://gate.smsaero.org/v2/",
    "https://gate.smsaero.net/v2/",
)

#: SMS Aero status code → ours. Unknown codes read as QUEUED: not final, so the poller asks again.
STATUS_BY_CODE: Mapping[int, DeliveryStatus] = {
    0: DeliveryStatus.QUEUED,  # in queue
    1: DeliveryStatus.DELIVERED,
    2: DeliveryStatus.FAILED,  # not delivered
    3: DeliveryStatus.SENT,  # passed to the operator
    4: DeliveryStatus.QUEUED,  # waiting for status
    6: DeliveryStatus.FAILED,  # rejected
    8: DeliveryStatus.QUEUED,  # on moderation
}
_FAILURE_BY_CODE: Mapping[int, str] = {2: "not delivered", 6: "rejected"}

#: Raised before any byte of the request reached a server: safe to try the next host, even to send.
_NEVER_REACHED_SERVER = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

_REASON_MAX_CHARS = 200
_PHONE_LIKE = re.compile(r"\+?\d[\d\s()\-]{8,}\d")

logger = logging.getLogger(__name__)


class InvalidStatusPayload(ValueError):
    """An SMS Aero status object (a poll answer or a delivery callback) we cannot read."""


class SmsAeroGateway:
    """SMS Aero behind our ``SmsGateway`` protocol; one ``httpx.Client`` per instance."""

    name: str = GATEWAY_NAME

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        self._sign = settings.smsaero_sign
        self._callback_url = settings.smsaero_callback_url
        self._test_mode = settings.smsaero_test_mode
        self._http = httpx.Client(
            auth=httpx.BasicAuth(settings.smsaero_email, settings.smsaero_api_key.get_secret_value()),
            timeout=httpx.Timeout(settings.sms_timeout_seconds),
            transport=transport,
            follow_redirects=False,  # a redirect could point at http; we never follow one
        )

    def close(self) -> None:
        self._http.close()

    def send(self, sms: OutgoingSms) -> SendReceipt:
        number = "".join(ch for ch in sms.phone_e164 if ch.isascii() and ch.isdigit())
        if not number:
            raise GatewayError(GATEWAY_NAME, "no digits in the phone number", retryable=False)
        body: dict[str, Any] = {"number": number, "text": sms.text, "sign": self._sign}
        if self._callback_url:
            body["callbackUrl"] = self._callback_url
        endpoint = "sms/testsend" if self._test_mode else "sms/send"
        data = self._call(endpoint, body, is_send=True)
        try:
            report = _report_from(data)
        except InvalidStatusPayload as exc:
            # SMS Aero said "success" but we cannot read its id: the message is probably queued.
            raise SendOutcomeUnknown(GATEWAY_NAME, f"accepted with an unreadable answer: {exc}") from exc
        logger.info(
            "smsaero accepted message %s for %s as %s (%s)",
            sms.message_id,
            mask_phone(sms.phone_e164),
            report.provider_id,
            report.provider_status,
        )
        return SendReceipt(
            gateway=GATEWAY_NAME,
            provider_id=report.provider_id,
            status=report.status,
            provider_status=report.provider_status,
            cost=report.cost,
            failure_reason=report.failure_reason,
        )

    def status(self, provider_id: str) -> StatusReport:
        if not (provider_id.isascii() and provider_id.isdigit()):
            raise GatewayError(GATEWAY_NAME, f"not an SMS Aero message id: {provider_id!r}", retryable=False)
        endpoint = "sms/teststatus" if self._test_mode else "sms/status"
        data = self._call(endpoint, {"id": int(provider_id)}, is_send=False)
        try:
            return _report_from(data)
        except InvalidStatusPayload as exc:
            raise GatewayError(GATEWAY_NAME, f"unreadable status answer: {exc}", retryable=True) from exc

    def balance(self) -> Decimal | None:
        data = self._call("balance", {}, is_send=False)
        amount = _decimal_or_none(data.get("balance")) if isinstance(data, Mapping) else None
        if amount is None:
            raise GatewayError(GATEWAY_NAME, "unreadable balance answer", retryable=True)
        return amount

    def _call(self, endpoint: str, body: Mapping[str, Any], *, is_send: bool) -> Any:
        """POST ``body`` to each host in turn until one answers; return the answer's ``data``."""
        last_failure = "no host tried"
        for base_url in BASE_URLS:
            host = httpx.URL(base_url).host
            try:
                response = self._http.post(base_url + endpoint, json=body)
            except _NEVER_REACHED_SERVER as exc:
                last_failure = f"{host}: {type(exc).__name__}"
                logger.warning(
                    "smsaero host %s unreachable (%s), trying the next one", host, type(exc).__name__
                )
                continue
            except httpx.TransportError as exc:
                if is_send:
                    raise SendOutcomeUnknown(
                        GATEWAY_NAME, f"{type(exc).__name__} from {host} after the request was sent"
                    ) from exc
                last_failure = f"{host}: {type(exc).__name__}"
                logger.warning("smsaero host %s failed (%s), trying the next one", host, type(exc).__name__)
                continue
            return _unwrap(response, is_send=is_send)
        raise GatewayError(GATEWAY_NAME, f"no host reachable ({last_failure})", retryable=True, sent=False)


def parse_callback(payload: Mapping[str, Any]) -> StatusReport:
    """Read SMS Aero's delivery callback.

    Its shape is not documented; we accept the object ``sms/status`` answers with (``id``,
    ``status``, ``extendStatus``, ``cost``), from JSON or a form (numbers as strings). Anything else
    raises ``InvalidStatusPayload``, so the web layer can answer 400 instead of guessing.
    """
    return _report_from(payload)


def _unwrap(response: httpx.Response, *, is_send: bool) -> Any:
    """Turn an HTTP answer into its ``data`` or the typed error it stands for."""
    code = response.status_code
    if code in (401, 403):
        raise GatewayError(GATEWAY_NAME, f"HTTP {code}: credentials refused", retryable=False)
    if code == 429 or code >= 500:
        raise GatewayError(GATEWAY_NAME, f"HTTP {code}", retryable=True, sent=False)
    payload = _json_object(response)
    if payload is None:
        if is_send and response.is_success:
            raise SendOutcomeUnknown(GATEWAY_NAME, f"HTTP {code} with an unreadable body")
        raise GatewayError(GATEWAY_NAME, f"HTTP {code} with an unreadable body", retryable=False)
    refusal = _refusal(payload)
    if refusal is not None:
        raise GatewayError(GATEWAY_NAME, refusal, retryable=False, sent=False)
    if not response.is_success:
        raise GatewayError(GATEWAY_NAME, f"HTTP {code}", retryable=False, sent=False)
    return payload.get("data")


def _json_object(response: httpx.Response) -> Mapping[str, Any] | None:
    """The body as a JSON object with exact decimals, or None when it is not one."""
    try:
        decoded = json.loads(response.content, parse_float=Decimal)
    except ValueError:  # also UnicodeDecodeError
        return None
    return decoded if isinstance(decoded, dict) else None


def _refusal(payload: Mapping[str, Any]) -> str | None:
    """Why SMS Aero refused, from the current shape or the two older ones; None on success."""
    result = payload.get("result")
    if result == "no credits":
        return "no credits"
    if result == "reject":
        return "rejected: " + _clean(payload.get("reason"))
    if payload.get("success") is True:
        return None
    return _clean(payload.get("message")) or "request refused"


def _report_from(data: Any) -> StatusReport:
    """An SMS Aero message object (send, status, callback) as our StatusReport."""
    if not isinstance(data, Mapping):
        raise InvalidStatusPayload(f"expected an object, got {type(data).__name__}")
    provider_id = _integer(data.get("id"))
    code = _integer(data.get("status"))
    if provider_id is None:
        raise InvalidStatusPayload("no message id")
    if code is None:
        raise InvalidStatusPayload("no status code")
    extend_status = data.get("extendStatus")
    provider_status = f"{code}:{extend_status}" if isinstance(extend_status, str) else str(code)
    status = STATUS_BY_CODE.get(code, DeliveryStatus.QUEUED)
    failure_reason = None
    if status is DeliveryStatus.FAILED:
        failure_reason = _FAILURE_BY_CODE.get(code, "failed")
        if isinstance(extend_status, str) and extend_status:
            failure_reason += f" ({extend_status})"
    channel = data.get("channel")
    return StatusReport(
        gateway=GATEWAY_NAME,
        provider_id=str(provider_id),
        status=status,
        provider_status=provider_status,
        cost=_decimal_or_none(data.get("cost")),
        failure_reason=failure_reason,
        at=_timestamp(data.get("dateAnswer")) or _timestamp(data.get("dateSend")),
        extra={"channel": channel} if isinstance(channel, str) else {},
    )


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _decimal_or_none(value: Any) -> Decimal | None:
    """An amount as an exact Decimal: never through float arithmetic."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal | int | float | str):
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return amount if amount.is_finite() else None
    return None


def _timestamp(value: Any) -> datetime | None:
    seconds = _integer(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _clean(value: Any) -> str:
    """An error text fit for an exception: phones masked (answers may echo the number), bounded."""
    if not isinstance(value, str):
        return ""
    masked = _PHONE_LIKE.sub(lambda match: mask_phone(match.group(0)), value)
    return masked.strip()[:_REASON_MAX_CHARS]
