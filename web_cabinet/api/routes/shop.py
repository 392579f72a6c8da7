"""The rewards shop's endpoints (``/shop/…``): the catalog with the member's eligibility, the cart's
quote with its exact suggestion, orders placed, read and cancelled, and the invoice PDF.

Thin shells: every rule is ``bonusbridge.rewards``' (``listing``, ``cart``, ``orders``,
``invoice``); a refusal there is a ``RewardsError`` answered here as problem+json with its own
``code`` and ``detail`` in the caller's language (``Accept-Language``: ru or en; without it the
member's own language, else ru), its values in ``params`` (``price_changed`` shows the new price).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import select

from bonusbridge.errors import BonusBridgeError
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import Customer
from bonusbridge.rewards import cart, catalog, errors, invoice, listing
from bonusbridge.rewards import orders as shop_orders
from web_cabinet.api import ids
from web_cabinet.api import shop_schemas as s
from web_cabinet.api.auth import Principal, requires
from web_cabinet.api.deps import id_secret, settings_of
from web_cabinet.api.idempotency import IdempotencyKey, Write
from web_cabinet.api.problems import CATALOG, ApiProblem, problem_response, responses
from web_cabinet.api.routes import shared
from web_cabinet.rewards.common import payments_of

router = APIRouter(prefix="/shop/customers/{customer_id}", tags=["rewards shop"])

OrderPath = Annotated[str, Path(pattern=ids.pattern("reward_order"), description="Opaque order id.")]
CustomerPath = Annotated[
    str, Path(pattern=ids.pattern("customer"), description="Opaque customer id (the member).")
]
_HIDDEN_PARAMS = ("name", "why_ru", "why_en", "cash_ru", "cash_en", "state_ru", "state_en")
_ORDER_PROBLEMS = (
    "unknown_customer",
    "unknown_reward",
    "reward_not_visible",
    "reward_not_active",
    "out_of_stock",
    "member_limit_reached",
    "global_limit_reached",
    "not_eligible",
    "price_changed",
    "empty_cart",
    "cart_too_large",
    "no_card",
    "card_cannot_spend",
    "insufficient_balance",
    "idempotency_conflict",
)


# --- language and problems ----------------------------------------------------------------------------


def header_language(request: Request) -> str | None:
    """ru or en from ``Accept-Language`` (by quality, first wins a tie); None when it names neither."""
    best: tuple[float, int, str] | None = None
    for index, part in enumerate(request.headers.get("accept-language", "").split(",")[:20]):
        tag, _, rest = part.strip().partition(";")
        lang = tag.strip().lower()[:2]
        if lang not in ("ru", "en"):
            continue
        quality = 1.0
        if rest.strip().startswith("q="):
            try:
                quality = float(rest.strip()[2:7])
            except ValueError:
                quality = 0.0
        if quality > 0 and (best is None or (-quality, index) < (best[0], best[1])):
            best = (-quality, index, lang)
    return best[2] if best is not None else None


def _language(request: Request, member_locale: str | None = None) -> str:
    lang = header_language(request) or (member_locale if member_locale in ("ru", "en") else None) or "ru"
    request.state.shop_language = lang
    return lang


async def on_rewards_error(request: Request, exc: Exception) -> JSONResponse:
    """A refusal of the rewards domain: its code, its message in the caller's language, its values."""
    assert isinstance(exc, errors.RewardsError)
    lang = getattr(request.state, "shop_language", None) or header_language(request) or "ru"
    params = {key: str(value) for key, value in exc.params.items() if key not in _HIDDEN_PARAMS}
    reason = getattr(exc, "reason", None)
    if isinstance(exc, errors.NotEligible) and reason:
        params["reason"] = str(reason)
    code = exc.code if exc.code in CATALOG else "internal_error"
    detail = exc.user_message(lang) if code != "internal_error" else "the request could not be completed"
    return problem_response(request, code, detail, params=params or None, headers={"Content-Language": lang})


# --- the member ---------------------------------------------------------------------------------------


def _customer_row_id(request: Request, public_id: str) -> int:
    return shared.row_id(
        request, "customer", public_id, lambda: ApiProblem("unknown_customer", "no such customer")
    )


def _order_row_id(request: Request, public_id: str) -> int:
    return shared.row_id(request, "reward_order", public_id, errors.UnknownRewardOrder)


