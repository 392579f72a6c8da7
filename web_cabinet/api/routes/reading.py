"""Reading endpoints: cards by number, customers by phone, balances, quotes, orders (`read`, `quote`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.orders import service as orders
from web_cabinet.api import engine, ids, lookups, schemas
from web_cabinet.api.auth import Principal, requires
from web_cabinet.api.deps import hub_of, id_secret, settings_of
from web_cabinet.api.problems import ApiProblem, responses
from web_cabinet.api.routes import shared

router = APIRouter()


@router.post(
    "/cards/search",
    response_model=schemas.CardsFound,
    summary="Find cards by number",
    responses=responses("invalid_card_number"),
    tags=["cards"],
)
def search_cards(
    request: Request, body: schemas.CardSearch, _: Annotated[Principal, Depends(requires("read"))]
) -> BaseModel:
    """Cards whose number matches, however typed (spaces, dashes, Cyrillic look-alike letters).
    Scope `read`."""
    return shared.read(request, lambda book: lookups.find_cards(book.conn, body.number, id_secret(request)))


@router.post(
    "/customers/search",
    response_model=schemas.CustomersFound,
    summary="Find a customer and their cards by phone",
    responses=responses("invalid_phone"),
    tags=["cards"],
)
def search_customers(
    request: Request, body: schemas.CustomerSearch, _: Annotated[Principal, Depends(requires("read"))]
) -> BaseModel:
    """Customers with this phone and their cards, plus cards recorded with it but not bound to
    anyone yet. Scope `read`."""
    settings, secret = settings_of(request), id_secret(request)
    return shared.read(request, lambda book: lookups.find_customers(book.conn, body.phone, settings, secret))


@router.get(
    "/cards/{card_id}/balance",
    response_model=schemas.BalanceOut,
    summary="A card's balance",
    responses=responses("unknown_card"),
    tags=["cards"],
)
async def card_balance(
    request: Request, card_id: shared.CardPath, _: Annotated[Principal, Depends(requires("read"))]
) -> BaseModel:
    """Available, pending, held and expiring-soon points. Scope `read`.

    The call a checkout page makes most: on PostgreSQL it is awaited (``ledger.async_reads``, one
    prepared statement built from the ledger's own columns), with no worker thread; on SQLite the
    ledger's read runs in a worker thread. A recurring call usually never reaches this route: the
    short lane (``web_cabinet.api.balance_lane``) answers it with the same read and body."""
    row_id = shared.card_row_id(request, card_id)
    hub = hub_of(request)
    within = hub.ledger.expiring_within
    reader = hub.async_reader
    if reader is None:
        return await run_in_threadpool(
            shared.read, request, lambda book: lookups.balance(book, row_id, card_id, within)
        )
    found = await reader.card_balance(row_id, now=hub.ledger.clock(), expiring_within=within)
    if found is None:
        raise ApiProblem("unknown_card", "no such card")
    return lookups.balance_out(card_id, *found)


@router.post(
    "/quotes",
    response_model=schemas.QuoteOut,
    summary="Points a basket earns and may spend",
    responses=responses("unknown_card", "invalid_basket", "unknown_currency", "before_program_start"),
    tags=["checkout"],
)
def quote(
    request: Request, body: schemas.QuoteIn, _: Annotated[Principal, Depends(requires("quote"))]
) -> Response:
    """The points engine's quote, with the program version in force at `at` (default now): what each
    line earns and why (earn base, exclusions, discounted items, birthday, first purchase and campaign
    multipliers), the total, and the most points that may pay for the basket — the available
    balance, from the spend threshold on, at most the per-order maximum and the order itself, none
    below the minimum order or on an accumulation-only or blocked card. `points_to_spend` and
    `vouchers` lower the earn base when the program says advantages earn nothing.

    `member` says whether the card's owner is in the loyalty program; `join_required` that the
    program requires joining and they have not: `points_earned` is still what the order earns,
    if they join at checkout (`join_program` on the receipt or accrual). Scope `quote`."""
    row_id = shared.card_row_id(request, body.card_id)
    settings = settings_of(request)

    def work(book: LedgerBook) -> BaseModel:
        program = shared.program(request, book.conn)
        return engine.quote_card(
            book, program, row_id, body.card_id, body.lines, body, body.points_to_spend, settings=settings
        )

    return shared.serialized(shared.read(request, work))


@router.get(
    "/orders/{order_id}",
    response_model=schemas.OrderOut,
    summary="An order's points and refunds",
    responses=responses("unknown_order"),
    tags=["orders"],
)
def get_order(
    request: Request, order_id: shared.OrderPath, client: Annotated[Principal, Depends(requires("read"))]
) -> BaseModel:
    """The order's total, refunds so far, the points it earned and spent, and its state. Scope `read`."""

    def work(book: LedgerBook) -> BaseModel:
        order = orders.require(book.conn, client.client_id, order_id)
        return schemas.OrderOut(
            order_id=order.reference,
            card_id=ids.encode("card", order.card_id, id_secret(request)),
            order_total=order.total,
            refunded_total=order.refunded,
            points_accrued=orders.points_accrued(book.conn, order),
            points_spent=orders.points_spent(book.conn, order),
            state=orders.state(book.conn, order, book.now).value,
        )

    return shared.read(request, work)
