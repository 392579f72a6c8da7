"""Twilio Programmable Messaging through the official ``twilio`` package, over httpx.

The package's default HTTP client uses ``requests`` with no timeout at all. ``HttpxTwilioClient``
replaces it: every request has our timeout, and respx can intercept it in tests. Transport errors
come out of it as httpx exceptions, which ``TwilioGateway`` sorts into "surely not sent" (connect
errors: ``GatewayError(sent=False)``) and "maybe sent" (a timeout after a send left:
``SendOutcomeUnknown``).

The ``twilio`` package ships without type information, hence the narrow ``type: ignore``s on its
imports and on the one subclass.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import httpx
from twilio.base.exceptions import TwilioException  # type: ignore[import-untyped]
from twilio.http import HttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

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

GATEWAY_NAME = "twilio"

#: Twilio message status → ours. "sending" is Twilio still talking to the carrier, so not yet SENT
#: ("handed to the operator"); "partially_delivered" (some segments) waits for a final answer.
STATUS_BY_NAME: Mapping[str, DeliveryStatus] = {
    "queued": DeliveryStatus.QUEUED,
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "partially_delivered": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}

#: Raised before the request reached Twilio: surely not sent.
_NEVER_REACHED_SERVER = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MESSAGE_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
_PHONE_LIKE = re.compile(r"\+?\d[\d\s()\-]{8,}\d")
_REASON_MAX_CHARS = 200

logger = logging.getLogger(__name__)


class InvalidSignature(Exception):
    """A status callback whose ``X-Twilio-Signature`` does not match: not from Twilio, ignore it."""


class InvalidStatusCallback(ValueError):
    """A correctly signed status callback without the fields we need (MessageSid, MessageStatus)."""


class HttpxTwilioClient(HttpClient):  # type: ignore[misc]  # twilio is untyped
    """``twilio.http.HttpClient`` on httpx: a timeout on every request, and mockable with respx."""

    def __init__(self, *, timeout: float, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(logger, False, timeout)  # (logger, is_async, timeout)
        self._timeout = timeout
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), transport=transport, follow_redirects=False)

    def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, object] | None = None,
        data: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request as twilio's ``Client`` describes it; httpx errors propagate unchanged."""
        seconds = self._timeout if timeout is None else timeout
        if seconds <= 0:
            raise ValueError(f"timeout must be positive, got {seconds}")
        headers = dict(headers or {})
        json_body: dict[str, object] | None = None
        form_body: str | None = None
        if headers.get("Content-Type", "").startswith(("application/json", "application/scim+json")):
            json_body = dict(data or {})
        elif data:
            form_body = urlencode(_form_pairs(data))
        response = self._http.request(
            method.upper(),
            url,
            params=urlencode(_form_pairs(params or {})),
            content=form_body,
            json=json_body,
            headers=headers,
            auth=httpx.BasicAuth(*auth) if auth else None,
            timeout=httpx.Timeout(seconds),
            follow_redirects=allow_redirects,
        )
        return Response(response.status_code, response.text, response.headers)

    def close(self) -> None:
        self._http.close()


