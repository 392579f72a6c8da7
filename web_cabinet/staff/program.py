"""The points program in the staff back office (issue 8, item 1: rules and campaigns "editable by
staff with a role and an audit trail").

``/staff/program`` lists the versions (effective from, by whom, why, what each changed against the
one before), the settings in force now, the campaigns with their state, and the latest program
entries of the audit trail. ``marketing`` and ``admin`` also get the forms: a new version (every
setting prefilled with the latest version's values), a new campaign, and "end now" on each running
or scheduled campaign. ``viewer`` reads; any other role (``migration``) gets 403: the program is
not its business.

Every write goes through ``bonusbridge.points.editing`` with actor ``staff:<login>`` and the reason
typed on the form, so it is audited in the same transaction, and a refusal (with its field on the
form) writes nothing. Each rendered form carries a random ``form_id``, and the edit's key is
``staff-program:<form_id>``: a resent form edits once (flash "already sent"), a form reused for
other values is 409 — as the back office's adjustments. CSRF is checked on every POST by the
router's ``verify_csrf``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form
from sqlalchemy import Connection, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge import audit
from bonusbridge.points import editing
from bonusbridge.points import store as points_store
from bonusbridge.points.errors import BeforeProgramStart, PointsError, RetroactiveChange
from bonusbridge.points.program import WEEKDAYS, Campaign, Program, ProgramRules
from web_cabinet.staff.auth import Principal, Role
from web_cabinet.staff.pages import (
    StaffParts,
    Who,
    flash,
    parts_of,
    principal,
    render,
    require_role,
    see_other,
    verify_csrf,
)
from web_cabinet.staff.program_forms import (
    CAMPAIGN_FIELDS,
    CHOICES,
    CRITERIA,
    GENERAL,
    SETTING_KINDS,
    Errors,
    campaign_fields,
    engine_error,
    parse_campaign,
    parse_version,
    version_fields,
)
from web_cabinet.staff.texts import STAFF_TEXTS

router = APIRouter(dependencies=[Depends(verify_csrf), Depends(principal)])

AUDIT_SHOWN = 50
EDITORS = frozenset({Role.MARKETING, Role.ADMIN})
READERS = EDITORS | {Role.VIEWER}


def may_edit_program(who: Principal) -> bool:
    return bool(who.roles & EDITORS)


async def posted(request: Request) -> FormData:
    """The posted form (already read by ``verify_csrf``; Starlette keeps it)."""
    return await request.form()


Posted = Annotated[FormData, Depends(posted)]


def new_form_id() -> str:
    return secrets.token_hex(16)


def valid_form_id(value: str) -> bool:
    return len(value) == 32 and all(ch in "0123456789abcdef" for ch in value)


def _key(form_id: str) -> str:
    return f"staff-program:{form_id}"


def _actor(who: Principal) -> str:
    return f"staff:{who.login}"


def _zone(parts: StaffParts) -> ZoneInfo:
    # The zone the staff pages show moments in: a moment typed on a form is read in it too.
    return ZoneInfo(parts.settings.sms_default_time_zone)


def _text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _render(request: Request, template: str, context: dict[str, Any], status: int) -> Response:
    # ``known_texts``: a setting the engine gained after these texts is shown by its name.
    return render(request, template, {**context, "known_texts": STAFF_TEXTS}, status=status)


# --- the page -------------------------------------------------------------------------------------


@dataclass
class CampaignRow:
    campaign: Campaign
    state: str
    created_by: str
    form_id: str


def _campaign_rows(conn: Connection, campaigns: tuple[Campaign, ...], now: datetime) -> list[CampaignRow]:
    table = points_store.campaigns_table
    authors = {code: by for code, by in conn.execute(select(table.c.code, table.c.created_by))}
    order = {"running": 0, "scheduled": 1, "ended": 2}
    rows = [
        CampaignRow(c, editing.campaign_state(c, now), authors.get(c.code, ""), new_form_id())
        for c in campaigns
    ]
    return sorted(rows, key=lambda r: (order[r.state], r.campaign.starts_at, r.campaign.code))


def _in_force(program: Program, now: datetime) -> tuple[ProgramRules | None, bool]:
    """The rules in force now (None: the first version takes effect later), and whether they are
    the default program built from the hub's settings (no version stored yet)."""
    try:
        version = program.version_at(now)
    except BeforeProgramStart:
        return None, False
    return version.rules, version.id is None


