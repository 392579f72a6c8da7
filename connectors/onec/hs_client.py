"""Client of 1C's ``loyalty`` HTTP service (``<onec_base_url>/hs/loyalty/…``, JSON; httpx).

The same typed operations as ``soap_client.LoyaltySoapClient`` (for deployments that publish the HTTP
service rather than the web service). Basic auth is sent as UTF-8. Errors keep 1C's message: a JSON
error body carries 1C's exception chain and the innermost ``description`` is the module's own text
(``onec_message``); the status decides the type (400 ``OneCQueryError``, 401/403 ``OneCAuthError``,
404 with a JSON body ``OneCNotFound``, 409 ``OneCConflict``, 5xx JSON ``OneCServerError`` or
``OneCLockConflict``); anything else (HTML error pages, a 404 without JSON: the service is not
published) goes through ``errors.error_from_response``. A 2xx that is not JSON of the expected shape is
``OneCProtocolError``; network failures and timeouts ``OneCUnavailable``. Failures are logged without
personal data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx

from . import bounded
from .auth import basic_auth
from .errors import (
    LOCK_MARKERS,
    LOGIN_PAGE,
    OneCAuthError,
    OneCConflict,
    OneCError,
    OneCLockConflict,
    OneCNotFound,
    OneCProtocolError,
    OneCQueryError,
    OneCServerError,
    OneCUnavailable,
    error_from_response,
    is_login_page,
)
from .loyalty import BonusMovement, CardBalance, LoyaltyCard, PartnerProfile, log_failure

if TYPE_CHECKING:
    from bonusbridge.settings import Settings

ROOT = "loyalty"
T = TypeVar("T")


def innermost_message(body: Any) -> str | None:
    """The deepest ``description`` of 1C's exception chain (or the top-level ``message``)."""
    if not isinstance(body, dict):
        return None
    node = body.get("exception")
    message: str | None = None
    depth = 0
    while isinstance(node, dict) and depth < 20:
        if isinstance(node.get("description"), str):
            message = node["description"]
        node = node.get("cause")
        depth += 1
    top = body.get("message")
    return message or (top if isinstance(top, str) else None)


def error_from_hs(response: httpx.Response) -> OneCError:
    """The typed error for a failed answer of the HTTP service."""
    try:
        body = response.json() if "json" in response.headers.get("content-type", "") else None
    except ValueError:
        body = None
    message = innermost_message(body)
    if message is None:
        return error_from_response(response)
    code = body.get("errorCode") if isinstance(body, dict) else None
    status = response.status_code
    text = f"1C answered {status}" + (f" ({code})" if code else "") + f": {message}"
    details: dict[str, Any] = {
        "status": status,
        "onec_code": str(code) if code else None,
        "onec_message": message,
        "url": str(response.request.url),
    }
    if status in (401, 403):
        return OneCAuthError(text, **details)
    if any(marker in message.lower() for marker in LOCK_MARKERS):
        return OneCLockConflict(text, **details)
    if status == 404:
        return OneCNotFound(text, **details)
    if status == 409:
        return OneCConflict(text, **details)
    if 400 <= status < 500:
        return OneCQueryError(text, **details)
    return OneCServerError(text, **details)


