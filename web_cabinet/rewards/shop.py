"""The rewards shop in the member's cabinet (issue 21 items 2-3): the catalog the member may see
(gated rewards listed with what is missing), the cart (add, change quantity, remove; points, cash
with VAT, the balance left, and — over budget — the exact suggestion, applied with one click),
checkout (the delivery address prefilled from the profile; the points held through the domain) and
the member's orders with their state, cancellable before fulfilment.

Every rule is the domain's (``bonusbridge.rewards``): these pages only turn HTTP into its calls and
its typed refusals into a message in the page's language. A checkout form carries a random id, the
order's idempotency key, so a second submission shows the first order and holds nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from fastapi import APIRouter, Depends
from sqlalchemy import Connection, Table, select
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge import errors as hub_errors
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import Customer, Movement
from bonusbridge.rewards import cart, catalog, errors, images, invoice, orders
from bonusbridge.rewards.models import LineState, OrderState, RewardKind
from web_cabinet.context import PageNotFound, cabinet, customer_id, lang_of
from web_cabinet.rendering import new_form_id, render, see_other, valid_form_id
from web_cabinet.rewards.common import payments_of, tier_order
from web_cabinet.security import verify_csrf

router = APIRouter(prefix="/shop", dependencies=[Depends(verify_csrf)], include_in_schema=False)
customers = cast(Table, Customer.__table__)
movements = cast(Table, Movement.__table__)

TEXTS: dict[str, dict[str, str]] = {
    "shop": {"ru": "Подарки за баллы", "en": "Rewards shop"},
    "cart": {"ru": "Корзина", "en": "Cart"},
    "my_orders": {"ru": "Мои заказы", "en": "My orders"},
    "available": {"ru": "Можно потратить", "en": "Available to spend"},
    "points_word": {"ru": "баллов", "en": "points"},
    "add": {"ru": "В корзину", "en": "Add to cart"},
    "in_cart": {"ru": "В корзине: {n}", "en": "In the cart: {n}"},
    "plus_cash": {"ru": "+ {cash} ₽ (в т. ч. НДС {vat}%)", "en": "+ {cash} RUB (incl. VAT {vat}%)"},
    "left_units": {"ru": "Осталось: {n} шт.", "en": "{n} left"},
    "all_categories": {"ru": "Все", "en": "All"},
    "empty_catalog": {"ru": "Сейчас в каталоге ничего нет.", "en": "The catalog is empty for now."},
    "kind_physical": {"ru": "Подарок с доставкой", "en": "Shipped gift"},
    "kind_e_voucher": {"ru": "Электронный сертификат", "en": "E-voucher"},
    "kind_coupon": {"ru": "Купон на скидку", "en": "Discount coupon"},
    "empty_cart": {"ru": "Корзина пуста.", "en": "Your cart is empty."},
    "to_catalog": {"ru": "В каталог", "en": "Back to the catalog"},
    "quantity": {"ru": "Количество", "en": "Quantity"},
    "change_quantity": {"ru": "Изменить", "en": "Update"},
    "remove": {"ru": "Убрать", "en": "Remove"},
    "points_total": {"ru": "Баллов к списанию", "en": "Points to spend"},
    "cash_total": {"ru": "Доплата деньгами", "en": "Cash to pay"},
    "order_points": {"ru": "Баллов за заказ", "en": "Points for the order"},
    "order_cash": {"ru": "Доплата", "en": "Cash part"},
    "vat_in": {"ru": "в т. ч. НДС", "en": "incl. VAT"},
    "balance_left": {"ru": "Останется баллов", "en": "Points left after"},
    "over_budget": {
        "ru": "Корзина стоит {total} баллов, а потратить можно {available}: не хватает {missing}.",
        "en": "The cart costs {total} points and you can spend {available}: {missing} short.",
    },
    "limited": {
        "ru": "Часть позиций нельзя заказать в таком количестве.",
        "en": "Some lines cannot be ordered in these quantities.",
    },
    "suggestion": {
        "ru": "Точный подбор: из вашей корзины больше всего баллов в пределах доступных "
        "({available}) использует такой набор — {points} баллов, останется {left}:",
        "en": "Exact suggestion: of your cart, this selection uses the most points within what you "
        "can spend ({available}) — {points} points, {left} left:",
    },
    "suggestion_none": {
        "ru": "Ни одна позиция корзины не помещается в доступные баллы.",
        "en": "No line of the cart fits within the points you can spend.",
    },
    "keep": {"ru": "оставить {n} шт.", "en": "keep {n}"},
    "drop": {"ru": "убрать", "en": "remove"},
    "apply_suggestion": {"ru": "Оставить этот набор", "en": "Keep this selection"},
    "suggestion_applied": {
        "ru": "Корзина изменена по подбору: {points} баллов.",
        "en": "The cart now holds the suggested selection: {points} points.",
    },
    "price_changed": {
        "ru": "Цена изменилась: было {old}, теперь {new}.",
        "en": "The price changed: was {old}, now {new}.",
    },
    "accept_prices": {"ru": "Принять новые цены", "en": "Accept the new prices"},
    "prices_accepted": {"ru": "Цены в корзине обновлены.", "en": "The cart's prices are updated."},
    "checkout": {"ru": "Оформить заказ", "en": "Check out"},
    "address": {"ru": "Адрес доставки", "en": "Delivery address"},
    "address_hint": {
        "ru": "Подставлен из анкеты — уточните улицу, дом и квартиру.",
        "en": "Prefilled from your profile — add the street, building and flat.",
    },
    "address_needed": {
        "ru": "Укажите адрес доставки: в заказе есть подарки с доставкой.",
        "en": "Give a delivery address: the order has shipped gifts.",
    },
    "confirm_order": {"ru": "Подтвердить и списать баллы", "en": "Confirm and spend the points"},
    "order_placed": {"ru": "Заказ № {id} оформлен.", "en": "Order no. {id} is placed."},
    "order": {"ru": "Заказ № {id}", "en": "Order no. {id}"},
    "no_orders": {"ru": "Заказов пока нет.", "en": "No orders yet."},
    "state_awaiting_payment": {"ru": "Ждёт оплаты доплаты", "en": "Awaiting the cash payment"},
    "state_paid": {"ru": "Передан поставщику", "en": "With the supplier"},
    "state_fulfilled": {"ru": "Выполнен", "en": "Fulfilled"},
    "state_cancelled": {"ru": "Отменён", "en": "Cancelled"},
    "line_open": {"ru": "готовится", "en": "being prepared"},
    "line_processed": {"ru": "обработан поставщиком", "en": "processed by the supplier"},
    "line_shipped": {"ru": "отправлен, трек {tracking}", "en": "shipped, tracking {tracking}"},
    "line_cancelled": {"ru": "отменён", "en": "cancelled"},
    "codes": {"ru": "Коды", "en": "Codes"},
    "invoice": {"ru": "Счёт {number}", "en": "Invoice {number}"},
    "invoice_pdf": {"ru": "Счёт {number} (PDF)", "en": "Invoice {number} (PDF)"},
    "cashback": {"ru": "Кешбэк за заказ: +{points} баллов", "en": "Cashback for the order: +{points} points"},
    "cancel": {"ru": "Отменить заказ", "en": "Cancel the order"},
    "cancelled": {
        "ru": "Заказ № {id} отменён, баллы возвращены.",
        "en": "Order no. {id} is cancelled, the points are back.",
    },
    "placed_at": {"ru": "Оформлен", "en": "Placed"},
    "details": {"ru": "Подробнее", "en": "Details"},
    "no_card": {
        "ru": "Чтобы заказывать подарки, нужна активная карта.",
        "en": "An active card is needed to order rewards.",
    },
    "error": {"ru": "Не получилось: {text}", "en": "That did not work: {text}"},
    "bad_quantity": {
        "ru": "Количество — целое число от 0 до {n}.",
        "en": "The quantity is a whole number from 0 to {n}.",
    },
    "form_used": {
        "ru": "Эта форма уже отправлена: вот ваш заказ.",
        "en": "This form was already sent: here is your order.",
    },
}


def texts(lang: str) -> dict[str, str]:
    return {key: value[lang] for key, value in TEXTS.items()}


@dataclass(frozen=True)
class Member:
    customer_id: int
    card_id: int
    facts: catalog.MemberFacts


def _member(conn: Connection, request: Request, cid: int) -> Member | None:
    """The member's paying card and gating facts, read (a balance read writes nothing)."""
    parts = cabinet(request)
    now = parts.clock()
    book = LedgerBook(conn, now=now, hold_ttl=parts.settings.hold_ttl)
    try:
        card_id = orders.paying_card(conn, cid)
    except errors.NoCardToPay:
        return None
    facts = orders.member_facts(
        book, cid, card_id, tier_order=tier_order(conn, parts.settings, now), language=lang_of(request)
    )
    return Member(cid, card_id, facts)


