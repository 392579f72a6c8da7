"""The back office (issue 8, item 7; seed 003's "suivi des points depuis la fiche du client").

Staff find a customer by phone or card number (POST forms: neither ever appears in a URL; the
pages that follow are addressed by the customer's or card's row id, which is not personal data and
is served only behind the staff login). A customer's page shows each card with its status and why,
its balance (available, pending, held, expired but not yet swept), the points missing to reach the
program's spend threshold, the active lots with their expiry, the used points (when, on which
document, how much of it was given back since) and the full history with origins, actors and
reasons.

Manual adjustment (decision): only ``admin``. The roles are ``viewer`` (reports), ``migration``
(fixing imports) and ``admin`` (who already decides unmerges and drift repairs); moving points by
hand is of the same kind as an unmerge, so it goes with it rather than to a new role. The page
turns the role into the ledger's ``Permission.ADJUST``; the ledger checks it again and requires the
reason. Each adjustment is written by ``LedgerService.adjust`` with origin ``admin``, actor
``staff:<login>`` and the reason, so the movement itself is the audit record (listed on the page);
its key is ``staff-adjust:<form_id>`` (a random id in each rendered form), so a double submission
records it once and a reused form with other values is refused.

Personal data: names and phones are masked except for ``admin`` (who talks to the customer before
adjusting); card numbers are masked for ``viewer`` only, as on the import pages.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form
from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge import errors
from bonusbridge.actors import Actor, Permission
from bonusbridge.ledger.records import BalanceView
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Card, Customer, Lot, Movement, MovementKind, Origin, Program
from bonusbridge.points import store as points_store
from bonusbridge.points.program import ProgramRules
from bonusbridge.points.receipts import add_months
from bonusbridge.privacy import mask_card_number, mask_name, mask_phone
from mapping.phones import normalize_phone
from web_cabinet import formats
from web_cabinet.api.cardnumbers import normalize_card_number, normalized_column
from web_cabinet.staff.auth import Principal, Role
from web_cabinet.staff.pages import (
    StaffForbidden,
    StaffNotFound,
    StaffParts,
    Who,
    flash,
    lang_of,
    parts_of,
    principal,
    render,
    see_other,
    verify_csrf,
)

router = APIRouter(dependencies=[Depends(verify_csrf), Depends(principal)])

HISTORY_LIMIT = 500
ZERO = Decimal("0.00")


def may_adjust(who: Principal) -> bool:
    return Role.ADMIN in who.roles


def _sees_personal(who: Principal) -> bool:
    return Role.ADMIN in who.roles


def _card_number(number: str, who: Principal) -> str:
    return number if who.sees_issue_details else mask_card_number(number)


def _full_name(customer: Customer) -> str:
    return " ".join(p for p in (customer.last_name, customer.first_name, customer.middle_name) if p)


def _shown_name(customer: Customer, who: Principal) -> str:
    name = _full_name(customer)
    if not name:
        return "-"
    if _sees_personal(who):
        return name
    return " ".join(mask_name(part) for part in name.split())


def _shown_phone(phone: str | None, who: Principal) -> str:
    if not phone:
        return "-"
    return phone if _sees_personal(who) else mask_phone(phone)


def ledger_of(parts: StaffParts) -> LedgerService:
    horizon = timedelta(days=parts.settings.expiring_soon_days)
    return LedgerService(parts.engine, clock=parts.clock, expiring_within=horizon)


def new_form_id() -> str:
    return secrets.token_hex(16)


def _valid_form_id(value: str) -> bool:
    return len(value) == 32 and all(ch in "0123456789abcdef" for ch in value)


# --- the figures --------------------------------------------------------------------------------


@dataclass
class CardFigures:
    id: int
    number: str
    program: str
    status: str
    status_reason: str | None
    is_primary: bool
    balance: BalanceView
    missing: Decimal | None  # points missing to reach the spend threshold (None: no rules)


@dataclass
class UsedPoints:
    movement: Movement
    card_number: str
    spent: Decimal
    given_back: Decimal


@dataclass
class Backoffice:
    """Everything the customer page shows, computed at one instant."""

    as_of: datetime
    rules: ProgramRules | None
    cards: list[CardFigures]
    lots: list[tuple[Lot, str]]
    used: list[UsedPoints]
    history: list[tuple[Movement, str]]
    adjustments: list[tuple[Movement, str]]


def program_rules(engine: Engine, settings: Any, now: datetime) -> ProgramRules | None:
    try:
        with engine.connect() as conn:
            return points_store.load(conn, settings).version_at(now).rules
    except errors.BonusBridgeError:
        return None
    except ValueError:  # e.g. before the program started
        return None


def missing_to_threshold(rules: ProgramRules | None, available: Decimal) -> Decimal | None:
    """Seed 003: "le nombre de points manquants pour les utiliser" — never negative."""
    if rules is None:
        return None
    return max(rules.spend_threshold - available, ZERO).quantize(ZERO)


def compute(
    session: Session,
    balances: dict[int, BalanceView],
    rules: ProgramRules | None,
    cards: list[Card],
    who: Principal,
    now: datetime,
) -> Backoffice:
    """The page's figures. ``balances`` are read beforehand, on their own connection: on SQLite a
    second connection opened while this session's transaction is open would wait for it."""
    ids = [card.id for card in cards]
    numbers = {card.id: _card_number(card.number, who) for card in cards}
    wanted = select(Program).where(Program.id.in_({c.program_id for c in cards}))
    programs = {p.id: p.name for p in session.scalars(wanted)}
    figures = []
    for card in cards:
        balance = balances[card.id]
        figures.append(
            CardFigures(
                card.id, numbers[card.id], programs.get(card.program_id, ""), card.status.value,
                card.status_reason, card.is_primary, balance, missing_to_threshold(rules, balance.available),
            )
        )  # fmt: skip
    lots = list(
        session.scalars(
            select(Lot)
            .where(
                Lot.card_id.in_(ids),
                Lot.remaining > 0,
                or_(Lot.expires_at.is_(None), Lot.expires_at > now),
            )
            .order_by(Lot.expires_at.is_(None), Lot.expires_at, Lot.id)
        )
    )
    movements = list(
        session.scalars(
            select(Movement)
            .where(Movement.card_id.in_(ids))
            .order_by(Movement.occurred_at.desc(), Movement.id.desc())
            .limit(HISTORY_LIMIT)
        )
    )
    redemptions = [m for m in movements if m.kind is MovementKind.REDEMPTION]
    given_back: dict[int, Decimal] = {}
    if redemptions:
        for reversal in session.scalars(
            select(Movement).where(Movement.reverses_id.in_([m.id for m in redemptions]))
        ):
            assert reversal.reverses_id is not None
            given_back[reversal.reverses_id] = given_back.get(reversal.reverses_id, ZERO) + reversal.amount
    used = [UsedPoints(m, numbers[m.card_id], -m.amount, given_back.get(m.id, ZERO)) for m in redemptions]
    history = [(m, numbers[m.card_id]) for m in movements]
    return Backoffice(
        as_of=now,
        rules=rules,
        cards=figures,
        lots=[(lot, numbers[lot.card_id]) for lot in lots],
        used=used,
        history=history,
        adjustments=[(m, n) for m, n in history if m.kind is MovementKind.ADJUSTMENT],
    )


