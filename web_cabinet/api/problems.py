"""Errors of the shop API as RFC 9457 problem details: one catalog of stable codes and their statuses.

Clients branch on ``code``, never on ``detail`` (words may change) or on the status alone (409 has
several reasons). Every refusal of the hub (``bonusbridge.errors``) maps to one entry here, so a new
ledger error without an entry is a 500 that a test notices, not a silent 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from bonusbridge import errors

PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class Kind:
    status: int
    title: str


#: Every ``code`` the API answers with, its HTTP status and title.
CATALOG: dict[str, Kind] = {
    "missing_api_key": Kind(401, "An API key is required"),
    "invalid_api_key": Kind(401, "The API key is not valid"),
    "api_key_revoked": Kind(401, "The API key was revoked"),
    "missing_scope": Kind(403, "The API key lacks the scope this call needs"),
    "not_found": Kind(404, "No such resource"),
    "method_not_allowed": Kind(405, "Method not allowed"),
    "validation_error": Kind(422, "The request is malformed"),
    "unknown_card": Kind(404, "No such card"),
    "unknown_hold": Kind(404, "No such hold"),
    "unknown_order": Kind(404, "No such order"),
    "unknown_movement": Kind(404, "No such movement"),
    "unknown_customer": Kind(404, "No such customer"),
    "card_blocked": Kind(409, "The card is blocked"),
    "accumulation_only": Kind(409, "The card only accumulates points"),
    "insufficient_balance": Kind(409, "Not enough points"),
    "hold_expired": Kind(409, "The hold expired"),
    "hold_not_pending": Kind(409, "The hold is already captured, voided or expired"),
    "idempotency_conflict": Kind(409, "The idempotency key was used for another request"),
    "not_reversible": Kind(409, "The movement cannot be reversed"),
    "order_card_mismatch": Kind(409, "The order belongs to another card"),
    "order_already_accrued": Kind(409, "Points for this order were already accrued"),
    "order_not_accrued": Kind(409, "The order has no accrual to refund yet"),
    "order_refunded": Kind(409, "The order was refunded: it takes no more captures"),
    "order_hold_pending": Kind(409, "The order has a hold to capture or void first"),
    "order_total_mismatch": Kind(409, "The order's holds stated another total"),
    "below_minimum_order": Kind(422, "The order is below the minimum points may pay for"),
    "below_threshold": Kind(422, "The balance has not reached the spend threshold"),
    "invalid_amount": Kind(422, "The amount is not valid"),
    "capture_exceeds_hold": Kind(422, "The capture exceeds the hold"),
    "invalid_dates": Kind(422, "The dates are not valid"),
    "invalid_key": Kind(422, "The idempotency key is not valid"),
    "spend_limit_exceeded": Kind(422, "Points may not pay that much of the order"),
    "balance_limit_exceeded": Kind(422, "The card's balance would exceed the most it may hold"),
    "refund_exceeds_order": Kind(422, "The refunds would exceed the order total"),
    "invalid_basket": Kind(422, "The basket is not valid"),
    "invalid_return": Kind(422, "The return does not match the receipt"),
    "unknown_currency": Kind(422, "The program does not know this currency"),
    "before_program_start": Kind(422, "The date is before the points program started"),
    "invalid_program_rules": Kind(422, "The program rules are not valid"),
    "retroactive_change": Kind(409, "The change would alter a closed period"),
    "contradictory_campaigns": Kind(409, "The campaigns contradict each other"),
    "invalid_phone": Kind(422, "The phone number is not valid"),
    "invalid_card_number": Kind(422, "The card number is not valid"),
    "permission_denied": Kind(403, "Not permitted"),
    # Hub errors no endpoint provokes today, catalogued so that one that starts to gets its code.
    "same_card_transfer": Kind(422, "A card cannot transfer to itself"),
    "missing_reason": Kind(422, "A reason is required"),
    "invalid_profile_field": Kind(422, "A profile field is not valid"),
    "unknown_profile_field": Kind(422, "Not an editable profile field"),
    "stale_version": Kind(409, "The record changed meanwhile"),
    "card_of_another_customer": Kind(409, "The card belongs to another customer"),
    "card_not_owned": Kind(409, "The card is not the customer's"),
    "card_has_pending_hold": Kind(409, "The card has a checkout in progress"),
    "phone_of_another_customer": Kind(409, "Another customer verified this phone"),
    # The rewards shop (``bonusbridge.rewards.errors``): ``detail`` in the caller's language.
    "unknown_reward": Kind(404, "No such reward"),
    "reward_not_visible": Kind(409, "The reward is no longer shown in the catalog"),
    "reward_not_active": Kind(409, "The reward cannot be ordered at the moment"),
    "out_of_stock": Kind(409, "Not enough units left"),
    "member_limit_reached": Kind(409, "Over the per-member limit"),
    "global_limit_reached": Kind(409, "Every unit of the offer is taken"),
    "not_eligible": Kind(409, "The member may not order this reward yet"),
    "price_changed": Kind(409, "The price changed since the member saw it"),
    "empty_cart": Kind(422, "The cart is empty"),
    "cart_too_large": Kind(422, "The cart has too many lines or units"),
    "suggestion_too_large": Kind(422, "The cart is too varied for an exact suggestion"),
    "no_card": Kind(409, "The member has no card to pay with points"),
    "card_cannot_spend": Kind(409, "The member's card cannot spend points now"),
    "unknown_reward_order": Kind(404, "No such reward order"),
    "order_not_cancellable": Kind(409, "The order can no longer be cancelled"),
    "unpaid_cash_part": Kind(409, "The order's cash part is not paid yet"),
    "order_not_payable": Kind(409, "The order is not awaiting payment"),
    "no_invoice": Kind(404, "The order has no invoice"),
    # Staff and supplier pages' refusals, catalogued so that one reaching the API keeps its code.
    "invalid_reward": Kind(422, "A reward's field is not valid"),
    "duplicate_voucher_codes": Kind(422, "The voucher code file repeats codes"),
    "stale_reward": Kind(409, "The reward changed meanwhile"),
    "not_your_order": Kind(404, "No such order"),
    "link_expired": Kind(403, "The link expired or is not valid"),
    "rewards_error": Kind(409, "The rewards shop refused the operation"),
    "internal_error": Kind(500, "Internal error"),
}


class FieldError(BaseModel):
    """One malformed part of a request: where (``body.lines.0.price``) and why."""

    location: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, plus a stable machine-readable ``code``."""

    type: str = Field(description="A URI naming the problem kind: urn:bonusbridge:problem:<code>.")
    title: str = Field(description="Short summary of the problem kind.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What was wrong with this request, for a person.")
    code: str = Field(description="Stable identifier of the problem kind; branch on this.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[FieldError] | None = Field(default=None, description="Malformed fields (422 only).")
    params: dict[str, str] | None = Field(
        default=None,
        description="The problem's values, e.g. `price_changed`: reward_id, points_price, cash_price "
        "(the new price); `out_of_stock`: left, wanted; `not_eligible`: reason, threshold.",
    )


class ApiProblem(Exception):
    """Raised anywhere in the API to answer with the catalog's problem for ``code``."""

    def __init__(self, code: str, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.headers = headers


def problem_response(
    request: Request,
    code: str,
    detail: str,
    *,
    field_errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> JSONResponse:
    kind = CATALOG[code]
    body = Problem(
        type=f"urn:bonusbridge:problem:{code}",
        title=kind.title,
        status=kind.status,
        detail=detail,
        code=code,
        instance=request.url.path,
        errors=field_errors,
        params=params,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=kind.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def code_of(exc: errors.BonusBridgeError) -> str:
    """The catalog code of a hub error; an uncatalogued one is an internal error, not a guess."""
    return exc.code if exc.code in CATALOG else "internal_error"


async def on_api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(request, exc.code, exc.detail, headers=exc.headers)


#: Row ids in the hub's messages ("card 17 is blocked"): the API's ids are opaque, so are its words.
_ROW_IDS = re.compile(r"\b(card|hold|movement|customer) \d+\b")


async def on_hub_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.BonusBridgeError)
    code = code_of(exc)
    detail = (
        _ROW_IDS.sub(r"the \1", str(exc))
        if code != "internal_error"
        else "the request could not be completed"
    )
    return problem_response(request, code, detail)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    found = [
        FieldError(location=".".join(str(part) for part in error.get("loc", ())), message=error["msg"])
        for error in exc.errors()
    ]
    return problem_response(
        request, "validation_error", "the request does not match the schema", field_errors=found
    )


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    if code is None:  # FastAPI's own 4xx (e.g. an unparseable JSON body answers 422 through validation)
        code = "validation_error" if exc.status_code < 500 else "internal_error"
    return problem_response(request, code, str(exc.detail), headers=dict(exc.headers or {}))


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Never a stack trace: the log has it, the client gets a problem with no internals."""
    return problem_response(request, "internal_error", "the request could not be completed")


def responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems an endpoint can answer with, described by their codes."""
    by_status: dict[int, list[str]] = {}
    for code in (*codes, "missing_api_key", "invalid_api_key", "api_key_revoked", "missing_scope"):
        by_status.setdefault(CATALOG[code].status, []).append(code)
    by_status.setdefault(422, []).append("validation_error")
    by_status.setdefault(500, []).append("internal_error")
    return {
        status: {
            "model": Problem,
            "description": "Problem; `code` is one of: " + ", ".join(sorted(set(found))),
        }
        for status, found in sorted(by_status.items())
    }