def _no_card(request: Request) -> Response:
    return render(request, "shop/no_card.html", {"x": texts(lang_of(request))}, status=409)


def _note(request: Request) -> str | None:
    """A one-shot message the last POST left (``shop_note`` in the session)."""
    session = request.state.session
    text = session.pop("shop_note", None)
    return text if isinstance(text, str) else None


def _leave_note(request: Request, text: str) -> None:
    request.state.session["shop_note"] = text[:500]


# --- catalog --------------------------------------------------------------------------------------


@router.get("")
def catalog_page(request: Request, category: str = "", cid: int = Depends(customer_id)) -> Response:
    parts = cabinet(request)
    lang = lang_of(request)
    with parts.hub.read_engine.connect() as conn:
        member = _member(conn, request, cid)
        if member is None:
            return _no_card(request)
        now = parts.clock()
        every = catalog.catalog(conn, member.facts, now)
        in_cart = {
            row.reward_id: row.quantity
            for row in conn.execute(select(cart.cart_items).where(cart.cart_items.c.customer_id == cid))
        }
        categories = sorted({item.category for item in every})
        shown = [item for item in every if not category or item.category == category]
        pictures = images.images_of(conn, [item.id for item in shown])
    return render(
        request,
        "shop/catalog.html",
        {
            "x": texts(lang),
            "items": shown,
            "pictures": pictures,
            "categories": categories,
            "category": category if category in categories else "",
            "available": member.facts.available,
            "in_cart": in_cart,
            "cart_count": sum(in_cart.values()),
            "note": _note(request),
        },
    )