class TwilioGateway:
    """Twilio behind our ``SmsGateway`` protocol."""

    name: str = GATEWAY_NAME

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        self._account_sid = settings.twilio_account_sid
        auth_token = settings.twilio_auth_token.get_secret_value()
        self._configured = bool(self._account_sid and auth_token)
        self._from = settings.twilio_from
        self._messaging_service_sid = settings.twilio_messaging_service_sid
        self._status_callback = settings.twilio_status_callback_url
        self._http = HttpxTwilioClient(timeout=settings.sms_timeout_seconds, transport=transport)
        self._client = Client(self._account_sid, auth_token, http_client=self._http)

    def close(self) -> None:
        self._http.close()

    def send(self, sms: OutgoingSms) -> SendReceipt:
        fields = self._send_fields()
        try:
            message = self._client.messages.create(to=sms.phone_e164, body=sms.text, **fields)
        except TwilioException as exc:
            raise _refusal(exc) from exc
        except httpx.TransportError as exc:
            raise _transport_failure(exc, is_send=True) from exc
        except ValueError as exc:  # a 2xx answer that is not JSON: the message was probably created
            raise SendOutcomeUnknown(GATEWAY_NAME, "accepted with an unreadable answer") from exc
        report = _report_from_message(message)
        if report is None:
            raise SendOutcomeUnknown(GATEWAY_NAME, "accepted without a message sid")
        logger.info(
            "twilio accepted message %s for %s as %s (%s)",
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
        if not _MESSAGE_SID.fullmatch(provider_id):
            raise GatewayError(GATEWAY_NAME, f"not a Twilio message sid: {provider_id!r}", retryable=False)
        self._require_credentials()
        try:
            message = self._client.messages(provider_id).fetch()
        except TwilioException as exc:
            raise _refusal(exc) from exc
        except httpx.TransportError as exc:
            raise _transport_failure(exc, is_send=False) from exc
        except ValueError as exc:
            raise GatewayError(GATEWAY_NAME, "unreadable status answer", retryable=True) from exc
        report = _report_from_message(message)
        if report is None:
            raise GatewayError(GATEWAY_NAME, "status answer without a message sid", retryable=True)
        return report

    def balance(self) -> Decimal | None:
        """The account balance in its currency (Twilio's ``Balance`` resource)."""
        self._require_credentials()
        try:
            balance = self._client.api.v2010.account.balance.fetch()
        except TwilioException as exc:
            raise _refusal(exc) from exc
        except httpx.TransportError as exc:
            raise _transport_failure(exc, is_send=False) from exc
        except ValueError as exc:
            raise GatewayError(GATEWAY_NAME, "unreadable balance answer", retryable=True) from exc
        return _decimal_or_none(getattr(balance, "balance", None))

    def _send_fields(self) -> dict[str, str]:
        self._require_credentials()
        fields: dict[str, str] = {}
        if self._messaging_service_sid:
            fields["messaging_service_sid"] = self._messaging_service_sid
        elif self._from:
            fields["from_"] = self._from
        else:
            raise GatewayError(
                GATEWAY_NAME, "neither twilio_from nor twilio_messaging_service_sid is set", retryable=False
            )
        if self._status_callback:
            fields["status_callback"] = self._status_callback
        return fields

    def _require_credentials(self) -> None:
        # Checked here, or twilio's Client would quietly read TWILIO_* from the environment.
        if not self._configured:
            raise GatewayError(GATEWAY_NAME, "account sid or auth token is not set", retryable=False)


def validate_status_callback(
    url: str, params: Mapping[str, str], signature: str, auth_token: str
) -> StatusReport:
    """Check a status callback's ``X-Twilio-Signature`` and read it.

    ``url`` is the full URL Twilio requested (scheme, host, path, query) and ``params`` the POSTed
    form. Raises ``InvalidSignature`` for a forged or unsigned request (also when no auth token is
    configured: an empty key would make any signature computable), then ``InvalidStatusCallback``
    for a signed one that lacks the message sid or status.
    """
    if not auth_token or not signature:
        raise InvalidSignature("missing signature or auth token")
    if not RequestValidator(auth_token).validate(url, dict(params), signature):
        raise InvalidSignature("signature does not match")
    provider_id = params.get("MessageSid") or params.get("SmsSid")
    status_name = params.get("MessageStatus") or params.get("SmsStatus")
    if not provider_id or not status_name:
        raise InvalidStatusCallback("MessageSid or MessageStatus missing")
    error_code = params.get("ErrorCode") or None
    return _report(provider_id, status_name, error_code=error_code, error_message=None, price=None)


def _report_from_message(message: Any) -> StatusReport | None:
    """A ``MessageInstance`` as our StatusReport; None when it has no sid."""
    sid = getattr(message, "sid", None)
    if not isinstance(sid, str) or not sid:
        return None
    status_name = getattr(message, "status", None)
    updated = getattr(message, "date_updated", None)
    return _report(
        sid,
        status_name if isinstance(status_name, str) else "",
        error_code=getattr(message, "error_code", None),
        error_message=getattr(message, "error_message", None),
        price=getattr(message, "price", None),
        at=updated if isinstance(updated, datetime) else None,
    )


def _report(
    provider_id: str,
    status_name: str,
    *,
    error_code: object,
    error_message: object,
    price: object,
    at: datetime | None = None,
) -> StatusReport:
    # Unknown statuses read as QUEUED: not final, so the poller asks again.
    status = STATUS_BY_NAME.get(status_name, DeliveryStatus.QUEUED)
    failure_reason = None
    if status is DeliveryStatus.FAILED:
        details = [str(part) for part in (error_code, error_message) if part not in (None, "")]
        failure_reason = _clean(f"{status_name}: {' '.join(details)}" if details else status_name)
    cost = _decimal_or_none(price)
    return StatusReport(
        gateway=GATEWAY_NAME,
        provider_id=provider_id,
        status=status,
        provider_status=status_name,
        cost=abs(cost) if cost is not None else None,  # Twilio writes charges as negative prices
        failure_reason=failure_reason,
        at=at,
    )


def _refusal(exc: Exception) -> GatewayError:
    """A Twilio error answer as a GatewayError: 429 and 5xx may pass later, other 4xx will not."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", None)
    reason = _clean(f"HTTP {status} (error {code}): {text}" if status else f"{type(exc).__name__}: {text}")
    retryable = isinstance(status, int) and (status == 429 or status >= 500)
    return GatewayError(GATEWAY_NAME, reason, retryable=retryable, sent=False)


def _transport_failure(exc: httpx.TransportError, *, is_send: bool) -> GatewayError:
    if isinstance(exc, _NEVER_REACHED_SERVER):
        return GatewayError(GATEWAY_NAME, f"unreachable ({type(exc).__name__})", retryable=True, sent=False)
    if is_send:
        return SendOutcomeUnknown(GATEWAY_NAME, f"{type(exc).__name__} after the request was sent")
    return GatewayError(GATEWAY_NAME, f"{type(exc).__name__}", retryable=True, sent=False)


def _form_pairs(values: Mapping[str, object]) -> list[tuple[str, str]]:
    """Twilio's parameter dict (lists for repeated keys) as form pairs, None values dropped."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        items: Iterable[object] = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            if item is None:
                continue
            pairs.append((key, ("true" if item else "false") if isinstance(item, bool) else str(item)))
    return pairs


def _decimal_or_none(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _clean(text: str) -> str:
    """An error text fit for an exception: phones masked (Twilio echoes the number), bounded."""
    return _PHONE_LIKE.sub(lambda match: mask_phone(match.group(0)), text).strip()[:_REASON_MAX_CHARS]
