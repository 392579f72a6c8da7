"""The staff forms of the points program, read into the mappings ``bonusbridge.points.editing``
takes, with each problem kept by its field so the page shows it where it belongs.

Only the form's text is read here: numbers become ``Decimal`` from what staff type (a decimal comma,
spaces, a typographic minus are accepted; a float never appears), lists are comma-separated,
tiers one per line, moments local to the staff pages' time zone (the one the pages show moments
in). What the values mean — ranges, a real currency or time zone, tiers in order, no closed period,
no contradictory campaigns — stays the engine's to judge (``ProgramRules.parse``,
``Campaign.parse``, the store); ``engine_error`` places its refusal on the field it names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from bonusbridge.points.errors import ContradictoryCampaigns, PointsError, RetroactiveChange
from bonusbridge.points.program import WEEKDAYS, ProgramRules

#: A field's problem: a text key of ``web_cabinet.staff.texts`` and its parameters.
FieldError = tuple[str, dict[str, str]]
Errors = dict[str, FieldError]
GENERAL = "_form"  # a problem of the form as a whole

BOOLEAN = ("true", "false")
CHOICES: dict[str, tuple[str, ...]] = {
    "earn_base": ("gross", "net_of_vat"),
    "birthday": ("off", "day", "month"),
    "multiplier_policy": ("highest", "multiply"),
    "tier_downgrade": ("immediate", "grace", "one_step"),
}
_KINDS: dict[str, str] = {
    "currency": "text",
    "time_zone": "text",
    "earn_base": "choice",
    "earn_rate": "decimal",
    "point_value": "decimal",
    "spend_threshold": "decimal",
    "max_spend_points": "optional_decimal",
    "max_spend_share": "optional_decimal",
    "min_order_amount": "decimal",
    "partial_spending": "bool",
    "validity_months": "optional_int",
    "pending_days": "int",
    "excluded_categories": "names",
    "excluded_brands": "names",
    "exclude_discounted": "bool",
    "credit_notes_reduce_points": "bool",
    "advantages_reduce_base": "bool",
    "birthday": "choice",
    "birthday_multiplier": "decimal",
    "first_purchase_multiplier": "decimal",
    "multiplier_policy": "choice",
    "multiplier_cap": "optional_decimal",
    "tiers": "tiers",
    "tier_downgrade": "choice",
    "tier_grace_months": "int",
    "reminder_period_months": "optional_int",
    "reminder_horizon_months": "int",
}
#: How each program setting is typed on the form, in the order the form shows them. A setting the
#: engine has and this list lacks is not on the form, so a new version carries it over unchanged
#: (a test fails until it gets its field).
SETTING_KINDS: dict[str, str] = {
    name: kind for name, kind in _KINDS.items() if name in {f.name for f in fields(ProgramRules)}
}

CRITERIA = ("categories", "brands", "skus", "cities", "regions", "tiers", "programs")
CAMPAIGN_FIELDS = (
    "code", "name", "multiplier", "starts_at", "ends_at", "weekdays", "hours", *CRITERIA,
)  # fmt: skip
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what an <input type="datetime-local"> sends and shows


# --- single values -----------------------------------------------------------------------------------


def number_text(raw: str) -> str:
    """What staff type (``0,5``, ``1 000``, ``−3``) as Decimal's text."""
    return "".join(raw.replace("\u2212", "-").replace(",", ".").split())


def parse_decimal(raw: str) -> Decimal | None:
    try:
        number = Decimal(number_text(raw))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_whole(raw: str) -> int | None:
    text = number_text(raw)
    return int(text) if text.isdigit() else None


def names(raw: str) -> list[str]:
    return [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]