def _quantity(raw: Any) -> int | None:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text.isdigit() or len(text) > 3 or int(text) > cart.MAX_LINE_QUANTITY:
        return None
    return int(text)


def _reward_id(raw: Any) -> int | None:
    text = raw.strip() if isinstance(raw, str) else ""
    return int(text) if text.isdigit() and len(text) < 10 else None


def _refused(request: Request, exc: errors.RewardsError) -> str:
    return TEXTS["error"][lang_of(request)].format(text=exc.user_message(lang_of(request)))


@router.post("/cart/add")
async def add_to_cart(request: Request, cid: int = Depends(customer_id)) -> Response:
    """Adds one unit (or one more) of a reward; a gated, hidden or unknown one is refused."""
    form = await request.form()
    reward_id = _reward_id(form.get("reward_id"))
    back = "/shop/cart" if form.get("next") == "cart" else "/shop"
    parts = cabinet(request)
    lang = lang_of(request)
    if reward_id is None:
        _leave_note(request, _refused(request, errors.UnknownReward()))
        return see_other(back)
    try:
        with parts.hub.engine.begin() as conn:
            member = _member(conn, request, cid)
            if member is None:
                return _no_card(request)
            row = conn.execute(select(catalog.rewards).where(catalog.rewards.c.id == reward_id)).first()
            if row is None or not catalog.shown_to(row, member.facts):
                raise errors.UnknownReward()
            item = catalog.item_of(row, member.facts, parts.clock())
            if not catalog.visible(row, parts.clock()):
                raise errors.RewardNotVisible(name=item.name)
            if not item.orderable:
                _leave_note(request, TEXTS["error"][lang].format(text=item.message or ""))
                return see_other(back)
            have = conn.execute(
                select(cart.cart_items.c.quantity).where(
                    cart.cart_items.c.customer_id == cid, cart.cart_items.c.reward_id == reward_id
                )
            ).scalar()
            cart.set_quantity(conn, cid, reward_id, int(have or 0) + 1, now=parts.clock())
    except errors.RewardsError as exc:
        _leave_note(request, _refused(request, exc))
        return see_other(back)
    _leave_note(request, TEXTS["in_cart"][lang].format(n=int(have or 0) + 1) + f" — {item.name}")
    return see_other(back)