# --- search ---------------------------------------------------------------------------------------


@router.get("/customers")
def search_page(request: Request) -> Response:
    return render(request, "staff/customers.html", {"phone": "", "card": "", "results": None})


def _search_refused(request: Request, context: dict[str, Any], error: str, status: int = 422) -> Response:
    return render(request, "staff/customers.html", {**context, "error": error}, status=status)


@router.post("/customers")
def search_submit(request: Request, who: Who, phone: str = Form(""), card: str = Form("")) -> Response:
    phone, card = phone.strip()[:64], card.strip()[:64]
    context: dict[str, Any] = {"phone": phone, "card": card, "results": None}
    if not phone and not card:
        return _search_refused(request, context, "search_empty")
    conditions = []
    if phone:
        parsed = normalize_phone(phone)
        if not parsed.valid or parsed.e164 is None:
            return _search_refused(request, context, "search_bad_phone")
        conditions.append(Card.phone_e164 == parsed.e164)
    number = None
    if card:
        number = normalize_card_number(card)
        if number is None:
            return _search_refused(request, context, "search_bad_card")
        conditions.append(normalized_column(Card.number) == number)
    results: list[dict[str, Any]] = []
    with Session(parts_of(request).engine) as session:
        customers: dict[int, Customer] = {}
        if phone and parsed.e164 is not None:
            for customer in session.scalars(select(Customer).where(Customer.phone_e164 == parsed.e164)):
                customers[customer.id] = customer
        lone: list[Card] = []
        for found in session.scalars(select(Card).where(*conditions).order_by(Card.id)):
            if found.customer_id is None:
                lone.append(found)
            elif found.customer_id not in customers:
                owner = session.get(Customer, found.customer_id)
                if owner is not None:
                    customers[owner.id] = owner
        if card and number is not None:  # the phone narrows the card search, not the other way
            customers = {
                cid: c
                for cid, c in customers.items()
                if session.scalar(
                    select(Card.id).where(Card.customer_id == cid, normalized_column(Card.number) == number)
                )
                is not None
            }
        for customer in sorted(customers.values(), key=lambda c: c.id):
            results.append(
                {
                    "url": f"/staff/customers/{customer.id}",
                    "label": f"#{customer.id}",
                    "name": _shown_name(customer, who),
                    "phone": _shown_phone(customer.phone_e164, who),
                }
            )
        for found in lone:
            results.append(
                {
                    "url": f"/staff/cards/{found.id}",
                    "label": _card_number(found.number, who),
                    "name": "-",
                    "phone": _shown_phone(found.phone_e164, who),
                }
            )
    if len(results) == 1:
        return see_other(results[0]["url"])
    if not results:
        return _search_refused(request, context, "search_none", 404)
    return render(request, "staff/customers.html", {**context, "results": results})