def _member(request: Request, book: LedgerBook, customer_id: int) -> tuple[str, str | None]:
    """The member's language for this call and their locale; ``unknown_customer`` when none."""
    locale = book.conn.execute(select(Customer.locale).where(Customer.id == customer_id)).first()
    if locale is None:
        raise ApiProblem("unknown_customer", "no such customer")
    return _language(request, locale[0]), locale[0]


def tier_order(request: Request, book: LedgerBook) -> tuple[str, ...]:
    """The program's tiers in force now, lowest first — as ``web_cabinet.rewards.common.tier_order``
    ranks them, but from the process's program cache (``shared.program``) instead of loading every
    version and campaign again on each call."""
    try:
        rules = shared.program(request, book.conn).version_at(book.now).rules
    except BonusBridgeError:  # no version in force yet: no tiers to rank
        return ()
    return tuple(tier.name for tier in rules.tiers)


def _facts(
    request: Request, book: LedgerBook, customer_id: int, lang: str
) -> tuple[int, catalog.MemberFacts]:
    card_id = shop_orders.paying_card(book.conn, customer_id)
    order = tier_order(request, book)
    return card_id, shop_orders.member_facts(book, customer_id, card_id, tier_order=order, language=lang)


def _item_out(item: catalog.CatalogItem) -> s.CatalogItemOut:
    return s.CatalogItemOut(
        reward_id=item.id, code=item.code, kind=item.kind.value, category=item.category, name=item.name,
        description=item.description, points_price=item.points_price, cash_price=item.cash_price,
        vat_rate=item.vat_rate, stock=item.stock, orderable=item.orderable,
        reason=item.reason,
        threshold=item.threshold, message=item.message,
    )  # fmt: skip


def _catalog_out(
    request: Request, public_id: str, facts: catalog.MemberFacts, items: list[s.CatalogItemOut]
) -> s.CatalogOut:
    lang = facts.language
    return s.CatalogOut(
        customer_id=public_id, language=lang,
        tier=facts.tier, available=facts.available, currency=settings_of(request).rewards_currency,
        items=items,
    )  # fmt: skip


# --- catalog ------------------------------------------------------------------------------------------


@router.get(
    "/catalog",
    response_model=s.CatalogOut,
    summary="The catalog as the member sees it",
    responses=responses("unknown_customer", "no_card"),
)
def list_catalog(
    request: Request,
    customer_id: CustomerPath,
    _: Annotated[Principal, Depends(requires("read"))],
) -> Response:
    """Every reward shown to the member now (visible, in their country and language), with
    `orderable` and, when not, the `reason`: `not_active`, `out_of_stock`, `below_tier`,
    `below_balance`, `below_lifetime`, `member_limit_reached` or `insufficient_balance` (price above
    the points available), its `threshold` and a `message`. A reward reserved to other countries or
    languages is not listed (`GET …/catalog/{reward_id}` says why).
    Words (names, reasons, a problem's `detail`) in the `Accept-Language` (ru or en).
    Scope `read`."""
    row_id = _customer_row_id(request, customer_id)

    def work(book: LedgerBook) -> BaseModel:
        lang, _ = _member(request, book, row_id)
        _, facts = _facts(request, book, row_id, lang)
        items = listing.for_member(book.conn, row_id, facts, book.now)
        return _catalog_out(request, customer_id, facts, [_item_out(item) for item in items])

    return _with_language(request, shared.read(request, work))


@router.get(
    "/catalog/{reward_id}",
    response_model=s.CatalogItemOut,
    summary="One reward and whether the member may order it",
    responses=responses("unknown_customer", "unknown_reward", "reward_not_visible", "no_card"),
)
def get_reward(
    request: Request,
    reward_id: Annotated[int, Path(ge=1, le=ids.MAX_ROW_ID)],
    customer_id: CustomerPath,
    _: Annotated[Principal, Depends(requires("read"))],
) -> Response:
    """Also a reward reserved to other countries or languages (`reason`: `country`, `language`); a
    reward no longer shown is `reward_not_visible`.
    Words (names, reasons, a problem's `detail`) in the `Accept-Language` (ru or en). Scope `read`."""
    row_id = _customer_row_id(request, customer_id)

    def work(book: LedgerBook) -> BaseModel:
        lang, _ = _member(request, book, row_id)
        _, facts = _facts(request, book, row_id, lang)
        return _item_out(listing.one_for_member(book.conn, row_id, reward_id, facts, book.now))

    return _with_language(request, shared.read(request, work))


def _with_language(request: Request, model: BaseModel) -> Response:
    answer = shared.serialized(model)
    answer.headers["Content-Language"] = getattr(request.state, "shop_language", "ru")
    return answer


