"""Checkout endpoints: hold, read, capture and void points for an order (scope `checkout`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.orders import service as orders
from web_cabinet.api import schemas
from web_cabinet.api.auth import Principal, requires
from web_cabinet.api.idempotency import IdempotencyKey, Write
from web_cabinet.api.problems import responses
from web_cabinet.api.routes import shared

router = APIRouter()

_HOLD_PROBLEMS = (
    "unknown_hold",
    "hold_expired",
    "hold_not_pending",
    "card_blocked",
    "accumulation_only",
    "idempotency_conflict",
    "order_already_accrued",
    "order_refunded",
    "below_minimum_order",
    "below_threshold",
    "spend_limit_exceeded",
)


@router.post(
    "/holds",
    response_model=schemas.HoldOut,
    status_code=201,
    summary="Reserve points for an order",
    responses={
        201: {"headers": shared.REPLAY_DOC},
        **responses(
            "unknown_card",
            "card_blocked",
            "accumulation_only",
            "insufficient_balance",
            "order_card_mismatch",
            "order_already_accrued",
            "order_refunded",
            "order_total_mismatch",
            "idempotency_conflict",
            "below_minimum_order",
            "below_threshold",
            "spend_limit_exceeded",
        ),
    },
    tags=["checkout"],
)
def create_hold(
    request: Request,
    body: schemas.HoldIn,
    idempotency_key: IdempotencyKey,
    client: Annotated[Principal, Depends(requires("checkout"))],
) -> JSONResponse:
    """Points stay on the card as `held` until captured or voided; a hold not captured within its
    time to live is released. The same rule as the quote decides: the card must be allowed to spend
    (`card_blocked`, `accumulation_only`), the order must reach the program's minimum
    (`below_minimum_order`) and the balance its spend threshold (`below_threshold`), and the
    order's holds together stay within its share and absolute limits (`spend_limit_exceeded`). An
    order's holds all state the same `order_total` (`order_total_mismatch`); a paid and accrued
    order takes no new hold. Scope `checkout`."""
    row_id = shared.card_row_id(request, body.card_id)

    def work(book: LedgerBook, write: Write) -> tuple[int, BaseModel]:
        record, order = orders.hold(
            book,
            shared.caller(write),
            shared.program(request, book.conn),
            card_id=row_id,
            reference=body.order_id,
            points=body.points,
            total=body.order_total,
        )
        return 201, shared.hold_out(request, record, order)

    return shared.write(request, client, idempotency_key, "hold", body.model_dump(mode="json"), work)


@router.get(
    "/holds/{hold_id}",
    response_model=schemas.HoldOut,
    summary="A hold's state",
    responses=responses("unknown_hold"),
    tags=["checkout"],
)
def get_hold(
    request: Request, hold_id: shared.HoldPath, client: Annotated[Principal, Depends(requires("checkout"))]
) -> BaseModel:
    """Scope `checkout`."""
    row_id = shared.hold_row_id(request, hold_id)

    def work(book: LedgerBook) -> BaseModel:
        record, order = orders.hold_of(book.conn, client.client_id, row_id)
        return shared.hold_out(request, record.read_at(book.now), order)  # expired before it is swept

    return shared.read(request, work)


@router.post(
    "/holds/{hold_id}/capture",
    response_model=schemas.HoldOut,
    summary="Spend all or part of a hold",
    responses={200: {"headers": shared.REPLAY_DOC}, **responses(*_HOLD_PROBLEMS, "capture_exceeds_hold")},
    tags=["checkout"],
)
def capture_hold(
    request: Request,
    hold_id: shared.HoldPath,
    idempotency_key: IdempotencyKey,
    client: Annotated[Principal, Depends(requires("checkout"))],
    body: schemas.CaptureIn | None = None,
) -> JSONResponse:
    """Captures `points` (default: all) and releases the rest in the same step, under the program
    rules the hold was made with. With partial spending off (seed 003) the rest of the card's
    spendable balance goes with the order (a refund gives it back). Refused once the order is
    accrued (`order_already_accrued`) or refunded (`order_refunded`). Scope `checkout`."""
    row_id = shared.hold_row_id(request, hold_id)
    points = body.points if body is not None else None

    def work(book: LedgerBook, write: Write) -> tuple[int, BaseModel]:
        program = shared.program(request, book.conn)
        record, order = orders.capture(book, shared.caller(write), program, hold_id=row_id, points=points)
        return 200, shared.hold_out(request, record, order)

    fingerprinted = {"hold_id": hold_id, "points": None if points is None else f"{points:.2f}"}
    return shared.write(request, client, idempotency_key, "capture", fingerprinted, work)


@router.post(
    "/holds/{hold_id}/void",
    response_model=schemas.HoldOut,
    summary="Release a hold",
    responses={
        200: {"headers": shared.REPLAY_DOC},
        **responses("unknown_hold", "hold_not_pending", "idempotency_conflict"),
    },
    tags=["checkout"],
)
def void_hold(
    request: Request,
    hold_id: shared.HoldPath,
    idempotency_key: IdempotencyKey,
    client: Annotated[Principal, Depends(requires("checkout"))],
) -> JSONResponse:
    """Gives the held points back (also on a blocked card). Scope `checkout`."""
    row_id = shared.hold_row_id(request, hold_id)

    def work(book: LedgerBook, write: Write) -> tuple[int, BaseModel]:
        record, order = orders.void(book, shared.caller(write), hold_id=row_id)
        return 200, shared.hold_out(request, record, order)

    return shared.write(request, client, idempotency_key, "void", {"hold_id": hold_id}, work)