@router.post("/cart/set")
async def set_quantity(request: Request, cid: int = Depends(customer_id)) -> Response:
    """Changes a line's quantity; 0 (or the remove button) removes it."""
    form = await request.form()
    reward_id = _reward_id(form.get("reward_id"))
    quantity = 0 if form.get("remove") else _quantity(form.get("quantity"))
    parts = cabinet(request)
    if reward_id is None or quantity is None:
        _leave_note(request, TEXTS["bad_quantity"][lang_of(request)].format(n=cart.MAX_LINE_QUANTITY))
        return see_other("/shop/cart")
    try:
        with parts.hub.engine.begin() as conn:
            cart.set_quantity(conn, cid, reward_id, quantity, now=parts.clock())
    except errors.RewardsError as exc:
        _leave_note(request, _refused(request, exc))
    return see_other("/shop/cart")


@router.post("/cart/suggestion")
async def apply_suggestion(request: Request, cid: int = Depends(customer_id)) -> Response:
    """Applies the exact suggestion, computed again now (a balance or stock that moved since the
    page was shown is taken into account, never an outdated selection)."""
    parts = cabinet(request)
    lang = lang_of(request)
    try:
        with parts.hub.engine.begin() as conn:
            member = _member(conn, request, cid)
            if member is None:
                return _no_card(request)
            quote = cart.cart_quote(conn, cid, member.facts, parts.clock())
            if quote.suggestion is not None:
                cart.apply_suggestion(conn, cid, quote.suggestion, now=parts.clock())
                points = quote.suggested_points or Decimal("0.00")
                _leave_note(
                    request,
                    TEXTS["suggestion_applied"][lang].format(points=_fmt_points(points, lang)),
                )
    except errors.RewardsError as exc:
        _leave_note(request, _refused(request, exc))
    return see_other("/shop/cart")


@router.post("/cart/accept-prices")
async def accept_prices(request: Request, cid: int = Depends(customer_id)) -> Response:
    parts = cabinet(request)
    with parts.hub.engine.begin() as conn:
        cart.accept_prices(conn, cid)
    _leave_note(request, TEXTS["prices_accepted"][lang_of(request)])
    return see_other("/shop/cart")


def _fmt_points(value: Decimal, lang: str) -> str:
    from web_cabinet import formats

    return formats.points(value, lang)


@router.get("/cart")
def cart_page(request: Request, cid: int = Depends(customer_id)) -> Response:
    parts = cabinet(request)
    with parts.hub.read_engine.connect() as conn:
        member = _member(conn, request, cid)
        if member is None:
            return _no_card(request)
        try:
            quote: cart.Quote | None = cart.cart_quote(conn, cid, member.facts, parts.clock())
            problem = None
        except errors.RewardsError as exc:
            quote, problem = None, exc.user_message(lang_of(request))
    return _cart_view(request, quote, problem=problem)


def _cart_view(
    request: Request,
    quote: cart.Quote | None,
    *,
    problem: str | None = None,
    error: str | None = None,
    address: str = "",
    status: int = 200,
) -> Response:
    lang = lang_of(request)
    suggestion = None
    if quote is not None and quote.suggestion is not None:
        suggestion = [
            {"name": line.name, "keep": quote.suggestion.get(line.reward_id, 0), "had": line.quantity}
            for line in quote.lines
        ]
    return render(
        request,
        "shop/cart.html",
        {
            "x": texts(lang),
            "quote": quote,
            "problem": problem,
            "error": error,
            "suggestion": suggestion,
            "suggestion_fits": bool(suggestion and any(row["keep"] for row in suggestion)),
            "price_changed": bool(quote and any(line.price_changed for line in quote.lines)),
            "vat_lines": [] if quote is None else quote.lines,
            "max_quantity": cart.MAX_LINE_QUANTITY,
            "note": _note(request),
            "address": address,
            "form_id": new_form_id(),
        },
        status=status,
    )


# --- checkout --------------------------------------------------------------------------------------