# --- quote --------------------------------------------------------------------------------------------

_EXPLAIN = {
    "ru": "Корзина стоит {total} баллов, доступно {available}. Можно заказать на {points} баллов: {lines}.",
    "en": "The cart costs {total} points and {available} are available. "
    "This selection uses {points} points: {lines}.",
}
_LIMITED = {
    "ru": "Часть позиций нельзя заказать в таком количестве. Можно заказать на {points} баллов: {lines}.",
    "en": "Some lines cannot be ordered in these quantities. This selection uses {points} points: {lines}.",
}


def _quote_out(quote: cart.Quote, lang: str, currency: str) -> s.ShopQuoteOut:
    suggestion = None
    if quote.suggestion is not None and quote.suggested_points is not None:
        names = {line.reward_id: line.name for line in quote.lines}
        kept = [f"{names[rid]} × {qty}" for rid, qty in quote.suggestion.items() if qty > 0]
        words = _EXPLAIN if quote.over_budget else _LIMITED
        explanation = words[lang].format(
            total=quote.points_total, available=quote.available, points=quote.suggested_points,
            lines=", ".join(kept) or ("ничего" if lang == "ru" else "nothing"),
        )  # fmt: skip
        suggestion = s.SuggestionOut(
            lines=[s.SuggestionLineOut(reward_id=rid, quantity=qty) for rid, qty in quote.suggestion.items()],
            points_total=quote.suggested_points,
            balance_left=quote.available - quote.suggested_points,
            explanation=explanation,
        )
    lines = [
        s.QuoteLineOut(
            reward_id=line.reward_id,
            code=line.code,
            name=line.name,
            quantity=line.quantity,
            unit_points=line.unit_points,
            unit_cash=line.unit_cash,
            vat_rate=line.vat_rate,
            points=line.points,
            cash=line.cash,
            price_changed=line.price_changed,
            seen_points=line.seen_points,
            seen_cash=line.seen_cash,
            most=line.most,
            problem=line.problem,
        )
        for line in quote.lines
    ]
    orderable = not quote.over_budget and all(
        line.problem is None and not line.price_changed and line.most >= line.quantity for line in quote.lines
    )
    return s.ShopQuoteOut(
        lines=lines, points_total=quote.points_total, cash_total=quote.cash_total, vat_total=quote.vat_total,
        currency=currency, available=quote.available, balance_left=quote.balance_left,
        over_budget=quote.over_budget, orderable=orderable, suggestion=suggestion,
    )  # fmt: skip


@router.post(
    "/quote",
    response_model=s.ShopQuoteOut,
    summary="Price a cart for the member, with the exact suggestion when over budget",
    responses=responses(
        "unknown_customer", "unknown_reward", "no_card", "cart_too_large", "suggestion_too_large"
    ),
)
def quote_cart(
    request: Request,
    customer_id: CustomerPath,
    body: s.ShopQuoteIn,
    _: Annotated[Principal, Depends(requires("quote"))],
) -> Response:
    """The points total, the cash total with its VAT, and the balance left; each line with its price
    now (`price_changed` when it differs from the `points_price`/`cash_price` sent), the units the
    member may order (`most`) and, when not as asked, the `problem` in words. When the cart costs
    more points than the member has, or a line is limited, `suggestion` is the sub-cart (each line
    at most its quantity, stock left and per-member limit left) whose points come closest to the
    balance without exceeding it — exact, by a bounded subset-sum over whole cents, not greedy
    (carts of up to 20 lines of 10 units; beyond the exact bounds `suggestion_too_large`). Writes
    nothing.
    Words (names, reasons, a problem's `detail`) in the `Accept-Language` (ru or en). Scope `quote`."""
    row_id = _customer_row_id(request, customer_id)
    wanted = [(line.reward_id, line.quantity, line.points_price, line.cash_price) for line in body.lines]

    def work(book: LedgerBook) -> BaseModel:
        lang, _ = _member(request, book, row_id)
        _, facts = _facts(request, book, row_id, lang)
        quote = cart.quote_lines(book.conn, row_id, wanted, facts, book.now)
        return _quote_out(quote, lang, settings_of(request).rewards_currency)

    return _with_language(request, shared.read(request, work))


# --- orders -------------------------------------------------------------------------------------------


