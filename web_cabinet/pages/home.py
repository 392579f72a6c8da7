"""The cabinet's home page: the balance (available, pending, reserved), what expires soon and
when, every card with its status and why, and the history with where each movement came from.
Read on every view from the hub, which the sync keeps current: what the tills or a 1C accountant
did shows on the next page view.

When the program requires joining (``points_opt_in_required``), a customer who is not a member
(they left, by the members file) is told why their website orders earn nothing and offered a
button that joins them (via ``cabinet``); a member sees one line saying since when. The button
posts the page's CSRF token; joining is idempotent, so a second click changes nothing and
needs no form id of its own."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge import errors
from bonusbridge.models import CardStatus
from bonusbridge.services import membership
from bonusbridge.services.cabinet import Step, card_choices, expiring_lots, next_step
from bonusbridge.services.consents import consents_of
from bonusbridge.unit_of_work import UnitOfWork
from web_cabinet.context import LoginRequired, cabinet, customer_id, lang_of, session_of
from web_cabinet.i18n import translator
from web_cabinet.pages.display import (
    balance_of,
    card_rows,
    cards_of,
    history_of,
    history_rows,
    with_consents,
)
from web_cabinet.pages.steps import STEP_URLS
from web_cabinet.rendering import flash, page_formats, render, see_other
from web_cabinet.security import verify_csrf

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


@router.get("/")
def home(request: Request) -> Response:
    if not isinstance(session_of(request).get("customer_id"), int):
        return see_other("/login")
    return _home(request, customer_id(request))


def _home(request: Request, cid: int) -> Response:
    """The page's reads, on the read engine (autocommit, no ping per checkout: ``Hub.read_engine``)
    and repeated once on a connection a database restart killed, as the shop API's reads are. Only
    reads happen here, so autocommit changes nothing but the round trips (BEGIN, ping, ROLLBACK)."""
    for attempt in (1, 2):
        try:
            return _home_once(request, cid)
        except DBAPIError as failed:
            if attempt == 2 or not failed.connection_invalidated:
                raise
    raise AssertionError("unreachable")


def _home_once(request: Request, cid: int) -> Response:
    parts = cabinet(request)
    required = parts.settings.profile_required_fields
    opt_in = parts.settings.points_opt_in_required
    hub = parts.hub
    with UnitOfWork(hub.read_engine, clock=hub.ledger.clock, hold_ttl=parts.settings.hold_ttl) as uow:
        customer = uow.customers.get(cid)
        if customer is None:
            raise LoginRequired
        t = translator(lang_of(request))
        own, programs = cards_of(uow.session, cid, t)
        usable = [card for card in own if card.status is not CardStatus.BLOCKED]
        if not usable:
            step = next_step(uow.session, customer, required)
            return see_other(STEP_URLS[Step.ADD_CARD] if step is Step.ADD_CARD else STEP_URLS[Step.CHOOSE])
        primary = next((card for card in usable if card.is_primary), usable[0])
        balance = balance_of(
            uow, primary.id, now=parts.clock(), expiring_days=parts.settings.expiring_soon_days
        )
        soon = expiring_lots(uow.session, [primary.id], now=balance.as_of, horizon=balance.expiring_horizon)
        fmt, zone = page_formats(request)
        history = with_consents(
            history_rows(history_of(uow.session, [card.id for card in own]), own, t, fmt, zone),
            consents_of(uow.session, [cid]),
            t,
            fmt,
            zone,
        )
        cards = card_rows(uow, customer, own, own, required, t, programs)
        offered = len(card_choices(uow.session, customer)) > 1
        primary_row = next(row for row in cards if row["id"] == primary.id)
        context = {
            "primary": primary_row,
            "locked": primary_row["locked"],
            "cards": cards,
            "balance": balance,
            "expiring": soon,
            "history": history,
            "more_cards": offered,
            "missing": customer.missing_fields(list(required)),
            "program": {
                "opt_in": opt_in,
                # shown only when joining is required: not read otherwise
                "membership": membership.membership(uow.session, cid) if opt_in else None,
            },
        }
    return render(request, "home.html", context)


@router.post("/program/join")
def join_program(request: Request, cid: int = Depends(customer_id)) -> Response:
    """The customer joins the loyalty program (seed 001's opt-in, from the cabinet)."""
    parts = cabinet(request)
    try:
        with parts.hub.unit_of_work() as uow:
            joined = membership.join(uow.session, cid, via="cabinet", by=None, now=parts.clock())
            uow.commit()
    except errors.UnknownCustomer as gone:
        raise LoginRequired from gone
    flash(request, "program_joined" if joined else "program_already_member")
    return see_other("/")
