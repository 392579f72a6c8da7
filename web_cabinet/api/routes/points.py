"""The points engine's endpoints: a paid receipt, its returns (scopes `accrue`, `refund`), and the
tills' quote (scope `till`), which runs the same function as `/quotes`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.orders import service as orders
from bonusbridge.points import receipt_text
from web_cabinet.api import engine, ids, opt_in, schemas
from web_cabinet.api.auth import Principal, requires
from web_cabinet.api.deps import id_secret, settings_of
from web_cabinet.api.idempotency import IdempotencyKey, Write
from web_cabinet.api.problems import responses
from web_cabinet.api.routes import shared

router = APIRouter()
ReceiptPath = Annotated[str, Path(pattern=schemas.ORDER_PATTERN, description="The receipt's number.")]


@router.post(
    "/receipts",
    response_model=schemas.ReceiptOut,
    status_code=201,
    summary="Apply a paid receipt: accrue its points",
    responses={
        201: {"headers": shared.REPLAY_DOC},
        **responses(
            "unknown_card",
            "card_blocked",
            "order_card_mismatch",
            "order_already_accrued",
            "order_hold_pending",
            "invalid_basket",
            "unknown_currency",
            "before_program_start",
            "invalid_dates",
            "idempotency_conflict",
        ),
    },
    tags=["orders"],
)
def apply_receipt(
    request: Request,
    body: schemas.ReceiptIn,
    idempotency_key: IdempotencyKey,
    client: Annotated[Principal, Depends(requires("accrue"))],
) -> JSONResponse:
    """Accrue the points the engine quotes for the receipt's lines, with the rules in force at its
    date (`at`, default now), once per receipt: points spent on it at checkout (captured holds of
    the same `receipt_id`) and `vouchers` earn nothing when the program says so. The points become
    spendable after the program's pending period and expire after its validity.

    `join_program`: the customer ticked "join the loyalty program"; the card's owner joins with
    this receipt. When the program requires joining and the owner has not joined, the receipt is
    recorded and earns nothing (`earn_refused: not_a_member`). Scope `accrue`."""
    row_id = shared.card_row_id(request, body.card_id)
    settings = settings_of(request)

    def work(book: LedgerBook, write: Write) -> tuple[int, BaseModel]:
        program = shared.program(request, book.conn)
        joined = opt_in.for_order(book, write, settings, row_id, body.join_program)
        done = orders.apply_receipt(
            book,
            shared.caller(write),
            program,
            card_id=row_id,
            reference=body.receipt_id,
            lines=engine.hub_lines(body.lines),
            at=body.at,
            currency=body.currency,
            vouchers=body.vouchers,
            earns=joined.earns,
        )
        computed, available_from, expires_at = done.quote, done.available_from, done.expires_at
        rules = program.version_at(body.at or book.now).rules
        view = book.balance(done.card_id)
        balance = view.available + view.pending
        facts = receipt_text.ReceiptFacts(
            earned=done.accrued,
            deducted=done.spent,
            balance=balance,
            point_value=rules.point_value,
            currency=rules.currency,
            time_zone=rules.time_zone,
            expires_at=expires_at,
            available_from=available_from,
            now=book.now,
            threshold=rules.spend_threshold,
        )
        return 201, schemas.ReceiptOut(
            receipt_id=body.receipt_id,
            card_id=body.card_id,
            order_total=computed.total,
            points_spent=done.spent,
            points_accrued=done.accrued,
            available_from=available_from,
            expires_at=expires_at,
            program_version=computed.version_id,
            lines=engine.lines_out(computed),
            balance=balance,
            print_lines=receipt_text.lines(facts, body.lang),
            member=joined.member,
            earn_refused=joined.earn_refused,
        )

    return shared.write(request, client, idempotency_key, "receipt", opt_in.fingerprinted(body), work)


@router.post(
    "/receipts/{receipt_id}/returns",
    response_model=schemas.ReturnOut,
    status_code=201,
    summary="Return lines of a receipt (a credit note)",
    responses={
        201: {"headers": shared.REPLAY_DOC},
        **responses(
            "unknown_order",
            "order_not_accrued",
            "invalid_return",
            "insufficient_balance",
            "card_blocked",
            "idempotency_conflict",
        ),
    },
    tags=["orders"],
)
def return_lines(
    request: Request,
    receipt_id: ReceiptPath,
    body: schemas.ReturnIn,
    idempotency_key: IdempotencyKey,
    client: Annotated[Principal, Depends(requires("refund"))],
) -> JSONResponse:
    """Takes back the points the returned lines earned (in proportion to the quantity returned) and
    gives back the points spent on the receipt in proportion to the money returned; returning every
    line leaves the balance as it was before the receipt, also after refunds by amount of the same
    order (one record per order of what was reversed). Returning more than was bought is refused
    (`invalid_return`). Scope `refund`."""

    def work(book: LedgerBook, write: Write) -> tuple[int, BaseModel]:
        program = shared.program(request, book.conn)
        returned = [(line.line, line.quantity) for line in body.lines]
        done = orders.return_lines(
            book, shared.caller(write), program, reference=receipt_id, returned=returned
        )
        assert done.order.total is not None
        return 201, schemas.ReturnOut(
            receipt_id=receipt_id,
            amount=done.amount,
            refunded_total=done.refunded_total,
            order_total=done.order.total,
            points_reversed=done.reversed_accrual,
            points_returned=done.returned_spent,
        )

    fingerprinted = {"receipt_id": receipt_id, **body.model_dump(mode="json")}
    return shared.write(request, client, idempotency_key, "return", fingerprinted, work)


@router.post(
    "/onec/quote",
    response_model=schemas.QuoteOut,
    summary="The tills' quote (1C HTTP service call)",
    responses=responses(
        "unknown_card", "invalid_card_number", "invalid_basket", "unknown_currency", "before_program_start"
    ),
    tags=["1C tills"],
)
def till_quote(
    request: Request, body: schemas.TillQuoteIn, _: Annotated[Principal, Depends(requires("till"))]
) -> Response:
    """The same quote as `/quotes`, for a till: the card by the number it scanned. See *For 1C
    developers* in the API's description. A till never needs the owner to join (`join_required`
    is false): taking the card is the opt-in. Scope `till`."""

    def work(book: LedgerBook) -> BaseModel:
        card_id = engine.till_card(book.conn, body.card_number)
        program = shared.program(request, book.conn)
        public_id = ids.encode("card", card_id, id_secret(request))
        return engine.quote_card(
            book,
            program,
            card_id,
            public_id,
            body.lines,
            body,
            body.points_to_spend,
            settings=settings_of(request),
            till=True,
        )

    return shared.serialized(shared.read(request, work))