def _order_out(request: Request, placed: shop_orders.PlacedOrder, lang: str) -> s.ShopOrderOut:
    secret = id_secret(request)
    public_id = ids.encode("reward_order", placed.id, secret)
    customer = ids.encode("customer", placed.customer_id, secret)
    due = None
    if placed.state.value == "awaiting_payment" and placed.invoice_number:
        message = errors.UnpaidCashPart(cash=str(placed.cash_total), invoice=placed.invoice_number)
        due = s.PaymentDueOut(
            invoice_number=placed.invoice_number, amount=placed.cash_total, message=message.user_message(lang)
        )
    return s.ShopOrderOut(
        order_id=public_id,
        customer_id=customer,
        state=placed.state.value,
        points_total=placed.points_total,
        cash_total=placed.cash_total,
        vat_total=placed.vat_total,
        currency=placed.currency,
        invoice_number=placed.invoice_number,
        invoice_url=(
            f"/api/v1/shop/customers/{customer}/orders/{public_id}/invoice" if placed.invoice_number else None
        ),
        payment_due=due,
        address=placed.address,
        created_at=placed.created_at,
        paid_at=placed.paid_at,
        lines=[
            s.OrderLineOut(
                reward_id=line.reward_id,
                name=line.name,
                kind=line.kind.value,
                quantity=line.quantity,
                unit_points=line.unit_points,
                unit_cash=line.unit_cash,
                vat_rate=line.vat_rate,
                state=line.state.value,
                codes=list(line.codes),
                tracking=line.tracking,
            )
            for line in placed.lines
        ],
        replayed=placed.replayed,
    )


def _written(request: Request, answer: JSONResponse) -> JSONResponse:
    answer.headers["Content-Language"] = getattr(request.state, "shop_language", "ru")
    return answer


@router.post(
    "/orders",
    response_model=s.ShopOrderOut,
    status_code=201,
    summary="Place an order: points held, stock and codes reserved at once",
    responses={201: {"headers": shared.REPLAY_DOC}, **responses(*_ORDER_PROBLEMS)},
)
def place_order(
    request: Request,
    customer_id: CustomerPath,
    body: s.ShopOrderIn,
    idempotency_key: IdempotencyKey,
    client: Annotated[Principal, Depends(requires("checkout"))],
) -> JSONResponse:
    """In one transaction: the points held through the ledger's two-phase hold, each line's stock
    and global limit reserved, e-voucher codes claimed, the order's rows and e-mails; any refusal
    writes nothing. Each line states the `points_price` and `cash_price` the member agreed to: a
    price changed since is refused with `price_changed` (`params`: reward_id, points_price,
    cash_price — the new price), never charged. With a cash part an invoice number is taken (gap-
    free per year) and the points are captured once the cash part is paid (`payment_due` until
    then; `state` `awaiting_payment`). Two members buying the last unit at once: exactly one gets it,
    the other is refused `out_of_stock`.
    Words (names, reasons, a problem's `detail`) in the `Accept-Language` (ru or en). Scope `checkout`."""
    row_id = _customer_row_id(request, customer_id)
    settings = settings_of(request)
    wanted = [
        shop_orders.Wanted(line.reward_id, line.quantity, line.points_price, line.cash_price)
        for line in body.lines
    ]

    def work(book: LedgerBook, write: Write) -> tuple[int, BaseModel]:
        lang, _ = _member(request, book, row_id)
        placed = shop_orders.place(
            book, row_id, wanted, key=write.ledger_key, address=body.address, language=lang,
            tier_order=tier_order(request, book), currency=settings.rewards_currency,
            payments=payments_of(settings),
        )  # fmt: skip
        return 201, _order_out(request, placed, lang)

    fingerprinted = {"customer_id": customer_id, **body.model_dump(mode="json")}
    answer = shared.write(request, client, idempotency_key, "shop_order", fingerprinted, work)
    return _written(request, answer)


@router.get(
    "/orders",
    response_model=s.ShopOrdersOut,
    summary="The member's orders, newest first",
    responses=responses("unknown_customer"),
)
def list_orders(
    request: Request, customer_id: CustomerPath, _: Annotated[Principal, Depends(requires("read"))]
) -> Response:
    """The member's last 50 orders with their state.
    Words (names, reasons, a problem's `detail`) in the `Accept-Language` (ru or en). Scope `read`."""
    row_id = _customer_row_id(request, customer_id)

    def work(book: LedgerBook) -> BaseModel:
        lang, _ = _member(request, book, row_id)
        return s.ShopOrdersOut(
            orders=[_order_out(request, placed, lang) for placed in shop_orders.orders_of(book.conn, row_id)]
        )

    return _with_language(request, shared.read(request, work))