# --- a customer's (or an unowned card's) page ------------------------------------------------------


@dataclass
class Subject:
    customer: Customer | None
    cards: list[Card]
    base_url: str


def _subject(session: Session, customer_id: int | None, card_id: int | None) -> Subject:
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise StaffNotFound
        cards = list(
            session.scalars(
                select(Card).where(Card.customer_id == customer_id).order_by(Card.is_primary.desc(), Card.id)
            )
        )
        return Subject(customer, cards, f"/staff/customers/{customer_id}")
    card = session.get(Card, card_id)
    if card is None or card.customer_id is not None:
        raise StaffNotFound
    return Subject(None, [card], f"/staff/cards/{card_id}")


def _page(
    request: Request,
    who: Principal,
    *,
    customer_id: int | None = None,
    card_id: int | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    parts = parts_of(request)
    ledger = ledger_of(parts)
    now = parts.clock()
    rules = program_rules(parts.engine, parts.settings, now)
    with Session(parts.engine) as session:
        ids = [card.id for card in _subject(session, customer_id, card_id).cards]
    balances = {card: ledger.balance(card) for card in ids}
    with Session(parts.engine) as session:
        subject = _subject(session, customer_id, card_id)
        subject.cards = [card for card in subject.cards if card.id in balances]  # none added meanwhile
        figures = compute(session, balances, rules, subject.cards, who, now)
        customer = subject.customer
        profile = None
        if customer is not None:
            profile = {
                "name": _shown_name(customer, who),
                "phone": _shown_phone(customer.phone_e164, who),
                "verified": customer.phone_verified_at is not None,
            }
        context = {
            "customer_id": customer_id,
            "card_id": card_id,
            "base_url": subject.base_url,
            "profile": profile,
            "bo": figures,
            "may_adjust": may_adjust(who),
            "form": form or {"form_id": new_form_id(), "card_id": None, "amount": "", "reason": ""},
        }
        return render(request, "staff/customer.html", context, status=status)


@router.get("/customers/{customer_id}")
def customer_page(request: Request, customer_id: int, who: Who) -> Response:
    return _page(request, who, customer_id=customer_id)


@router.get("/cards/{card_id}")
def card_page(request: Request, card_id: int, who: Who) -> Response:
    with Session(parts_of(request).engine) as session:
        card = session.get(Card, card_id)
        if card is not None and card.customer_id is not None:
            return see_other(f"/staff/customers/{card.customer_id}")
    return _page(request, who, card_id=card_id)


# --- manual adjustment ----------------------------------------------------------------------------


def adjustment_expiry(parts: Any, typed: str, amount_text: str) -> datetime | bool | None:
    """When the points a positive adjustment adds expire: at the end of the day staff typed (in the
    chain's zone), else after the program's validity (``validity_months``) from now, like points a
    purchase earns; None when the program's points never expire, or for a debit (it makes no lot).
    False when the typed date is not a date, or is past."""
    now = parts.clock()
    try:
        if Decimal(amount_text) <= 0:
            return None
    except ArithmeticError:
        return None  # the ledger refuses the amount itself
    if typed:
        try:
            chosen = date.fromisoformat(typed)
        except ValueError:
            return False
        zone = ZoneInfo(parts.settings.sms_default_time_zone)
        end = datetime.combine(chosen + timedelta(days=1), time(0), tzinfo=zone)
        return end if end > now else False
    rules = program_rules(parts.engine, parts.settings, now)
    if rules is None or not rules.validity_months:
        return None
    return add_months(now, rules.validity_months)


PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def _amount_text(raw: str) -> str:
    """What staff type: ``-50``, ``−50`` (a typographic minus), ``+12,50``, ``1 000``."""
    text = "".join(raw.replace("\u2212", "-").replace(",", ".").split())
    # plain decimals only: "1e2", "Infinity", "0x10" or "١٠٠" are no amount a person types
    return text if PLAIN_DECIMAL.fullmatch(text) else ""


def _adjust(
    request: Request,
    who: Principal,
    *,
    customer_id: int | None,
    card_id: int | None,
    target: str,
    amount: str,
    reason: str,
    form_id: str,
    expires_on: str = "",
) -> Response:
    if not may_adjust(who):
        raise StaffForbidden
    parts = parts_of(request)
    reason = reason.strip()
    amount_text = _amount_text(amount)[:32]
    form: dict[str, Any] = {
        "form_id": form_id,
        "card_id": None,
        "amount": amount.strip()[:32],
        "reason": reason[:2000],
        "expires_on": expires_on.strip()[:10],
    }

    def refuse(key: str, status: int = 422, **params: str) -> Response:
        return _page(
            request, who, customer_id=customer_id, card_id=card_id,
            form={**form, "error": key, "params": params}, status=status,
        )  # fmt: skip

    with Session(parts.engine) as session:
        cards = {card.id: card for card in _subject(session, customer_id, card_id).cards}
    if not _valid_form_id(form_id):
        form["form_id"] = new_form_id()
        return refuse("adjust_conflict", 409)
    try:
        chosen = int(target)
    except ValueError:
        chosen = -1
    if chosen not in cards:
        return refuse("adjust_bad_card")
    form["card_id"] = chosen
    if not reason:
        return refuse("reason_required")
    if len(reason) > 2000:
        return refuse("adjust_failed", error="reason too long")
    ledger = ledger_of(parts)
    actor = Actor(f"staff:{who.login}", frozenset({Permission.ADJUST}))
    expires_at = adjustment_expiry(parts, form["expires_on"], amount_text)
    if expires_at is False:
        return refuse("adjust_bad_expiry")
    try:
        key = f"staff-adjust:{form_id}"
        record = ledger.adjust(
            chosen,
            amount_text,
            key=key,
            origin=Origin.ADMIN,
            actor=actor,
            reason=reason,
            expires_at=expires_at,
        )
    except errors.InvalidAmount:
        return refuse("adjust_bad_amount")
    except errors.InsufficientBalance as exc:
        return refuse("adjust_insufficient", available=str(exc.available))
    except errors.CardBlocked:
        return refuse("adjust_blocked")
    except errors.IdempotencyConflict:
        form["form_id"] = new_form_id()
        return refuse("adjust_conflict", 409)
    except errors.MissingReason:
        return refuse("reason_required")
    except errors.PermissionDenied as exc:
        raise StaffForbidden from exc
    except errors.BonusBridgeError as exc:
        return refuse("adjust_failed", error=exc.code)
    number = _card_number(cards[chosen].number, who)
    if record.replayed:
        flash(request, "adjust_replayed")
    else:
        sign = "+" if record.amount > 0 else "−"
        amount_shown = sign + formats.points(abs(record.amount), lang_of(request))
        flash(request, "adjusted", amount=amount_shown, card=number)
    if customer_id is not None:
        return see_other(f"/staff/customers/{customer_id}")
    return see_other(f"/staff/cards/{card_id}")


@router.post("/customers/{customer_id}/adjust")
def customer_adjust(
    request: Request,
    customer_id: int,
    who: Who,
    card_id: str = Form(""),
    amount: str = Form(""),
    reason: str = Form(""),
    form_id: str = Form(""),
    expires_on: str = Form(""),
) -> Response:
    return _adjust(
        request, who, customer_id=customer_id, card_id=None, target=card_id, amount=amount,
        reason=reason, form_id=form_id, expires_on=expires_on,
    )  # fmt: skip


@router.post("/cards/{card_id}/adjust")
def card_adjust(
    request: Request,
    card_id: int,
    who: Who,
    target: str = Form("", alias="card_id"),
    amount: str = Form(""),
    reason: str = Form(""),
    form_id: str = Form(""),
    expires_on: str = Form(""),
) -> Response:
    return _adjust(
        request, who, customer_id=None, card_id=card_id, target=target, amount=amount,
        reason=reason, form_id=form_id, expires_on=expires_on,
    )  # fmt: skip
