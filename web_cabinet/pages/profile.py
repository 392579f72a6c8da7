"""The profile form: prefilled from the hub's customer row (which sync keeps equal to 1C's
partner), saved through ``update_profile`` so the change reaches 1C and the cards' spending lock
follows. The form carries the version it was rendered from: if the row changed since (a 1C
accountant, another tab), nothing is overwritten and the customer sees the new values. Its
random ``form_id`` makes a second submission of the same form a replay that changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge import errors
from bonusbridge.models import Customer, Gender, Origin, SyncConflict
from bonusbridge.services.cabinet import claim_form, next_step
from bonusbridge.services.profiles import update_profile
from web_cabinet.context import LoginRequired, cabinet, customer_id, lang_of
from web_cabinet.i18n import translator
from web_cabinet.pages.steps import STEP_URLS
from web_cabinet.rendering import flash, new_form_id, render, see_other, valid_form_id
from web_cabinet.security import verify_csrf

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

TEXT_FIELDS = ("last_name", "first_name", "middle_name", "email", "city")
FIELDS = ("last_name", "first_name", "middle_name", "birth_date", "gender", "email", "city")
_ERROR_KEYS = {"birth_date": "birth_date_invalid", "email": "email_invalid"}


def _values(customer: Customer) -> dict[str, Any]:
    """The customer's row as the form shows it (strings; the consent a bool)."""
    values: dict[str, Any] = {name: getattr(customer, name) or "" for name in TEXT_FIELDS}
    values["birth_date"] = customer.birth_date.isoformat() if customer.birth_date else ""
    values["gender"] = customer.gender.value if customer.gender else ""
    values["marketing_consent"] = bool(customer.marketing_consent)
    return values


#: How long the cabinet tells a customer that 1C's later change replaced theirs.
LOST_EDIT_DAYS = 30


def _lost_to_onec(request: Request, customer: Customer) -> list[str]:
    """The fields where the customer's edit lost to a later 1C change (a conflict the sync decided
    for 1C as the newer) in the last ``LOST_EDIT_DAYS`` and that still hold 1C's value (a field the
    customer changed again is no longer news): the cabinet says so above the form."""
    parts = cabinet(request)
    since = parts.clock() - timedelta(days=LOST_EDIT_DAYS)
    with parts.hub.unit_of_work() as uow:
        rows = uow.session.execute(
            select(SyncConflict.field, SyncConflict.onec_value)
            .where(
                SyncConflict.kind == "customer",
                SyncConflict.entity_id == customer.id,
                SyncConflict.winner == "onec",
                SyncConflict.decided_at >= since,
            )
            .order_by(SyncConflict.id)
        ).all()
    lost: dict[str, None] = {}
    for name, onec_value in rows:
        if _as_text(getattr(customer, name, None)) == (onec_value or None):
            lost[name] = None
    return [name for name in FIELDS if name in lost] + [name for name in lost if name not in FIELDS]


def _as_text(value: Any) -> str | None:
    """A customer's field as the conflict record keeps it (``links._text``)."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    return str(getattr(value, "value", value))


def _page(
    request: Request,
    customer: Customer,
    *,
    values: dict[str, Any] | None = None,
    field_errors: dict[str, str] | None = None,
    error: str | None = None,
    unsaved: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> Response:
    required = cabinet(request).settings.profile_required_fields
    context = {
        "values": values if values is not None else _values(customer),
        "version": customer.version,
        "form_id": new_form_id(),
        "required": required,
        "missing": customer.missing_fields(list(required)),
        "field_errors": field_errors or {},
        "error": error,
        "unsaved": unsaved or [],
        "fields": FIELDS,
        "lost_to_onec": _lost_to_onec(request, customer),
    }
    return render(request, "profile.html", context, status=status)


def _load(request: Request, cid: int) -> Customer:
    with cabinet(request).hub.unit_of_work() as uow:
        customer = uow.customers.get(cid)
        if customer is None:
            raise LoginRequired
        uow.session.expunge(customer)
        return customer


@router.get("/profile")
def profile_page(request: Request, cid: int = Depends(customer_id)) -> Response:
    return _page(request, _load(request, cid))


@router.post("/profile")
def save_profile(
    request: Request,
    cid: int = Depends(customer_id),
    last_name: str = Form(""),
    first_name: str = Form(""),
    middle_name: str = Form(""),
    birth_date: str = Form(""),
    gender: str = Form(""),
    email: str = Form(""),
    city: str = Form(""),
    marketing_consent: str = Form(""),
    version: str = Form(""),
    form_id: str = Form(""),
) -> Response:
    typed = (last_name, first_name, middle_name, birth_date, gender, email, city)
    submitted: dict[str, Any] = {name: value.strip()[:200] for name, value in zip(FIELDS, typed, strict=True)}
    submitted["marketing_consent"] = marketing_consent == "yes"
    return _save(request, cid, submitted, version, form_id)


def _save(request: Request, cid: int, submitted: dict[str, Any], version: str, form_id: str) -> Response:
    parts = cabinet(request)
    t = translator(lang_of(request))
    changes, problems = _changes(submitted, t)
    if problems:
        return _page(request, _load(request, cid), values=submitted, field_errors=problems, status=400)
    expected = int(version) if version.isdigit() else -1
    try:
        with parts.hub.unit_of_work() as uow:
            if not valid_form_id(form_id):
                raise errors.StaleVersion("customer", cid, expected, None)
            if not claim_form(uow, f"cabinet/{cid}/profile/{form_id}", customer_id=cid, kind="profile"):
                flash(request, "profile_saved")  # the same form again: it already took effect
                return see_other("/")
            required = parts.settings.profile_required_fields
            customer = update_profile(
                uow,
                cid,
                changes,
                origin=Origin.WEBSITE,
                expected_version=expected,
                required_fields=required,
            )
            step = next_step(uow.session, customer, required)
            uow.commit()
    except errors.StaleVersion:
        current = _load(request, cid)
        now = _values(current)
        unsaved = [(name, str(submitted[name])) for name in FIELDS if submitted[name] != now[name]]
        return _page(request, current, error=t("profile_stale"), unsaved=unsaved, status=409)
    except errors.UnknownCustomer as gone:
        raise LoginRequired from gone
    except errors.InvalidProfileField as bad:
        key = _ERROR_KEYS.get(bad.field, "field_invalid")
        return _page(
            request, _load(request, cid), values=submitted, field_errors={bad.field: t(key)}, status=400
        )
    flash(request, "profile_saved")
    return see_other(STEP_URLS[step] if step.value in ("add_card", "choose") else "/")


def _changes(submitted: dict[str, Any], t: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's strings as ``update_profile`` values; problems the form itself can tell."""
    changes: dict[str, Any] = {name: submitted[name] or None for name in TEXT_FIELDS}
    problems: dict[str, str] = {}
    for name in TEXT_FIELDS:
        if len(submitted[name]) > 100:
            problems[name] = t("text_too_long")
    raw_date = submitted["birth_date"]
    try:
        changes["birth_date"] = date.fromisoformat(raw_date) if raw_date else None
    except ValueError:
        problems["birth_date"] = t("birth_date_invalid")
    gender = submitted["gender"]
    if gender and gender not in {g.value for g in Gender}:
        problems["gender"] = t("field_invalid")
    changes["gender"] = Gender(gender) if gender in {g.value for g in Gender} else None
    changes["marketing_consent"] = bool(submitted["marketing_consent"])
    return changes, problems
