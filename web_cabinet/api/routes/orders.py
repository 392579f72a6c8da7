"""Order endpoints: accrue points for a paid order, refund it (scopes `accrue`, `refund`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.orders import service as orders
from web_cabinet.api import opt_in, schemas
from web_cabinet.api.auth import Principal, requires
from web_cabinet.api.deps import settings_of
from web_cabinet.api.idempotency import IdempotencyKey, Write
from web_cabinet.api.problems import responses
from web_cabinet.api.routes import shared

router = APIRouter()


@router.post(
    "/accruals",
    response_model=schemas.AccrualOut,
    status_code=201,
    summary="Accrue points for a paid order",
    responses={
        201: {"headers": shared.REPLAY_DOC},
        **responses(
            "unknown_card",
            "card_blocked",
            "order_card_mismatch",
            "order_already_accrued",
            "order_hold_pending",
            "idempotency_conflict",
        ),
    },
    tags=["orders"],
)
def accrue(
    request: Request,
    body: schemas.AccrualIn,
    idempotency_key: IdempotencyKey,
    client: Annotated[Principal, Depends(requires("accrue"))],
) -> JSONResponse:
    """The points the program's engine quotes for the order as one line (`/receipts` knows its
    lines): its earn rate, tier and the campaigns that name no items, on the part paid with money
    when the program says advantages earn nothing, with the program's pending days and validity —
    once per order. The order's holds must be captured or voided first (`order_hold_pending`);
    points spent beyond what the paid total allows are given back. Accumulation-only cards accrue.
    `join_program` enrols the card's owner with this accrual; when the program requires joining
    and the owner has not joined, the order is recorded and earns nothing (`earn_refused:
    not_a_member`). Scope `accrue`."""
    row_id = shared.card_row_id(request, body.card_id)
    settings = settings_of(request)

    def work(book: LedgerBook, write: Write) -> tuple[int, BaseModel]:
        joined = opt_in.for_order(book, write, settings, row_id, body.join_program)
        done = orders.accrue(
            book,
            shared.caller(write),
            shared.program(request, book.conn),
            card_id=row_id,
            reference=body.order_id,
            total=body.order_total,
            earns=joined.earns,
        )
        return 201, schemas.AccrualOut(
            order_id=body.order_id,
            card_id=body.card_id,
            order_total=body.order_total,
            points_spent=done.spent,
            points_accrued=done.accrued,
            member=joined.member,
            earn_refused=joined.earn_refused,
        )

    return shared.write(request, client, idempotency_key, "accrue", opt_in.fingerprinted(body), work)


@router.post(
    "/refunds",
    response_model=schemas.RefundOut,
    status_code=201,
    summary="Refund (part of) an order",
    responses={
        201: {"headers": shared.REPLAY_DOC},
        **responses(
            "unknown_order",
            "order_not_accrued",
            "order_card_mismatch",
            "refund_exceeds_order",
            "insufficient_balance",
            "card_blocked",
            "idempotency_conflict",
        ),
    },
    tags=["orders"],
)
def refund(
    request: Request,
    body: schemas.RefundIn,
    idempotency_key: IdempotencyKey,
    client: Annotated[Principal, Depends(requires("refund"))],
) -> JSONResponse:
    """Refunding a share of the order's total takes back that share of the points it earned and
    gives back that share of the points spent on it; refunding the whole order leaves the balance
    as it was before the order; refunds by amount and returns of lines (`/receipts/{id}/returns`)
    mix freely and together never reverse more or less than one full refund. Earned points are taken
    back only when the program's credit notes reduce points. A card merged away since: the refund
    follows the merge to the card that holds the points now. Refunds beyond the total are refused.
    If the customer already spent the earned points, the refund is refused with
    `insufficient_balance`. Scope `refund`."""

    def work(book: LedgerBook, write: Write) -> tuple[int, BaseModel]:
        program = shared.program(request, book.conn)
        done = orders.refund(book, shared.caller(write), program, reference=body.order_id, amount=body.amount)
        assert done.order.total is not None
        return 201, schemas.RefundOut(
            order_id=body.order_id,
            amount=body.amount,
            refunded_total=done.refunded_total,
            order_total=done.order.total,
            points_reversed=done.reversed_accrual,
            points_returned=done.returned_spent,
        )

    return shared.write(request, client, idempotency_key, "refund", body.model_dump(mode="json"), work)