def _program_page(
    request: Request,
    who: Principal,
    *,
    end_form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    parts = parts_of(request)
    now = parts.clock()
    with parts.engine.connect() as conn:
        program = points_store.load(conn, parts.settings)
        rules, is_default = _in_force(program, now)
        history = editing.version_history(conn)
        campaigns = _campaign_rows(conn, program.campaigns, now)
        entries = audit.entries(conn, action_prefix=editing.PROGRAM_ACTIONS, limit=AUDIT_SHOWN)
    current = rules.to_json() if rules is not None else None
    end_form = dict(end_form or {})
    # a refused "end" shows by its campaign's form, or above the table when that form is gone
    open_codes = {r.campaign.code for r in campaigns if r.state != "ended"}
    end_form["inline"] = end_form.get("code") in open_codes
    context = {
        "may_edit": may_edit_program(who),
        "settings_order": list(SETTING_KINDS),
        "current": current,
        "is_default": is_default,
        "versions": list(reversed(history)),
        "campaigns": campaigns,
        "entries": entries,
        "end_form": end_form,
        "weekday_names": WEEKDAYS,
        "criteria": CRITERIA,
        "parse_iso": datetime.fromisoformat,
    }
    return _render(request, "staff/program.html", context, status)


@router.get("/program")
def program_page(request: Request, who: Who) -> Response:
    require_role(who, READERS)
    return _program_page(request, who)


# --- a new version --------------------------------------------------------------------------------


def _version_page(
    request: Request,
    *,
    values: dict[str, str],
    effective_from: str,
    reason: str,
    form_id: str,
    errors: Errors | None = None,
    status: int = 200,
) -> Response:
    parts = parts_of(request)
    with parts.engine.connect() as conn:
        first = points_store.load(conn, parts.settings).versions[-1].id is None
    context = {
        "first": first,  # no version stored: until the first takes effect no rules are in force
        "kinds": SETTING_KINDS,
        "choices": CHOICES,
        "values": values,
        "effective_from": effective_from,
        "reason": reason,
        "form_id": form_id,
        "errors": errors or {},
        "zone": parts.settings.sms_default_time_zone,
    }
    return _render(request, "staff/program_version.html", context, status)


@router.get("/program/versions/new")
def version_form(request: Request, who: Who) -> Response:
    require_role(who, EDITORS)
    parts = parts_of(request)
    with parts.engine.connect() as conn:
        latest = points_store.load(conn, parts.settings).versions[-1].rules
    return _version_page(
        request, values=version_fields(latest), effective_from="", reason="", form_id=new_form_id()
    )


@router.post("/program/versions")
def version_submit(request: Request, who: Who, form: Posted) -> Response:
    require_role(who, EDITORS)
    parts = parts_of(request)
    values = {name: _text(form, name) for name in SETTING_KINDS if name in form}
    effective_from, reason, form_id = (
        _text(form, "effective_from", 64),
        _text(form, "reason"),
        _text(form, "form_id"),
    )
    shown = {name: values.get(name, "") for name in SETTING_KINDS}

    def refuse(errors: Errors, status: int = 422, *, fresh_form: bool = False) -> Response:
        return _version_page(
            request, values=shown, effective_from=effective_from, reason=reason,
            form_id=new_form_id() if fresh_form else form_id, errors=errors, status=status,
        )  # fmt: skip

    return _save(
        request,
        who,
        refuse,
        form_id=form_id,
        reason=reason,
        parse=lambda: parse_version({**values, "effective_from": effective_from}, _zone(parts)),
        edit=editing.add_version,
        fields=(*SETTING_KINDS, "effective_from"),
        done=lambda edit: flash(request, "program_version_added", id=str(edit.version_id)),
    )


def _save(
    request: Request,
    who: Principal,
    refuse: Callable[..., Response],
    *,
    form_id: str,
    reason: str,
    parse: Callable[[], tuple[dict[str, Any], Errors]],
    edit: Callable[..., editing.Edit],
    fields: Iterable[str],
    done: Callable[[editing.Edit], None],
) -> Response:
    """The save of a version or campaign form: the form id, the fields and the reason checked
    first (nothing written on an error, shown next to its field), then the edit and its audit row
    in one transaction, keyed by the form so a resent form saves once."""
    if not valid_form_id(form_id):
        return refuse({GENERAL: ("program_form_reused", {})}, 409, fresh_form=True)
    raw, errors = parse()
    if not reason.strip():
        errors["reason"] = ("reason_required", {})
    if errors:
        return refuse(errors)
    parts = parts_of(request)
    try:
        with parts.engine.begin() as conn:
            made = edit(
                conn, parts.settings, raw, now=parts.clock(), actor=_actor(who), reason=reason,
                key=_key(form_id),
            )  # fmt: skip
    except editing.ReusedKey:
        return refuse({GENERAL: ("program_form_reused", {})}, 409, fresh_form=True)
    except editing.MissingReason:
        return refuse({"reason": ("reason_required", {})})
    except PointsError as exc:
        field, error = engine_error(exc, tuple(fields))
        return refuse({field: error})
    if made.replayed:
        flash(request, "program_replayed")
    else:
        done(made)
    return see_other("/staff/program")


# --- a new campaign -------------------------------------------------------------------------------


def _campaign_page(
    request: Request,
    *,
    values: dict[str, Any],
    reason: str,
    form_id: str,
    errors: Errors | None = None,
    status: int = 200,
) -> Response:
    context = {
        "values": values,
        "reason": reason,
        "form_id": form_id,
        "errors": errors or {},
        "weekday_names": WEEKDAYS,
        "criteria": CRITERIA,
        "zone": parts_of(request).settings.sms_default_time_zone,
    }
    return _render(request, "staff/program_campaign.html", context, status)


@router.get("/program/campaigns/new")
def campaign_form(request: Request, who: Who) -> Response:
    require_role(who, EDITORS)
    return _campaign_page(request, values=campaign_fields(), reason="", form_id=new_form_id())


@router.post("/program/campaigns")
def campaign_submit(request: Request, who: Who, form: Posted) -> Response:
    require_role(who, EDITORS)
    parts = parts_of(request)
    texts = {name: _text(form, name, 500) for name in campaign_fields() if name != "weekdays"}
    weekdays = [day for day in form.getlist("weekdays") if isinstance(day, str)][:7]
    reason, form_id = _text(form, "reason"), _text(form, "form_id")
    shown: dict[str, Any] = {**texts, "weekdays": weekdays}

    def refuse(errors: Errors, status: int = 422, *, fresh_form: bool = False) -> Response:
        return _campaign_page(
            request, values=shown, reason=reason, form_id=new_form_id() if fresh_form else form_id,
            errors=errors, status=status,
        )  # fmt: skip

    return _save(
        request,
        who,
        refuse,
        form_id=form_id,
        reason=reason,
        parse=lambda: parse_campaign(texts, weekdays, _zone(parts)),
        edit=editing.add_campaign,
        fields=CAMPAIGN_FIELDS,
        done=lambda edit: flash(request, "program_campaign_added", code=edit.subject.split(":", 1)[1]),
    )


# --- ending a campaign ----------------------------------------------------------------------------


@router.post("/program/campaigns/end")
def campaign_end(
    request: Request,
    who: Who,
    code: str = Form(""),
    reason: str = Form(""),
    form_id: str = Form(""),
) -> Response:
    require_role(who, EDITORS)
    parts = parts_of(request)
    code, reason = code.strip()[:64], reason[:2000]

    def refuse(key: str, status: int = 422, params: dict[str, str] | None = None) -> Response:
        end_form = {"code": code, "reason": reason, "error": key, "params": params or {}}
        return _program_page(request, who, end_form=end_form, status=status)

    if not valid_form_id(form_id):
        return refuse("program_form_reused", 409)
    if not reason.strip():
        return refuse("reason_required")
    try:
        with parts.engine.begin() as conn:
            edit = editing.end_campaign(
                conn, parts.settings, code, now=parts.clock(), actor=_actor(who), reason=reason,
                key=_key(form_id),
            )  # fmt: skip
    except editing.ReusedKey:
        return refuse("program_form_reused", 409)
    except editing.UnknownCampaign:
        return refuse("program_unknown_campaign", 404)
    except RetroactiveChange:  # no moment is sent from here: the campaign has ended meanwhile
        return refuse("program_already_ended")
    except PointsError as exc:
        _, (key, params) = engine_error(exc, ())
        return refuse(key, params=params)
    if edit.replayed:
        flash(request, "program_replayed")
    elif edit.details.get("cancelled"):
        flash(request, "program_campaign_cancelled", code=code)
    else:
        flash(request, "program_campaign_ended", code=code)
    return see_other("/staff/program")