def profile_address(conn: Connection, cid: int) -> str:
    """What the profile knows of a delivery address: the name and the city."""
    c = customers.c
    row = conn.execute(select(c.last_name, c.first_name, c.middle_name, c.city).where(c.id == cid)).first()
    if row is None:
        return ""
    name = " ".join(part for part in (row.last_name, row.first_name, row.middle_name) if part)
    return "\n".join(part for part in (name, row.city or "") if part)


@router.get("/checkout")
def checkout_page(request: Request, cid: int = Depends(customer_id)) -> Response:
    parts = cabinet(request)
    with parts.hub.read_engine.connect() as conn:
        member = _member(conn, request, cid)
        if member is None:
            return _no_card(request)
        try:
            quote = cart.cart_quote(conn, cid, member.facts, parts.clock())
        except errors.RewardsError as exc:
            return _cart_view(request, None, problem=exc.user_message(lang_of(request)))
        address = profile_address(conn, cid)
        needs_address = _ships(conn, [line.reward_id for line in quote.lines])
    if not quote.lines:
        return see_other("/shop/cart")
    return render(
        request,
        "shop/checkout.html",
        {
            "x": texts(lang_of(request)),
            "quote": quote,
            "address": address,
            "form_id": new_form_id(),
            "needs_address": needs_address,
            "blocked": quote.over_budget or any(line.problem or line.price_changed for line in quote.lines),
        },
    )


def _ships(conn: Connection, reward_ids: list[int]) -> bool:
    """Whether any of the rewards is a physical gift (the order then needs a delivery address)."""
    if not reward_ids:
        return False
    kinds = conn.execute(select(catalog.rewards.c.kind).where(catalog.rewards.c.id.in_(reward_ids))).scalars()
    return any(kind is RewardKind.PHYSICAL for kind in kinds)


@router.post("/checkout")
async def checkout(request: Request, cid: int = Depends(customer_id)) -> Response:
    """Places the order of the cart's lines at the prices the member saw (a changed price is
    refused by the domain and shown, never charged silently) and empties the cart, in one
    transaction: a refusal leaves the cart, the points, the stock and the codes as they were."""
    form = await request.form()
    parts = cabinet(request)
    lang = lang_of(request)
    form_id = form.get("form_id")
    raw_address = form.get("address")
    address = raw_address.strip()[:2000] if isinstance(raw_address, str) else ""
    if not isinstance(form_id, str) or not valid_form_id(form_id):
        return see_other("/shop/cart")
    key = f"cabinet:{cid}:{form_id}"
    settings = parts.settings

    def place(book: LedgerBook) -> orders.PlacedOrder:
        conn = book.conn
        known = conn.execute(select(orders.orders.c.id).where(orders.orders.c.key == key)).scalar()
        if known is not None:  # the same form again: its order, nothing more held
            return orders.read_order(conn, int(known))
        rows = conn.execute(
            select(cart.cart_items)
            .where(cart.cart_items.c.customer_id == cid)
            .order_by(cart.cart_items.c.added_at, cart.cart_items.c.reward_id)
        ).all()
        if not address and _ships(conn, [row.reward_id for row in rows]):
            raise _AddressNeeded
        wanted = [
            orders.Wanted(row.reward_id, row.quantity, row.seen_points, row.seen_cash or Decimal("0.00"))
            for row in rows
        ]
        placed = orders.place(
            book, cid, wanted, key=key, address=address, language=lang,
            tier_order=tier_order(conn, settings, book.now), currency=settings.rewards_currency,
            payments=payments_of(settings),
        )  # fmt: skip
        cart.clear(conn, cid)
        return placed

    try:
        placed = parts.hub.ledger.run(place)
    except (errors.RewardsError, _AddressNeeded, hub_errors.IdempotencyConflict) as exc:
        with parts.hub.read_engine.connect() as conn:
            member = _member(conn, request, cid)
            quote = None if member is None else cart.cart_quote(conn, cid, member.facts, parts.clock())
        if isinstance(exc, _AddressNeeded):
            message = TEXTS["address_needed"][lang]
        elif isinstance(exc, errors.RewardsError):
            message = exc.user_message(lang)
        else:
            message = TEXTS["form_used"][lang]
        status = exc.http_status if isinstance(exc, errors.RewardsError) else 409
        return _cart_view(request, quote, error=message, address=address, status=status)
    _leave_note(request, TEXTS["order_placed"][lang].format(id=placed.id))
    return see_other(f"/shop/orders/{placed.id}")


