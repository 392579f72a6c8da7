"""``/staff/rewards/invoices``: the reward orders whose cash part awaits payment (under
``rewards_payments=manual``), and marking an invoice paid — ``orders.confirm_payment`` captures the
held points and hands the order to its supplier. Confirming money is role ``admin``'s (``viewer``
and ``marketing`` read the list); each confirmation is audited in its transaction and idempotent
(a second click is a replay that changes nothing). An order whose hold ran out is refused with its
message, writing nothing."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge import audit
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.service import LedgerService
from bonusbridge.rewards import errors, orders
from bonusbridge.rewards.models import OrderState
from web_cabinet.staff.auth import Role
from web_cabinet.staff.pages import (
    StaffNotFound,
    Who,
    lang_of,
    parts_of,
    render,
    require_role,
    see_other,
)

#: Included in ``staff.router`` (under ``/staff/rewards``), whose dependencies check the CSRF token
#: and the staff session.
router = APIRouter(prefix="/invoices")
PAYERS = frozenset({Role.ADMIN})
READERS = PAYERS | {Role.MARKETING, Role.VIEWER}

TEXTS = {
    "title": {"ru": "Счета к оплате (подарки)", "en": "Invoices awaiting payment (rewards)"},
    "none": {"ru": "Неоплаченных счетов нет.", "en": "No unpaid invoices."},
    "invoice": {"ru": "Счёт", "en": "Invoice"},
    "order": {"ru": "Заказ", "en": "Order"},
    "placed": {"ru": "Оформлен", "en": "Placed"},
    "cash": {"ru": "Доплата", "en": "Cash"},
    "vat": {"ru": "НДС", "en": "VAT"},
    "points": {"ru": "Баллы (удержаны)", "en": "Points (held)"},
    "mark_paid": {"ru": "Оплачен", "en": "Mark paid"},
    "paid": {
        "ru": "Счёт {invoice} оплачен: баллы списаны, заказ передан поставщику.",
        "en": "Invoice {invoice} is paid: the points are captured, the order is with its supplier.",
    },
}


def _texts(lang: str) -> dict[str, str]:
    return {key: value[lang] for key, value in TEXTS.items()}


def _page(
    request: Request, who: Who, *, note: str | None = None, error: str | None = None, status: int = 200
) -> Response:
    parts = parts_of(request)
    with parts.engine.connect() as conn:
        unpaid = conn.execute(
            select(orders.orders)
            .where(orders.orders.c.state == OrderState.AWAITING_PAYMENT)
            .order_by(orders.orders.c.id)
            .limit(500)
        ).all()
    return render(
        request,
        "staff/reward_invoices.html",
        {
            "x": _texts(lang_of(request)),
            "unpaid": unpaid,
            "may_pay": bool(who.roles & PAYERS),
            "note": note,
            "error": error,
        },
        status=status,
    )


@router.get("")
def invoices_page(request: Request, who: Who) -> Response:
    require_role(who, READERS)
    return _page(request, who)


@router.post("/{order_id}/paid")
def mark_paid(request: Request, order_id: int, who: Who) -> Response:
    require_role(who, PAYERS)
    parts = parts_of(request)
    ledger = LedgerService(parts.engine, clock=parts.clock, hold_ttl=parts.settings.hold_ttl)
    lang = lang_of(request)

    def work(book: LedgerBook) -> orders.PlacedOrder:
        placed = orders.confirm_payment(book, order_id, key=f"staff:order:{order_id}:paid")
        if not placed.replayed:
            audit.record(
                book.conn, actor=f"staff:{who.login}", action="rewards.invoice.paid",
                subject=f"reward-order:{order_id}",
                details={"invoice": placed.invoice_number, "cash": str(placed.cash_total)}, at=book.now,
            )  # fmt: skip
        return placed

    try:
        placed = ledger.run(work)
    except errors.UnknownRewardOrder:
        raise StaffNotFound from None
    except errors.RewardsError as exc:
        return _page(request, who, error=exc.user_message(lang), status=exc.http_status)
    if placed.replayed:
        return see_other("/staff/rewards/invoices")
    return _page(request, who, note=TEXTS["paid"][lang].format(invoice=placed.invoice_number or ""))
