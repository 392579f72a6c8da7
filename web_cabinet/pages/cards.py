"""The customer's cards: choosing the primary one among several (the others are merged into it),
adding a card by its number and a receipt's points, and one card's page.

A card id in a URL or a form is only ever looked up among the logged-in customer's own cards (or
those on offer to them): another customer's id answers exactly like an id that does not exist.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, Form
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge import errors
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import CardStatus, Customer
from bonusbridge.services.cabinet import (
    card_choices,
    choose_primary_card,
    expiring_lots,
    last_purchase,
    next_step,
)
from bonusbridge.services.card_claims import (
    ClaimOutcome,
    claim_card,
    normalize_typed_card_number,
    parse_points,
)
from bonusbridge.unit_of_work import UnitOfWork
from web_cabinet.context import Cabinet, LoginRequired, PageNotFound, cabinet, customer_id, lang_of
from web_cabinet.i18n import translator
from web_cabinet.pages.barcodes import barcode_svg, qr_svg
from web_cabinet.pages.display import balance_of, card_rows, history_of, history_rows, program_names
from web_cabinet.pages.steps import STEP_URLS
from web_cabinet.rendering import (
    flash,
    format_points,
    new_form_id,
    page_formats,
    render,
    see_other,
    valid_form_id,
)
from web_cabinet.security import ids_out_of_range, verify_csrf


def _ids_in_range(request: Request) -> None:
    if ids_out_of_range(request.path_params):
        raise PageNotFound


router = APIRouter(dependencies=[Depends(_ids_in_range), Depends(verify_csrf)], include_in_schema=False)

#: A card another phone holds answers exactly like a wrong proof (one status, one text): telling
#: them apart would tell whoever types a number whether their guess of the points was right.
CLAIM_REFUSED = {
    "ru": "Номер карты или число бонусов не совпадают, или карта привязана к другому номеру "
    "телефона. Проверьте чек; если карта ваша, обратитесь на сервисную стойку магазина.",
    "en": "The card number or the points do not match, or the card belongs to another phone "
    "number. Please check the receipt; if the card is yours, ask at the shop's service desk.",
}


def _customer(uow: UnitOfWork, customer_id: int) -> Customer:
    customer = uow.customers.get(customer_id)
    if customer is None:
        raise LoginRequired
    return customer


# --------------------------------------------------------------------------- choosing the primary card


def _choose_page(
    request: Request, cid: int, *, error: str | None = None, status: int = 200, chosen: int | None = None
) -> Response:
    parts = cabinet(request)
    t = translator(lang_of(request))
    with parts.hub.unit_of_work() as uow:
        customer = _customer(uow, cid)
        choices = card_choices(uow.session, customer)
        if not choices:
            return see_other("/cards/add")
        ids = [card.id for card in choices]
        balances = LedgerBook(uow.session.connection(), now=parts.clock()).balances(ids)
        used = last_purchase(uow.session, ids)
        programs = program_names(uow.session, [card.program_id for card in choices], t)
        rows = [
            {
                "id": card.id,
                "program": programs[card.program_id].label if card.program_id in programs else "",
                "legacy": card.program_id in programs and programs[card.program_id].legacy,
                "number": card.number,
                "balance": balances[card.id].total - balances[card.id].expired_unswept,
                "last_use": used.get(card.id),
                "checked": card.id == chosen or (chosen is None and (card.is_primary or len(choices) == 1)),
            }
            for card in choices
        ]
        # Nothing left to choose: the only usable card is already the customer's (chosen, or the one
        # card they have) — the page says so instead of asking to confirm it again.
        settled = len(choices) == 1 and choices[0].customer_id == cid and error is None
    context = {
        "cards": rows,
        "single": len(rows) == 1,
        "settled": settled,
        "error": error,
        "form_id": new_form_id(),
    }
    return render(request, "choose.html", context, status=status)


@router.get("/cards/choose")
def choose_page(request: Request, cid: int = Depends(customer_id)) -> Response:
    return _choose_page(request, cid)


@router.post("/cards/choose")
def choose(
    request: Request, cid: int = Depends(customer_id), card_id: str = Form(""), form_id: str = Form("")
) -> Response:
    parts = cabinet(request)
    t = translator(lang_of(request))
    if not card_id.isdigit():
        return _choose_page(request, cid, error=t("choose_a_card"), status=400)
    if not valid_form_id(form_id):
        return _choose_page(request, cid, error=t("form_expired"), status=400)
    chosen = int(card_id)
    try:
        with parts.hub.unit_of_work() as uow:
            customer = _customer(uow, cid)
            choice = choose_primary_card(uow, customer, chosen, key=f"cabinet/{cid}/choose/{form_id}")
            uow.commit()
    except (errors.CardNotOwned, errors.UnknownCard, errors.CardBlocked):
        return _choose_page(request, cid, error=t("card_not_yours"), status=400)
    except errors.CardHasPendingHold:
        return _choose_page(request, cid, error=t("hold_pending"), status=409, chosen=chosen)
    except errors.IdempotencyConflict:
        return _choose_page(request, cid, error=t("form_expired"), status=409)
    flash(request, "primary_chosen", points=format_points(choice.points_moved, lang_of(request)))
    return see_other(_after(parts, cid))


def _after(parts: Cabinet, cid: int) -> str:
    with parts.hub.unit_of_work() as uow:
        step = next_step(uow.session, _customer(uow, cid), parts.settings.profile_required_fields)
    return STEP_URLS[step]


# --------------------------------------------------------------------------- adding a card by number


def _add_page(
    request: Request,
    *,
    number: str = "",
    points: str = "",
    errors_: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    context: dict[str, Any] = {
        "number": number,
        "points_typed": points,
        "errors": errors_ or {},
        "error": error,
    }
    return render(request, "add_card.html", context, status=status, headers=headers)


@router.get("/cards/add")
def add_page(request: Request, cid: int = Depends(customer_id)) -> Response:
    return _add_page(request)


@router.post("/cards/add")
def add_card(
    request: Request,
    cid: int = Depends(customer_id),
    card_number: str = Form(""),
    receipt_points: str = Form(""),
) -> Response:
    parts = cabinet(request)
    t = translator(lang_of(request))
    typed_number, typed_points = card_number.strip()[:100], receipt_points.strip()[:30]
    number = normalize_typed_card_number(typed_number)
    points = parse_points(typed_points)
    problems = {}
    if not number:
        problems["card_number"] = t("card_number_required")
    if points is None:
        problems["receipt_points"] = t("points_invalid")
    if problems or points is None:
        return _add_page(request, number=typed_number, points=typed_points, errors_=problems, status=400)
    with parts.hub.unit_of_work() as uow:
        result = claim_card(uow, cid, number, points)
        uow.commit()
    if result.outcome in (ClaimOutcome.BOUND, ClaimOutcome.ALREADY_YOURS):
        flash(request, "card_added" if result.outcome is ClaimOutcome.BOUND else "claim_already_yours")
        return see_other(_after(parts, cid))
    if result.outcome is ClaimOutcome.LIMITED:
        wait = result.retry_after or 3600
        return _add_page(
            request,
            number=typed_number,
            error=t("claim_limited").format(hours=max(1, math.ceil(wait / 3600))),
            status=429,
            headers={"Retry-After": str(wait)},
        )
    if result.outcome in (ClaimOutcome.MISMATCH, ClaimOutcome.TAKEN):
        lang = lang_of(request)
        refused = CLAIM_REFUSED.get(lang, CLAIM_REFUSED["ru"])
        return _add_page(request, number=typed_number, error=refused, status=400)
    return _add_page(request, number=typed_number, error=t("claim_blocked"), status=409)


# --------------------------------------------------------------------------- one card


@router.get("/cards/{card_id:int}")
def card_page(request: Request, card_id: int, cid: int = Depends(customer_id)) -> Response:
    parts = cabinet(request)
    with parts.hub.unit_of_work() as uow:
        customer = _customer(uow, cid)
        card = uow.cards.get(card_id)
        if card is None or card.customer_id != cid:
            raise PageNotFound
        own = uow.cards.of_customer(cid)
        balance = balance_of(uow, card.id, now=parts.clock(), expiring_days=parts.settings.expiring_soon_days)
        soon = expiring_lots(uow.session, [card.id], now=balance.as_of, horizon=balance.expiring_horizon)
        t = translator(lang_of(request))
        fmt, zone = page_formats(request)
        history = history_rows(history_of(uow.session, [card.id], limit=100), own, t, fmt, zone)
        row = card_rows(uow, customer, [card], own, parts.settings.profile_required_fields, t)[0]
        kind, bars = barcode_svg(card.number)
        context = {
            "card": row,
            "full_number": card.number,
            "barcode_kind": kind,
            "barcode_svg": Markup(bars),
            "qr_svg": Markup(qr_svg(card.number)),
            "locked": row["locked"],
            "balance": balance,
            "expiring": soon,
            "history": history,
            "blocked": card.status is CardStatus.BLOCKED,
        }
    return render(request, "card.html", context)