class _AddressNeeded(Exception):
    pass


# --- orders ----------------------------------------------------------------------------------------


def _cashback_points(conn: Connection, order: orders.PlacedOrder) -> Decimal | None:
    if order.cashback_movement_id is None:
        return None
    amount = conn.execute(
        select(movements.c.amount).where(movements.c.id == order.cashback_movement_id)
    ).scalar()
    return None if amount is None else Decimal(amount)


def cancellable(order: orders.PlacedOrder) -> bool:
    """Shown as a button only when the domain would accept it (it decides again on the POST)."""
    if order.state not in (OrderState.AWAITING_PAYMENT, OrderState.PAID):
        return False
    if any(line.state in (LineState.PROCESSED, LineState.SHIPPED) for line in order.lines):
        return False
    return not (
        order.state is OrderState.PAID and any(line.kind is RewardKind.E_VOUCHER for line in order.lines)
    )


def _order_view(conn: Connection, order: orders.PlacedOrder, lang: str) -> dict[str, Any]:
    due = None
    if order.state is OrderState.AWAITING_PAYMENT and order.invoice_number:
        due = errors.UnpaidCashPart(
            cash=f"{order.cash_total} {order.currency}", invoice=order.invoice_number
        ).user_message(lang)
    return {
        "order": order,
        "cashback": _cashback_points(conn, order),
        "cancellable": cancellable(order),
        "payment_due": due,
    }


@router.get("/orders")
def orders_page(request: Request, cid: int = Depends(customer_id)) -> Response:
    parts = cabinet(request)
    with parts.hub.read_engine.connect() as conn:
        found = [_order_view(conn, order, lang_of(request)) for order in orders.orders_of(conn, cid)]
    return render(
        request,
        "shop/orders.html",
        {"x": texts(lang_of(request)), "orders": found, "note": _note(request), "one": False},
    )


@router.get("/orders/{order_id}")
def order_page(request: Request, order_id: int, cid: int = Depends(customer_id)) -> Response:
    parts = cabinet(request)
    with parts.hub.read_engine.connect() as conn:
        try:
            order = orders.read_order(conn, order_id)
        except errors.UnknownRewardOrder:
            order = None
        if order is None or order.customer_id != cid:
            raise PageNotFound
        view = _order_view(conn, order, lang_of(request))
    return render(
        request,
        "shop/orders.html",
        {"x": texts(lang_of(request)), "orders": [view], "note": _note(request), "one": True},
    )


@router.get("/orders/{order_id}/invoice.pdf")
def invoice_pdf(request: Request, order_id: int, cid: int = Depends(customer_id)) -> Response:
    """The order's invoice (``bonusbridge.rewards.invoice``), only the member's own; none for an
    order paid with points only (404, as for another member's order)."""
    parts = cabinet(request)
    settings = parts.settings
    with parts.hub.read_engine.connect() as conn:
        try:
            name, content = invoice.invoice_pdf(
                conn, order_id, invoice.seller_of(settings), customer_id=cid, language=lang_of(request),
                font_path=settings.invoice_font_path,
            )  # fmt: skip
        except errors.RewardsError:
            raise PageNotFound from None
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private, no-store"},
    )


@router.post("/orders/{order_id}/cancel")
def cancel_order(request: Request, order_id: int, cid: int = Depends(customer_id)) -> Response:
    parts = cabinet(request)
    lang = lang_of(request)
    try:
        parts.hub.ledger.run(
            lambda book: orders.cancel(
                book, order_id, customer_id=cid, reason="cancelled by the member", actor=f"customer:{cid}"
            )
        )
    except errors.UnknownRewardOrder:
        raise PageNotFound from None
    except errors.RewardsError as exc:
        _leave_note(request, _refused(request, exc))
        return see_other(f"/shop/orders/{order_id}")
    _leave_note(request, TEXTS["cancelled"][lang].format(id=order_id))
    return see_other(f"/shop/orders/{order_id}")
