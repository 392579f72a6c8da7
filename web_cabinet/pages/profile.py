"""The profile form: prefilled from the hub's customer row (which sync keeps equal to 1C's
partner), saved through ``update_profile`` so the change reaches 1C and the cards' spending lock
follows. The form carries the version it was rendered from: if the row changed since (a 1C
accountant, another tab), nothing is overwritten and the customer sees the new values. Its
random ``form_id`` makes a second submission of the same form a replay that changes nothing."""

from __future__ import annotations

import functools
import unicodedata
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge import errors
from bonusbridge.models import Customer, Gender, Origin, OutboxMessage, SyncConflict, SyncState
from bonusbridge.services.cabinet import claim_form, next_step
from bonusbridge.services.consents import has_consent, record_consent
from bonusbridge.services.profiles import update_profile
from bonusbridge.settings import Settings
from mapping.errors import MappingError
from mapping.names import normalize_name
from mapping.profile import Profile, load_profile
from web_cabinet.context import LoginRequired, cabinet, customer_id, lang_of
from web_cabinet.i18n import translator
from web_cabinet.pages.steps import STEP_URLS
from web_cabinet.rendering import flash, new_form_id, render, see_other, valid_form_id
from web_cabinet.security import verify_csrf

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

TEXT_FIELDS = ("last_name", "first_name", "middle_name", "email", "city")
NAME_FIELDS = ("last_name", "first_name", "middle_name")
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
    settings = cabinet(request).settings
    required = settings.profile_required_fields
    shown = (
        values if values is not None else {**_values(customer), "pd_consent": _consented(request, customer)}
    )
    context = {
        "values": shown,
        "consent_url": settings.personal_data_consent_url,
        "version": customer.version,
        "form_id": new_form_id(),
        "required": required,
        "missing": customer.missing_fields(list(required)),
        "field_errors": field_errors or {},
        "error": error,
        "unsaved": unsaved or [],
        "fields": FIELDS,
        "lost_to_onec": _lost_to_onec(request, customer),
        "undelivered": undelivered(request, customer.id) is not None,
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
    pd_consent: str = Form(""),
    version: str = Form(""),
    form_id: str = Form(""),
) -> Response:
    typed = (last_name, first_name, middle_name, birth_date, gender, email, city)
    submitted: dict[str, Any] = dict(zip(FIELDS, typed, strict=True))
    submitted["marketing_consent"] = marketing_consent == "yes"
    submitted["pd_consent"] = pd_consent == "yes"
    return _save(request, cid, submitted, version, form_id)


def _consented(request: Request, customer: Customer) -> bool:
    """Whether the customer agreed to the version of the consent the form asks for."""
    parts = cabinet(request)
    with parts.hub.unit_of_work() as uow:
        return has_consent(uow.session, customer.id, parts.settings.personal_data_consent_version)