def local_moment(raw: str, zone: ZoneInfo) -> datetime | None:
    """A ``datetime-local`` value read in ``zone``; one with its own offset is taken as it is."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def local_input(moment: datetime | None, zone: ZoneInfo) -> str:
    return "" if moment is None else moment.astimezone(zone).strftime(LOCAL_INPUT)


# --- a program version ---------------------------------------------------------------------------


def setting_text(name: str, value: Any) -> str:
    """A setting's value (as ``ProgramRules.to_json`` gives it) as its form field shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name == "tiers":
        return "\n".join(f"{t['name']}; {t['min_spend']}; {t['earn_rate']}" for t in value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def version_fields(rules: ProgramRules) -> dict[str, str]:
    plain = rules.to_json()
    return {name: setting_text(name, plain[name]) for name in SETTING_KINDS}


def _tiers(raw: str) -> tuple[list[dict[str, Any]], FieldError | None]:
    tiers: list[dict[str, Any]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split(";")]
        if len(parts) != 3 or not parts[0]:
            return [], ("err_tiers", {"line": str(number)})
        spend, rate = parse_decimal(parts[1]), parse_decimal(parts[2])
        if spend is None or rate is None:
            return [], ("err_tiers", {"line": str(number)})
        tiers.append({"name": parts[0], "min_spend": spend, "earn_rate": rate})
    return tiers, None


def _setting(name: str, raw: str) -> tuple[Any, FieldError | None]:
    kind = SETTING_KINDS[name]
    text = raw.strip()
    if kind in ("optional_decimal", "optional_int") and not text:
        return None, None
    if kind == "names":
        return names(text), None
    if kind == "tiers":
        return _tiers(text)
    if not text:
        return None, ("err_required", {})
    if kind == "text":
        return text, None
    if kind in ("decimal", "optional_decimal"):
        number = parse_decimal(text)
        return number, None if number is not None else ("err_number", {})
    if kind in ("int", "optional_int"):
        whole = parse_whole(text)
        return whole, None if whole is not None else ("err_whole", {})
    allowed = BOOLEAN if kind == "bool" else CHOICES[name]
    if text not in allowed:
        return None, ("err_choice", {})
    return (text == "true") if kind == "bool" else text, None


def parse_version(form: Mapping[str, str], zone: ZoneInfo) -> tuple[dict[str, Any], Errors]:
    """Every setting and ``effective_from`` (empty: from the moment it is saved) → the raw version
    and the problems by field. A field missing from the post is an error, never a carried-over value."""
    raw: dict[str, Any] = {}
    errors: Errors = {}
    for name in SETTING_KINDS:
        if name not in form:
            errors[name] = ("err_required", {})
            continue
        value, error = _setting(name, form[name])
        if error is not None:
            errors[name] = error
        else:
            raw[name] = value
    when = form.get("effective_from", "").strip()
    if when:
        moment = local_moment(when, zone)
        if moment is None:
            errors["effective_from"] = ("err_datetime", {})
        raw["effective_from"] = moment
    else:
        raw["effective_from"] = ""
    return raw, errors


# --- a campaign ------------------------------------------------------------------------------------


def campaign_fields() -> dict[str, Any]:
    """An empty campaign form."""
    return {
        "code": "", "name": "", "multiplier": "", "starts_at": "", "ends_at": "", "weekdays": [],
        "hours_from": "", "hours_to": "", **dict.fromkeys(CRITERIA, ""),
    }  # fmt: skip


def _clock(raw: str) -> time | None:
    try:
        return time.fromisoformat(raw.strip())
    except ValueError:
        return None


def parse_campaign(
    form: Mapping[str, str], weekdays: list[str], zone: ZoneInfo
) -> tuple[dict[str, Any], Errors]:
    """The campaign form → the raw campaign (``starts_at`` empty: from the moment it is saved) and
    the problems by field."""
    errors: Errors = {}
    raw: dict[str, Any] = {"code": form.get("code", "").strip(), "name": form.get("name", "").strip()}
    if not raw["code"]:
        errors["code"] = ("err_required", {})
    multiplier = parse_decimal(form.get("multiplier", ""))
    if multiplier is None:
        errors["multiplier"] = (
            ("err_number", {}) if form.get("multiplier", "").strip() else ("err_required", {})
        )
    raw["multiplier"] = multiplier
    starts = form.get("starts_at", "").strip()
    raw["starts_at"] = local_moment(starts, zone) if starts else ""
    if starts and raw["starts_at"] is None:
        errors["starts_at"] = ("err_datetime", {})
    ends = form.get("ends_at", "").strip()
    raw["ends_at"] = local_moment(ends, zone) if ends else None
    if raw["ends_at"] is None:
        errors["ends_at"] = ("err_datetime", {}) if ends else ("err_required", {})
    unknown = [day for day in weekdays if day not in WEEKDAYS]
    if unknown:
        errors["weekdays"] = ("err_choice", {})
    raw["weekdays"] = [day for day in WEEKDAYS if day in weekdays]
    start_text, end_text = form.get("hours_from", "").strip(), form.get("hours_to", "").strip()
    raw["hours"] = None
    if start_text or end_text:
        start, end = _clock(start_text), _clock(end_text)
        if start is None or end is None:
            errors["hours"] = ("err_hours", {})
        else:
            raw["hours"] = f"{start:%H:%M}-{end:%H:%M}"
    for key in CRITERIA:
        raw[key] = names(form.get(key, ""))
    return raw, errors


# --- the engine's refusals -----------------------------------------------------------------------------


def engine_error(exc: PointsError, known: tuple[str, ...]) -> tuple[str, FieldError]:
    """Where the engine's refusal belongs on the form, and what it says. Its messages start with
    the setting they are about (``earn_rate: …``, ``tiers.1.min_spend: …``, ``campaign X: hours …``);
    one about no known field goes to the form as a whole."""
    message = str(exc)
    if isinstance(exc, RetroactiveChange):
        return ("starts_at" if message.startswith("campaign") else "effective_from"), ("err_past", {})
    if isinstance(exc, ContradictoryCampaigns):
        return GENERAL, ("err_contradiction", {"detail": message})
    if message.startswith("a version already takes effect"):
        return "effective_from", ("err_taken", {})
    if message.startswith("campaign ") and message.endswith("campaigns are not edited"):
        return "code", ("err_code_taken", {})
    head = message.split(": ", 1)[1] if message.startswith("campaign") and ": " in message else message
    match = re.match(r"[a-z_]+", head)
    field = match.group(0) if match else ""
    if field not in known:
        field = "weekdays" if "weekday" in head else "code" if " code " in f" {head} " else GENERAL
    if field not in known:
        field = GENERAL
    return field, ("err_refused", {"detail": message})