def _own_order(book: LedgerBook, order_id: int, customer_id: int) -> shop_orders.PlacedOrder:
    placed = shop_orders.read_order(book.conn, order_id)
    if placed.customer_id != customer_id:
        raise errors.UnknownRewardOrder()
    return placed


@router.get(
    "/orders/{order_id}",
    response_model=s.ShopOrderOut,
    summary="An order's state",
    responses=responses("unknown_customer", "unknown_reward_order"),
)
def get_order(
    request: Request,
    order_id: OrderPath,
    customer_id: CustomerPath,
    _: Annotated[Principal, Depends(requires("read"))],
) -> Response:
    """awaiting_payment, paid, fulfilled or cancelled, each line's state (processed, shipped with
    its tracking number) and, once paid, its codes. Another member's order is `unknown_reward_order`.

    Words (names, reasons, a problem's `detail`) in the `Accept-Language` (ru or en). Scope `read`."""
    row_id = _customer_row_id(request, customer_id)
    order_row = _order_row_id(request, order_id)

    def work(book: LedgerBook) -> BaseModel:
        lang, _ = _member(request, book, row_id)
        return _order_out(request, _own_order(book, order_row, row_id), lang)

    return _with_language(request, shared.read(request, work))


@router.post(
    "/orders/{order_id}/cancel",
    response_model=s.ShopOrderOut,
    summary="Cancel an order before fulfilment",
    responses={
        200: {"headers": shared.REPLAY_DOC},
        **responses(
            "unknown_customer", "unknown_reward_order", "order_not_cancellable", "idempotency_conflict"
        ),
    },
)
def cancel_order(
    request: Request,
    customer_id: CustomerPath,
    order_id: OrderPath,
    body: s.CancelIn,
    idempotency_key: IdempotencyKey,
    client: Annotated[Principal, Depends(requires("checkout"))],
) -> JSONResponse:
    """The hold voided (or the captured points refunded with their expiry dates), stock and limits
    restored, unissued codes back in the pool. Refused once a supplier processed a line, or when the
    paid order's e-voucher codes were shown (`order_not_cancellable`). Cancelling a cancelled order
    answers it again.
    Words (names, reasons, a problem's `detail`) in the `Accept-Language` (ru or en). Scope `checkout`."""
    row_id = _customer_row_id(request, customer_id)
    order_row = _order_row_id(request, order_id)

    def work(book: LedgerBook, write: Write) -> tuple[int, BaseModel]:
        lang, _ = _member(request, book, row_id)
        placed = shop_orders.cancel(
            book, order_row, customer_id=row_id, reason=body.reason or "cancelled by the member",
            actor=f"api:{write.client.name}",
        )  # fmt: skip
        return 200, _order_out(request, placed, lang)

    fingerprinted = {"customer_id": customer_id, "order_id": order_id, **body.model_dump(mode="json")}
    return _written(
        request, shared.write(request, client, idempotency_key, "shop_cancel", fingerprinted, work)
    )


# --- invoice ------------------------------------------------------------------------------------------


class _Pdf(BaseModel):
    name: str
    content: bytes


@router.get(
    "/orders/{order_id}/invoice",
    response_class=Response,
    summary="The invoice of an order's cash part, as PDF",
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        **responses("unknown_customer", "unknown_reward_order", "no_invoice"),
    },
)
def get_invoice(
    request: Request,
    order_id: OrderPath,
    customer_id: CustomerPath,
    _: Annotated[Principal, Depends(requires("read"))],
) -> Response:
    """Its gap-free number of the year, seller and buyer, the lines with their VAT, the VAT per rate
    and the totals; in the caller's language. An order paid with points only has none
    (`no_invoice`). Scope `read`."""
    row_id = _customer_row_id(request, customer_id)
    order_row = _order_row_id(request, order_id)
    settings = settings_of(request)

    def work(book: LedgerBook) -> BaseModel:
        lang, _ = _member(request, book, row_id)
        name, content = invoice.invoice_pdf(
            book.conn, order_row, invoice.seller_of(settings), customer_id=row_id, language=lang,
            font_path=settings.invoice_font_path,
        )  # fmt: skip
        return _Pdf(name=name, content=content)

    pdf = shared.read(request, work)
    assert isinstance(pdf, _Pdf)
    return Response(
        pdf.content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{pdf.name}"',
            "Content-Language": getattr(request.state, "shop_language", "ru"),
            "Cache-Control": "private, no-store",
        },
    )