def read_form(
    settings: Settings, customer: Customer, typed: dict[str, Any], t: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The form as typed → (what the form shows back, the changes for ``update_profile``, the
    problems by field). Invisible characters are dropped and names spaced as 1C gives them back;
    the changes are empty of problems exactly when 1C can hold them (see ``_refusals``)."""
    submitted: dict[str, Any] = {name: visible(str(typed.get(name, ""))).strip()[:200] for name in FIELDS}
    for name in NAME_FIELDS:  # as 1C will give it back: one space between words, none around "-"
        submitted[name] = normalize_name(submitted[name]) or ""
    submitted["marketing_consent"] = bool(typed.get("marketing_consent"))
    changes, problems = _changes(submitted, t)
    if not problems:
        problems = _refusals(settings, customer, changes, t)
    return submitted, changes, problems


def _save(request: Request, cid: int, typed: dict[str, Any], version: str, form_id: str) -> Response:
    parts = cabinet(request)
    t = translator(lang_of(request))
    submitted, changes, problems = read_form(parts.settings, _load(request, cid), typed, t)
    # The consent to personal-data processing (152-ФЗ) is required to keep a profile at all; it is
    # recorded, with its text's version and the time, in the transaction that saves the profile.
    submitted["pd_consent"] = bool(typed.get("pd_consent"))
    if not submitted["pd_consent"]:
        problems = {**problems, "pd_consent": t("pd_consent_required")}
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
            record_consent(uow, cid, parts.settings.personal_data_consent_version, origin=Origin.WEBSITE)
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
    flash(request, "profile_saved_not_delivered" if undelivered(request, cid) else "profile_saved")
    return see_other(STEP_URLS[step] if step.value in ("add_card", "choose") else "/")


def visible(text: str) -> str:
    """``text`` without control and invisible formatting characters (Unicode ``Cc`` and ``Cf``:
    U+202E RIGHT-TO-LEFT OVERRIDE, zero-width spaces, soft hyphens …): a person never means to type
    one, 1C's exchange fails on the first kind and the second makes a name display as another."""
    return "".join(char for char in text if unicodedata.category(char) not in ("Cc", "Cf", "Cs"))


#: What a name may hold: letters of any script (with their combining marks), spaces, hyphens,
#: apostrophes and dots ("Анна Мария", "Петров-Водкин", "O'Neil", "д'Артаньян", "St. John").
_NAME_PUNCTUATION = frozenset(" -'’.")


def _is_name(text: str) -> bool:
    return all(unicodedata.category(char)[0] in "LM" or char in _NAME_PUNCTUATION for char in text)


@functools.lru_cache(maxsize=4)
def _onec_profile(name: str, zone: Any) -> Profile:
    return load_profile(name, tz=zone)


def _refusals(settings: Settings, customer: Customer, changes: dict[str, Any], t: Any) -> dict[str, str]:
    """Problems only the form can tell, so that whatever it accepts reaches 1C and reads back the
    same (``tests/web_cabinet/test_profile_to_onec.py`` proves it through the emulator): names
    made of name characters, a required field that was filled is not emptied, and the values as
    the configured 1C profile (``onec_config``) writes them — one full-name string in Розница and
    УТ 11, where a first name without a surname, or a patronymic without a first name, would come
    back as another part."""
    problems: dict[str, str] = {}
    for name in (*NAME_FIELDS, "city"):
        if changes[name] and not _is_name(changes[name]):
            problems[name] = t("name_invalid") if name in NAME_FIELDS else t("field_invalid")
    for name in settings.profile_required_fields:
        if (
            name in changes
            and changes[name] in (None, "")
            and getattr(customer, name, None) not in (None, "")
        ):
            problems[name] = t("field_required")
    if problems:
        return problems
    profile = _onec_profile(settings.onec_config, settings.onec_zone)
    synced = set(profile.synced_fields("customer"))
    outgoing = {name: changes[name] for name in FIELDS if name in synced}
    found: list[MappingError] = []
    profile.customer_to_onec(outgoing, errors=found)
    for error in found:
        rules = [
            *profile.customer.rules,
            *(rule for kind in profile.contacts.kinds for rule in kind.fields.rules),
        ]
        rule = next((rule for rule in rules if rule.writes and error.field in rule.onec), None)
        hub = rule.hub if rule is not None else ()
        if set(NAME_FIELDS) <= set(hub):
            last, first, middle = (changes[name] for name in NAME_FIELDS)
            if first and not last:
                problems["last_name"] = t("name_needs_last")
            elif middle and not first:
                problems["first_name"] = t("name_needs_first")
            else:
                problems["first_name"] = t("name_not_for_store")
        elif hub:
            problems[hub[0]] = t(_ERROR_KEYS.get(hub[0], "field_invalid"))
        else:
            problems["last_name"] = t("name_not_for_store")
    return problems


def undelivered(request: Request, cid: int) -> str | None:
    """Why the customer's last profile change did not reach 1C, if it did not: the newest outbox
    message of the customer that finished ended in the dead letters (staff see it on the drift
    page, with the same reason)."""
    with cabinet(request).hub.unit_of_work() as uow:
        row = uow.session.execute(
            select(OutboxMessage.state, OutboxMessage.last_error)
            .where(
                OutboxMessage.topic == "customer",
                OutboxMessage.entity_id == cid,
                OutboxMessage.state.in_([SyncState.DONE, SyncState.DEAD, SyncState.PARKED]),
            )
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        ).first()
    if row is None or row.state is SyncState.DONE:
        return None
    return row.last_error or str(row.state.value)


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
