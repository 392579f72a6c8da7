"""The staff sub-app: login, the reports, the merge log with unmerge, and the progress chart.

Personal data (decision): phones and names are masked for every role (nobody needs them to judge
an import, a drift or a merge), and so are profile values in drift reports (a name, phone, e-mail
or birth date as the hub and 1C hold it) except for ``admin``, who decides repairs. Card numbers
are masked for ``viewer`` and shown in full to ``migration`` and ``admin`` on import issues (they
must find the row in the export and the card in 1C); the merge log comes masked from the merge
engine itself. Ids of cards and customers are not personal data and are shown.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path, PurePath
from types import ModuleType
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Form, Query
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from bonusbridge.errors import BonusBridgeError
from bonusbridge.models import CardMerge, LegacyImportBatch, LegacyImportIssue, LegacyImportRun
from bonusbridge.privacy import mask_card_number, mask_name, mask_phone, mask_phones_in
from bonusbridge.settings import Settings
from bonusbridge.unit_of_work import UnitOfWork
from reconciliation.progress import progress_history
from web_cabinet import formats
from web_cabinet.i18n import LANG_COOKIE, LOCALES, choose_locale
from web_cabinet.security import ids_out_of_range
from web_cabinet.session_store import STAFF, SessionStore, session_store
from web_cabinet.staff.auth import LoginOutcome, Principal, Role, load_principal, try_login
from web_cabinet.staff.chart import progress_svg
from web_cabinet.staff.session import StaffCodec, StaffSession, StaffSessionMiddleware
from web_cabinet.staff.texts import STAFF_TEXTS, column_label, reason_label, staff_translator, value_label
from web_cabinet.staff.undelivered import unapplied_changes, undelivered_changes

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))
NAME_FIELDS = {"last_name", "first_name", "middle_name", "name", "full_name"}
#: Profile fields whose values a drift report carries as they are: personal data.
PERSONAL_FIELDS = NAME_FIELDS | {"phone", "phone_e164", "email", "birth_date", "city", "gender"}
#: Lists shown inside their row's cell (a merge's absorbed cards) rather than as a table.
NESTED_INLINE = {"absorbed", "cards", "errors"}


#: A card number inside a text ("merged into GOLD77001", "перенесено с 2000000000035"): letters then
#: at least four digits, or eight digits and more (amounts, dates and ids are shorter).
_CARD_IN_TEXT = re.compile(r"\b(?:[A-Za-zА-Яа-яЁё]{1,12}\d{4,}|\d{8,})[A-Za-z0-9]*\b")


def mask_numbers_in(text: str | None) -> str | None:
    """``text`` with every card number in it masked (for the ``viewer`` role, on every page)."""
    if not text:
        return text
    return _CARD_IN_TEXT.sub(lambda match: mask_card_number(match.group(0)), text)


#: An e-mail address inside a text.
_EMAIL_IN_TEXT = re.compile(r"[^@\s<>()\[\],;:\"']+@[^@\s<>()\[\],;:\"']+\.[^@\s<>()\[\],;:\"'.]+\b")
#: A person's name inside a text: two or three capitalised words in a row ("Петрова Мария",
#: "Anna-Maria O'Neil", "Иванов Иван Иванович"). A lone word or a sentence's first word is left.
_WORD = r"[A-ZА-ЯЁ](?:[a-zа-яё]+|(?=['’]))(?:[-'’][A-ZА-ЯЁ]?[a-zа-яё]+)*"
_NAME_IN_TEXT = re.compile(rf"(?<![\w-]){_WORD}(?:\s+{_WORD}){{1,2}}(?![\w-])")


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_personal_data_in(text: str | None) -> str | None:
    """``text`` as the ``viewer`` role may read it: card numbers (``mask_numbers_in``), phones
    (``privacy.mask_phones_in``), e-mail addresses and names (each word as ``privacy.mask_name``)
    masked. Free text typed by staff (a version's note, an audit reason) may name a customer."""
    if not text:
        return text
    text = _EMAIL_IN_TEXT.sub(lambda match: mask_email(match.group(0)), text)
    text = mask_numbers_in(text) or ""  # before phones: a card's thirteen digits are no phone
    text = mask_phones_in(text)
    return _NAME_IN_TEXT.sub(lambda match: " ".join(mask_name(w) for w in match.group(0).split()), text)


class StaffLoginRequired(Exception):
    pass


class StaffForbidden(Exception):
    pass


def require_role(who: Principal, roles: frozenset[Role]) -> None:
    """Refuse the page (403) unless ``who`` holds one of ``roles``."""
    if not who.roles & roles:
        raise StaffForbidden


class StaffCsrfRefused(Exception):
    pass


class StaffNotFound(Exception):
    pass


@dataclasses.dataclass
class StaffParts:
    settings: Settings
    engine: Engine
    clock: Callable[[], datetime]
    sessions: SessionStore


def parts_of(request: Request) -> StaffParts:
    parts: StaffParts = request.app.state.staff
    return parts


def session_of(request: Request) -> StaffSession:
    session: StaffSession = request.state.staff
    return session


def lang_of(request: Request) -> str:
    return choose_locale(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def flash(request: Request, key: str, **params: str) -> None:
    session_of(request)["flash"] = [key, params]


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> Response:
    lang = lang_of(request)
    session = session_of(request)
    t = staff_translator(lang)
    message = None
    taken = session.pop("flash", None)
    if isinstance(taken, list) and len(taken) == 2 and taken[0] in STAFF_TEXTS:
        message = t(taken[0], **(taken[1] or {}))
    zone = ZoneInfo(parts_of(request).settings.sms_default_time_zone)

    def moment(value: datetime | None) -> str:
        return formats.moment(value, lang, zone)

    def day(value: date) -> str:
        return formats.day(value, lang, zone)

    def cell(value: Any) -> str:
        """A table value in the page's language: times in the chain's zone, points with two
        decimals, codes ("False", "website", "gross" …) and the hub's reasons translated."""
        if isinstance(value, datetime):
            return moment(value)
        if isinstance(value, date):
            return day(value)
        if isinstance(value, Decimal):
            return formats.points(value, lang)
        return reason_label(value_label(value, lang), lang)

    who = getattr(request.state, "principal", None)

    def shown(text: str | None) -> str:
        """Free text (a reason, a note) as this role may read it: for ``viewer`` card numbers and
        personal data in it masked (``mask_personal_data_in``)."""
        masked = who is not None and not who.sees_issue_details
        return (mask_personal_data_in(text) or "") if masked else (text or "")

    page: dict[str, Any] = {
        "lang": lang,
        "t": t,
        "csrf_token": session["csrf"],
        "flash": message,
        "here": request.url.path,
        "moment": moment,
        "day": day,
        "principal": getattr(request.state, "principal", None),
        "label": lambda name: column_label(name, lang),
        "cell": cell,
        "points": lambda value: formats.points(value, lang),
        "reason": lambda text: shown(reason_label(text, lang)),
        "free_text": shown,  # staff's own words (notes, audit reasons): masked as reasons are
    }
    page.update(context or {})
    return TEMPLATES.TemplateResponse(request, template, page, status_code=status)


async def verify_csrf(request: Request) -> None:
    if request.method != "POST":
        return
    if getattr(request.state, "staff_expired", False):
        raise StaffLoginRequired
    form = await request.form()
    given = form.get("csrf_token")
    expected = session_of(request).get("csrf")
    if not isinstance(given, str) or not isinstance(expected, str):
        raise StaffCsrfRefused
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise StaffCsrfRefused


def principal(request: Request) -> Principal:
    """FastAPI dependency of every page but the login: the logged-in staff member."""
    session = session_of(request)
    staff_id = session.get("staff_id")
    found = load_principal(parts_of(request).engine, staff_id) if isinstance(staff_id, int) else None
    if found is None:
        if isinstance(staff_id, int):  # disabled or deleted meanwhile: out
            session.rotate()
        raise StaffLoginRequired
    request.state.principal = found
    return found


Who = Annotated[Principal, Depends(principal)]

public = APIRouter(dependencies=[Depends(verify_csrf)])
router = APIRouter(dependencies=[Depends(verify_csrf), Depends(principal)])


# --- login, logout, language -------------------------------------------------------------------


@public.get("/login")
def login_page(request: Request) -> Response:
    if getattr(request.state, "staff_expired", False):
        flash(request, "session_expired")
    return render(request, "staff/login.html", {"login": ""})


@public.post("/login")
def login_submit(request: Request, login: str = Form(""), password: str = Form("")) -> Response:
    parts = parts_of(request)
    ip = request.client.host if request.client else "unknown"
    outcome, found = try_login(parts.engine, parts.settings, login, password, ip, parts.clock)
    if outcome is LoginOutcome.OK and found is not None:
        session = session_of(request)
        session.rotate()  # a session id planted before login is worthless after it
        session["staff_id"] = found.id
        lifetime = timedelta(seconds=parts.settings.staff_session_absolute_seconds)
        parts.sessions.open(STAFF, session["sid"], found.id, parts.clock(), lifetime)
        return see_other("/staff/progress")
    error, status = ("login_throttled", 429) if outcome is LoginOutcome.THROTTLED else ("login_refused", 401)
    return render(request, "staff/login.html", {"login": login[:64], "error": error}, status=status)


@public.post("/logout")
def logout(request: Request) -> Response:
    session = session_of(request)
    if isinstance(session.get("staff_id"), int):  # the record goes: the old cookie opens nothing
        parts_of(request).sessions.end(STAFF, session["sid"])
    session.rotate()
    flash(request, "logged_out")
    return see_other("/staff/login")


@public.post("/lang")
def switch_language(request: Request, lang: str = Form(""), next: str = Form("/staff/")) -> Response:
    target = next if next.startswith("/staff/") and "\\" not in next and "//" not in next else "/staff/"
    response = see_other(target)
    if lang in LOCALES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax",
            secure=request.url.scheme == "https",
        )  # fmt: skip
    return response


@router.get("/")
def index() -> Response:
    return see_other("/staff/progress")


# --- progress --------------------------------------------------------------------------------------


@router.get("/progress")
def progress_page(request: Request, days: int = Query(30, ge=2, le=366)) -> Response:
    parts = parts_of(request)
    zone = parts.settings.sms_default_time_zone
    points = progress_history(parts.engine, days, clock=parts.clock, time_zone=zone)
    t = staff_translator(lang_of(request))
    today = points[-1] if points else None
    summary = (
        t("progress_summary", share=str(today.share), bound=today.bound_verified, active=today.active_cards,
          days=len(points))
        if today is not None
        else t("no_data")
    )  # fmt: skip
    svg = progress_svg(points, title=t("progress_title"), summary=summary, day_label=t("col_day"))
    return render(
        request,
        "staff/progress.html",
        {"points": points, "svg": svg, "summary": summary, "days": days},
    )


# --- legacy imports ------------------------------------------------------------------------------


@router.get("/imports")
def imports_page(request: Request) -> Response:
    with Session(parts_of(request).engine) as session:
        runs = list(session.scalars(select(LegacyImportRun).order_by(LegacyImportRun.started_at.desc())))
        batches = {
            plan: (count, created or 0, skipped or 0)
            for plan, count, created, skipped in session.execute(
                select(
                    LegacyImportBatch.plan_hash,
                    func.count(),
                    func.sum(LegacyImportBatch.created),
                    func.sum(LegacyImportBatch.skipped),
                ).group_by(LegacyImportBatch.plan_hash)
            )
        }
        issues = dict(
            session.execute(
                select(LegacyImportIssue.plan_hash, func.count()).group_by(LegacyImportIssue.plan_hash)
            ).all()
        )
    rows = [
        {
            "run": run,
            "done": batches.get(run.plan_hash, (0, 0, 0))[0],
            "created": batches.get(run.plan_hash, (0, 0, 0))[1],
            "skipped": batches.get(run.plan_hash, (0, 0, 0))[2],
            "issues": issues.get(run.plan_hash, 0),
        }
        for run in runs
    ]
    return render(request, "staff/imports.html", {"rows": rows})


@router.get("/imports/{plan_hash}")
def import_page(request: Request, plan_hash: str, who: Who) -> Response:
    with Session(parts_of(request).engine) as session:
        run = session.get(LegacyImportRun, plan_hash)
        if run is None:
            raise StaffNotFound
        done = session.execute(
            select(
                func.count(), func.sum(LegacyImportBatch.created), func.sum(LegacyImportBatch.skipped)
            ).where(LegacyImportBatch.plan_hash == plan_hash)
        ).one()
        by_kind = session.execute(
            select(LegacyImportIssue.kind, func.count())
            .where(LegacyImportIssue.plan_hash == plan_hash)
            .group_by(LegacyImportIssue.kind)
            .order_by(LegacyImportIssue.kind)
        ).all()
        issues: list[LegacyImportIssue] = []
        if who.sees_issue_details:
            issues = list(
                session.scalars(
                    select(LegacyImportIssue)
                    .where(LegacyImportIssue.plan_hash == plan_hash)
                    .order_by(LegacyImportIssue.id)
                    .limit(1000)
                )
            )
    try:
        raw_sources = json.loads(run.sources)
    except ValueError:
        raw_sources = []
    sources = [
        {"file": PurePath(str(s.get("file", ""))).name, "program": s.get("program", "")}
        for s in raw_sources
        if isinstance(s, dict)
    ]
    files = {index: s["file"] for index, s in enumerate(sources)}
    return render(
        request,
        "staff/import.html",
        {
            "run": run,
            "done": done[0] or 0,
            "created": done[1] or 0,
            "skipped": done[2] or 0,
            "by_kind": by_kind,
            "issues": issues,
            "files": files,
            "sources": sources,
        },
    )


# --- drift and merges (the other engineer's engines, looked up at request time) -----------------


def _engine_module(name: str, *functions: str) -> ModuleType | None:
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    return module if all(callable(getattr(module, f, None)) for f in functions) else None


def _is_record(value: Any) -> bool:
    return (
        (dataclasses.is_dataclass(value) and not isinstance(value, type))
        or isinstance(value, dict)
        or hasattr(value, "_mapping")
        or (hasattr(value, "__dict__") and not isinstance(value, type | str | bytes))
    )


def _plain(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return dict(value)
    mapping = getattr(value, "_mapping", None)
    if mapping is not None:
        return dict(mapping)
    return {k: v for k, v in vars(value).items() if not k.startswith("_")}


def _scalar(key: str, value: Any, who: Principal) -> str:
    """One value as staff may see it (see the module's note on personal data)."""
    if value is None:
        return ""
    name = key.lower()
    if "phone" in name:
        return mask_phone(str(value))
    if name in NAME_FIELDS:
        return mask_name(str(value))
    if "number" in name and "masked" not in name and not who.sees_issue_details:
        return mask_card_number(str(value))
    if isinstance(value, datetime | date | Decimal | bool):
        return value  # type: ignore[return-value]  # formatted by the page (``render``'s ``cell``)
    if isinstance(value, str) and not who.sees_issue_details:
        return mask_numbers_in(value) or ""
    return str(value)


def _cell(key: str, value: Any, who: Principal, row: dict[str, Any]) -> str | None:
    """A table cell; None for a list of records (shown as a table of its own)."""
    if isinstance(value, list | tuple):
        if value and all(_is_record(item) for item in value) and key not in NESTED_INLINE:
            return None
        parts = []
        for item in value:
            if _is_record(item):
                plain = _plain(item)
                parts.append(
                    " ".join(str(_scalar(k, v, who)) for k, v in plain.items() if not k.endswith("_id"))
                )
            else:
                parts.append(str(_scalar(key, item, who)))
        return "; ".join(parts)
    if _is_record(value) and not isinstance(value, datetime | date | Decimal):
        return None
    # a drift item's values are a profile field's: personal unless the field is not
    if key in ("hub_value", "onec_value") and str(row.get("field", "")).lower() in PERSONAL_FIELDS:
        if value is None or Role.ADMIN in who.roles:
            return _scalar(key, value, who)
        if "phone" in str(row.get("field", "")).lower():
            return mask_phone(str(value))
        return mask_name(str(value))
    return _scalar(key, value, who)


def _shown(value: Any) -> Any:
    return "" if value is None else value


def _table(items: list[Any], who: Principal) -> dict[str, Any]:
    rows = [_plain(item) for item in items if _is_record(item)]
    columns: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in columns and _cell(key, value, who, row) is not None:
                columns.append(key)
    return {
        "columns": columns,
        "rows": [{key: _shown(_cell(key, row.get(key), who, row)) for key in columns} for row in rows],
        "raw": rows,
    }


@router.get("/drift")
def drift_page(request: Request, who: Who) -> Response:
    drift = _engine_module("reconciliation.drift", "list_drift_reports", "drift_report")
    table = None
    if drift is not None:
        with Session(parts_of(request).engine) as session:
            table = _table(list(drift.list_drift_reports(session, 100)), who)
    with Session(parts_of(request).engine) as session:
        undelivered = undelivered_changes(session)
        unapplied = unapplied_changes(session)
    return render(
        request,
        "staff/drift.html",
        {"table": table, "available": drift is not None, "undelivered": undelivered, "unapplied": unapplied},
    )


@router.get("/drift/{report_id}")
def drift_report_page(request: Request, report_id: int, who: Who) -> Response:
    drift = _engine_module("reconciliation.drift", "list_drift_reports", "drift_report")
    if drift is None:
        raise StaffNotFound
    with Session(parts_of(request).engine) as session:
        report = drift.drift_report(session, report_id)
        if report is None:
            raise StaffNotFound
        plain = _plain(report)
        fields = {k: _cell(k, v, who, plain) for k, v in plain.items()}
        fields = {k: v for k, v in fields.items() if v is not None}
        nested = {
            k: _table(list(v), who)
            for k, v in plain.items()
            if isinstance(v, list | tuple) and v and _cell(k, v, who, plain) is None
        }
    return render(
        request, "staff/drift_report.html", {"report_id": report_id, "fields": fields, "nested": nested}
    )


def _merge_id(row: dict[str, Any]) -> int | None:
    for key in ("id", "merge_id"):
        if isinstance(row.get(key), int):
            value: int = row[key]
            return value
    return None


def _undone(row: dict[str, Any]) -> bool:
    return any(bool(row.get(key)) for key in ("unmerged_at", "unmerged", "undone_at", "reverted_at"))


@router.get("/merges")
def merges_page(request: Request, who: Who, offset: int = Query(0, ge=0)) -> Response:
    merges = _engine_module("reconciliation.merges", "list_merges", "unmerge")
    table = None
    actions: list[int | None] = []
    if merges is not None:
        with Session(parts_of(request).engine) as session:
            table = _table(list(merges.list_merges(session, limit=100, offset=offset)), who)
        actions = [None if _undone(row) or not who.may_unmerge else _merge_id(row) for row in table["raw"]]
    return render(
        request,
        "staff/merges.html",
        {"table": table, "actions": actions, "available": merges is not None, "offset": offset},
    )


@router.get("/merges/{merge_id}/unmerge")
def unmerge_form(request: Request, merge_id: int, who: Who) -> Response:
    if not who.may_unmerge:
        raise StaffForbidden
    merges = _engine_module("reconciliation.merges", "list_merges", "unmerge")
    with Session(parts_of(request).engine) as session:
        exists = getattr(merges, "merge_exists", None)  # an engine may say; else the merge log's table
        found = (
            exists(session, merge_id) if callable(exists) else session.get(CardMerge, merge_id) is not None
        )
    if merges is None or not found:
        raise StaffNotFound
    return render(
        request,
        "staff/unmerge.html",
        {"merge_id": merge_id, "form_id": secrets.token_hex(16), "reason": ""},
    )


@router.post("/merges/{merge_id}/unmerge")
def unmerge_submit(
    request: Request,
    merge_id: int,
    who: Who,
    reason: str = Form(""),
    form_id: str = Form(""),
    allow_partial: str = Form(""),
) -> Response:
    if not who.may_unmerge:
        raise StaffForbidden
    merges = _engine_module("reconciliation.merges", "list_merges", "unmerge")
    if merges is None:
        raise StaffNotFound
    reason = reason.strip()
    valid_form = len(form_id) == 32 and all(ch in "0123456789abcdef" for ch in form_id)
    if not reason or not valid_form:
        return render(
            request,
            "staff/unmerge.html",
            {"merge_id": merge_id, "form_id": form_id if valid_form else secrets.token_hex(16),
             "reason": reason, "error": "reason_required"},
            status=422,
        )  # fmt: skip
    parts = parts_of(request)
    actor = f"staff:{who.login}"  # recorded as the merge log's ``unmerged_by``
    try:
        with UnitOfWork(parts.engine, clock=parts.clock) as uow:
            # only when asked: giving back less than was moved (points spent since) is a decision
            extra = {"allow_partial": True} if allow_partial == "yes" else {}
            merges.unmerge(
                uow, merge_id, actor=actor, reason=reason, key=f"staff-unmerge:{merge_id}:{form_id}", **extra
            )
            uow.commit()
    except BonusBridgeError as exc:
        flash(request, "unmerge_failed", error=f"{exc.code}: {exc}")
        return see_other("/staff/merges")
    flash(request, "unmerged", id=str(merge_id))
    return see_other("/staff/merges")


# --- the sub-app ------------------------------------------------------------------------------------


def _ids_in_range(request: Request) -> None:
    """Every staff page: an id no row can have (2^63, say) is a 404, never a database error."""
    if ids_out_of_range(request.path_params):
        raise StaffNotFound


def create_staff_app(
    settings: Settings,
    engine: Engine,
    clock: Callable[[], datetime],
    sessions: SessionStore | None = None,
) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, dependencies=[Depends(_ids_in_range)])
    sessions = sessions or session_store(settings, engine)
    app.state.staff = StaffParts(settings, engine, clock, sessions)
    codec = StaffCodec(
        settings.staff_session_secret.get_secret_value(), settings.staff_session_max_age_seconds, clock
    )
    app.add_middleware(StaffSessionMiddleware, codec=codec, store=sessions, clock=clock)
    app.include_router(public, include_in_schema=False)
    app.include_router(router, include_in_schema=False)
    from web_cabinet.staff.backoffice import router as backoffice  # imports this module's helpers

    app.include_router(backoffice, include_in_schema=False)
    from web_cabinet.staff.members import router as members  # the members screen and file

    app.include_router(members, include_in_schema=False)
    from web_cabinet.staff.program import router as program  # the points program: rules, campaigns

    app.include_router(program, include_in_schema=False)
    from web_cabinet.rewards.staff import router as rewards  # the rewards catalog (issue 21)

    app.include_router(rewards, include_in_schema=False)
    from web_cabinet.staff.plans import router as plans  # migration plans' reports

    app.include_router(plans, include_in_schema=False)

    async def login_required(request: Request, exc: Exception) -> Response:
        if getattr(request.state, "staff_expired", False):
            flash(request, "session_expired")
        return see_other("/staff/login")

    async def forbidden(request: Request, exc: Exception) -> Response:
        return render(
            request, "staff/error.html", {"title_key": "forbidden_title", "text_key": "forbidden"}, status=403
        )

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return render(
            request,
            "staff/error.html",
            {"title_key": "form_expired_title", "text_key": "form_expired"},
            status=403,
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        return render(
            request, "staff/error.html", {"title_key": "not_found_title", "text_key": "not_found"}, status=404
        )

    app.add_exception_handler(StaffLoginRequired, login_required)
    app.add_exception_handler(StaffForbidden, forbidden)
    app.add_exception_handler(StaffCsrfRefused, csrf_refused)

    async def invalid(request: Request, exc: Exception) -> Response:
        # a URL part that is not what the page takes (/staff/customers/abc) names no page: 404
        assert isinstance(exc, RequestValidationError)
        if any(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
            return await not_found(request, exc)
        return await request_validation_exception_handler(request, exc)

    app.add_exception_handler(StaffNotFound, not_found)
    app.add_exception_handler(RequestValidationError, invalid)
    return app