class LoyaltyHttpClient:
    """Typed calls of the ``loyalty`` HTTP service."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        deadline: float = bounded.DEFAULT_DEADLINE_SECONDS,
        max_body_bytes: int = bounded.DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        """``timeout``: each network wait; ``deadline``: the whole call; ``max_body_bytes``: the
        largest answer read (a larger one is refused as too large)."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.bounds = bounded.Bounds(deadline=deadline, max_body=max_body_bytes)
        self._http = httpx.Client(
            base_url=f"{self.base_url}/hs/{ROOT}/",
            headers={"Authorization": basic_auth(username, password), "Accept": "application/json"},
            timeout=min(timeout, deadline),
            transport=transport if transport is not None else bounded.transport(),
        )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> LoyaltyHttpClient:
        args: dict[str, Any] = {
            "timeout": settings.onec_timeout_seconds,
            "deadline": settings.onec_deadline_seconds,
            "max_body_bytes": settings.onec_max_body_bytes,
            **overrides,
        }
        return cls(
            settings.onec_base_url, settings.onec_username, settings.onec_password.get_secret_value(), **args
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LoyaltyHttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        convert: Callable[[Any], T],
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> T:
        try:
            content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json; charset=utf-8"} if content is not None else None
            response = bounded.fetch(
                self._http,
                method,
                path,
                self.bounds,
                where=f"{operation} ({method} hs/{ROOT}/…)",
                params=params,
                content=content,
                headers=headers,
            )
            if not response.is_success:
                raise error_from_hs(response)
            content_type = response.headers.get("content-type", "")
            if "html" in content_type and is_login_page(response.text):
                raise OneCAuthError(
                    f"{LOGIN_PAGE}: answered {operation} with a login page", status=response.status_code
                )
            if "json" not in content_type:
                kind = response.headers.get("content-type") or "no type"
                raise OneCProtocolError(
                    f"1C answered {operation} with {kind}, not JSON",
                    status=response.status_code,
                )
            try:
                return convert(response.json())
            except (ValueError, KeyError, TypeError, InvalidOperation, AttributeError):
                raise OneCProtocolError(
                    f"1C's answer to {operation} is not the expected JSON", status=response.status_code
                ) from None
        except OneCError as exc:
            error = exc
        except httpx.HTTPError as exc:  # bounded.fetch types transport failures; this is a fallback
            error = OneCUnavailable(f"1C is unreachable: {type(exc).__name__}")
        log_failure("HTTP service", operation, error)
        raise error

    # --- operations ---------------------------------------------------------------------------------
    def find_cards_by_phone(self, phone: str) -> list[LoyaltyCard]:
        return self._call(
            "FindCardsByPhone",
            "GET",
            "cards",
            lambda b: [_card(c) for c in b["cards"]],
            params={"phone": phone},
        )

    def card_balance(self, card_number: str) -> CardBalance:
        return self._call("GetCardBalance", "GET", f"cards/{_seg(card_number)}/balance", _balance)

    def post_bonus_movement(
        self, card_number: str, amount: Decimal, external_id: str, comment: str = ""
    ) -> BonusMovement:
        """Positive ``amount`` accrues, negative writes off. Safe to retry with the same ``external_id``."""
        body = {
            "cardNumber": card_number,
            "amount": str(Decimal(amount)),
            "externalId": external_id,
            "comment": comment,
        }
        return self._call("PostBonusMovement", "POST", "movements", _movement, body=body)

    def block_card(self, card_number: str, reason: str = "") -> LoyaltyCard:
        return self._call(
            "BlockCard", "POST", f"cards/{_seg(card_number)}/block", _card, body={"reason": reason}
        )

    def get_partner(self, ref: str) -> PartnerProfile:
        return self._call("GetPartner", "GET", f"partners/{_seg(ref)}", _partner)

    def update_partner(
        self,
        ref: str,
        *,
        name: str | None = None,
        full_name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        birth_date: date | None = None,
        clear_birth_date: bool = False,
    ) -> PartnerProfile:
        """Set the given fields (None: unchanged; ``""`` clears phone/email/full name)."""
        body: dict[str, Any] = {"name": name, "fullName": full_name, "phone": phone, "email": email}
        body = {k: v for k, v in body.items() if v is not None}
        if clear_birth_date:
            body["birthDate"] = ""
        elif birth_date is not None:
            body["birthDate"] = birth_date.isoformat()
        return self._call("UpdatePartner", "PATCH", f"partners/{_seg(ref)}", _partner, body=body)


def _seg(text: str) -> str:
    return quote(text, safe="")


def _cards(b: dict[str, Any]) -> list[LoyaltyCard]:
    return [_card(c) for c in b["cards"]]


def _card(b: dict[str, Any]) -> LoyaltyCard:
    return LoyaltyCard(
        ref=str(b["ref"]),
        number=str(b["number"]),
        kind=str(b.get("kind") or ""),
        status=str(b["status"]),
        owner=str(b["owner"]),
        owner_name=str(b.get("ownerName") or ""),
        balance=Decimal(str(b["balance"])),
    )


def _balance(b: dict[str, Any]) -> CardBalance:
    return CardBalance(str(b["cardNumber"]), Decimal(str(b["accrued"])), Decimal(str(b["toWriteOff"])))


def _movement(b: dict[str, Any]) -> BonusMovement:
    return BonusMovement(
        str(b["ref"]),
        str(b["number"]),
        datetime.fromisoformat(b["date"]),
        str(b["externalId"]),
        bool(b["created"]),
    )


def _partner(b: dict[str, Any]) -> PartnerProfile:
    birth = b.get("birthDate")
    return PartnerProfile(
        ref=str(b["ref"]),
        code=str(b.get("code") or ""),
        name=str(b.get("name") or ""),
        full_name=str(b.get("fullName") or ""),
        phone=str(b.get("phone") or ""),
        email=str(b.get("email") or ""),
        birth_date=date.fromisoformat(birth) if birth else None,
    )


def ping(settings: Settings) -> tuple[bool, str]:
    """Can the hub reach 1C's HTTP service? One harmless read (a phone lookup that matches nobody)."""
    with LoyaltyHttpClient.from_settings(settings) as client:
        try:
            client.find_cards_by_phone("0000000000")
        except OneCError as exc:
            return False, f"HTTP service {ROOT}: {exc.code}: {exc}"
        return True, f"HTTP service {ROOT} at {client.base_url}/hs/{ROOT}/: ok"
