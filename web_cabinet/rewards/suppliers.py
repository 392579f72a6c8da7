"""Supplier pages (issue 21 item 4): a supplier logs in by the signed, expiring link each order's
e-mail carries (no password), sees their open orders — paid orders with a line of theirs still to
fulfil — opens one, and marks their lines processed (optionally shipped with a tracking number);
the order then leaves their feed, and the domain fulfils the order (and credits the member's tier
cashback) once every supplier's lines are done.

A supplier sees only their own orders: every read and write is filtered by the supplier of the
session, and another supplier's order id answers 404 like an id that does not exist. The login
rotates the session (a cookie planted before it is worthless after), and the link's token is never
logged (``common.RedactLoginTokens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from fastapi import APIRouter, Depends
from sqlalchemy import Connection, Table, and_, select
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import Customer
from bonusbridge.rewards import catalog, errors, orders
from bonusbridge.rewards.models import LineState, OrderState
from web_cabinet.context import PageNotFound, cabinet, lang_of
from web_cabinet.rendering import render, see_other
from web_cabinet.rewards.common import cashback_percents, supplier_of_token
from web_cabinet.security import verify_csrf

router = APIRouter(prefix="/suppliers", dependencies=[Depends(verify_csrf)], include_in_schema=False)
customers = cast(Table, Customer.__table__)

TEXTS: dict[str, dict[str, str]] = {
    "title": {"ru": "Заказы поставщика", "en": "Supplier's orders"},
    "open": {"ru": "Заказы к выполнению", "en": "Orders to fulfil"},
    "none": {"ru": "Открытых заказов нет.", "en": "No open orders."},
    "order": {"ru": "Заказ № {id}", "en": "Order no. {id}"},
    "placed": {"ru": "Оформлен", "en": "Placed"},
    "paid": {"ru": "Оплачен", "en": "Paid"},
    "address": {"ru": "Адрес доставки", "en": "Delivery address"},
    "recipient": {"ru": "Получатель", "en": "Recipient"},
    "phone": {"ru": "Телефон", "en": "Phone"},
    "lines_title": {"ru": "Позиции", "en": "Items"},
    "tracking": {"ru": "Трек-номер (если отправлено)", "en": "Tracking number (if shipped)"},
    "mark": {"ru": "Отметить обработанным", "en": "Mark processed"},
    "processed": {
        "ru": "Заказ № {id} отмечен обработанным.",
        "en": "Order no. {id} is marked processed.",
    },
    "shipped": {
        "ru": "Заказ № {id} отмечен отправленным, трек {tracking}.",
        "en": "Order no. {id} is marked shipped, tracking {tracking}.",
    },
    "done_lines": {"ru": "Ваши позиции уже обработаны.", "en": "Your lines are already processed."},
    "back": {"ru": "К списку заказов", "en": "Back to the orders"},
    "logout": {"ru": "Выйти", "en": "Log out"},
    "link_problem": {"ru": "Вход по ссылке", "en": "Log in by link"},
    "link_hint": {
        "ru": "Новая ссылка приходит в письме с каждым новым заказом; если заказов нет, "
        "обратитесь к менеджеру программы.",
        "en": "A new link comes with the e-mail of each new order; if there is none, "
        "ask the program's manager.",
    },
    "login_needed": {
        "ru": "Откройте ссылку из письма о заказе, чтобы войти.",
        "en": "Open the link in an order's e-mail to log in.",
    },
    "logged_out": {"ru": "Вы вышли.", "en": "You are logged out."},
    "line_open": {"ru": "к выполнению", "en": "to fulfil"},
    "line_processed": {"ru": "обработан", "en": "processed"},
    "line_shipped": {"ru": "отправлен", "en": "shipped"},
    "line_cancelled": {"ru": "отменён", "en": "cancelled"},
    "error": {"ru": "Не получилось: {text}", "en": "That did not work: {text}"},
}


def texts(lang: str) -> dict[str, str]:
    return {key: value[lang] for key, value in TEXTS.items()}


class SupplierLoginRequired(Exception):
    """A supplier page without a supplier's session: the link from the e-mail is the way in."""


def supplier_id(request: Request) -> int:
    """FastAPI dependency: the logged-in supplier's id."""
    found = request.state.session.get("supplier_id")
    if not isinstance(found, int) or isinstance(found, bool):
        raise SupplierLoginRequired
    return found


def _supplier_row(conn: Connection, sid: int) -> Any:
    return conn.execute(select(catalog.suppliers).where(catalog.suppliers.c.id == sid)).first()


def _note(request: Request) -> str | None:
    text = request.state.session.pop("supplier_note", None)
    return text if isinstance(text, str) else None


def _link_page(request: Request, message: str, status: int) -> Response:
    return render(
        request,
        "suppliers/link.html",
        {"x": texts(lang_of(request)), "message": message},
        status=status,
    )


@router.get("/login")
def login(request: Request, token: str = "") -> Response:
    """Opens the e-mailed link: a valid, unexpired token of an existing supplier logs them in."""
    parts = cabinet(request)
    lang = lang_of(request)
    try:
        sid = supplier_of_token(parts.settings, token, parts.clock)
        with parts.hub.read_engine.connect() as conn:
            if _supplier_row(conn, sid) is None:
                raise errors.LinkExpired()
    except errors.LinkExpired as exc:
        return _link_page(request, exc.user_message(lang), exc.http_status)
    session = request.state.session
    session.rotate()
    session["supplier_id"] = sid
    return see_other("/suppliers/orders")


@router.post("/logout")
def logout(request: Request) -> Response:
    session = request.state.session
    session.rotate()
    return _link_page(request, TEXTS["logged_out"][lang_of(request)], 200)


def _open_orders(conn: Connection, sid: int) -> Sequence[Any]:
    lines = orders.lines_table
    table = orders.orders
    return conn.execute(
        select(table.c.id, table.c.created_at, table.c.paid_at)
        .where(
            table.c.state == OrderState.PAID,
            select(lines.c.id)
            .where(
                and_(
                    lines.c.order_id == table.c.id,
                    lines.c.supplier_id == sid,
                    lines.c.state == LineState.OPEN,
                )
            )
            .exists(),
        )
        .order_by(table.c.paid_at, table.c.id)
    ).all()


@router.get("/orders")
def feed(request: Request, sid: int = Depends(supplier_id)) -> Response:
    parts = cabinet(request)
    with parts.hub.read_engine.connect() as conn:
        supplier = _supplier_row(conn, sid)
        if supplier is None:
            raise SupplierLoginRequired
        found = []
        for row in _open_orders(conn, sid):
            placed = orders.read_order(conn, row.id)
            mine = [line for line in placed.lines if line.supplier_id == sid]
            found.append({"order": placed, "lines": mine})
    return render(
        request,
        "suppliers/orders.html",
        {"x": texts(lang_of(request)), "supplier": supplier, "orders": found, "note": _note(request)},
    )


def _mine(conn: Connection, sid: int, order_id: int) -> orders.PlacedOrder:
    """The order, only if it has a line of this supplier (else 404, as for an unknown id)."""
    try:
        placed = orders.read_order(conn, order_id)
    except errors.UnknownRewardOrder:
        raise PageNotFound from None
    if not any(line.supplier_id == sid for line in placed.lines):
        raise PageNotFound
    return placed


@router.get("/orders/{order_id}")
def order_page(request: Request, order_id: int, sid: int = Depends(supplier_id)) -> Response:
    parts = cabinet(request)
    with parts.hub.read_engine.connect() as conn:
        supplier = _supplier_row(conn, sid)
        if supplier is None:
            raise SupplierLoginRequired
        placed = _mine(conn, sid, order_id)
        recipient = conn.execute(
            select(customers.c.phone_e164).where(customers.c.id == placed.customer_id)
        ).scalar()
    return _order_view(request, supplier, placed, sid, recipient_phone=recipient)


def _order_view(
    request: Request,
    supplier: Any,
    placed: orders.PlacedOrder,
    sid: int,
    *,
    recipient_phone: str | None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    mine = [line for line in placed.lines if line.supplier_id == sid]
    return render(
        request,
        "suppliers/order.html",
        {
            "x": texts(lang_of(request)),
            "supplier": supplier,
            "order": placed,
            "lines": mine,
            "open": placed.state is OrderState.PAID and any(line.state is LineState.OPEN for line in mine),
            "recipient_phone": recipient_phone,
            "error": error,
        },
        status=status,
    )


@router.post("/orders/{order_id}/processed")
async def mark_processed(request: Request, order_id: int, sid: int = Depends(supplier_id)) -> Response:
    """Marks this supplier's open lines processed (shipped, with a tracking number given)."""
    form = await request.form()
    raw = form.get("tracking")
    tracking = raw.strip()[:100] if isinstance(raw, str) else ""
    parts = cabinet(request)
    lang = lang_of(request)
    with parts.hub.read_engine.connect() as conn:
        _mine(conn, sid, order_id)  # 404 before anything for another supplier's order
    percents = cashback_percents(parts.settings)

    def work(book: LedgerBook) -> orders.PlacedOrder:
        return orders.mark_processed(
            book, sid, order_id, tracking=tracking or None, cashback_percent=percents
        )

    try:
        parts.hub.ledger.run(work)
    except errors.NotYourOrder:
        raise PageNotFound from None
    except errors.RewardsError as exc:
        with parts.hub.read_engine.connect() as conn:
            supplier = _supplier_row(conn, sid)
            placed = _mine(conn, sid, order_id)
        message = TEXTS["error"][lang].format(text=exc.user_message(lang))
        return _order_view(
            request, supplier, placed, sid, recipient_phone=None, error=message, status=exc.http_status
        )
    done = TEXTS["shipped" if tracking else "processed"][lang].format(id=order_id, tracking=tracking)
    request.state.session["supplier_note"] = done
    return see_other("/suppliers/orders")


def mount_shop(app: Any) -> None:
    """The member's shop pages and the supplier pages on the cabinet's app (``create_app``)."""
    from web_cabinet.rewards import media, shop
    from web_cabinet.rewards.common import redact_login_tokens

    app.include_router(shop.router)
    app.include_router(media.router)
    app.include_router(router)

    async def supplier_login_required(request: Request, exc: Exception) -> Response:
        message = TEXTS["login_needed"][lang_of(request)]
        return _link_page(request, message, 401)

    app.add_exception_handler(SupplierLoginRequired, supplier_login_required)
    redact_login_tokens()
