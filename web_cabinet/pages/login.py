"""Logging in: phone → SMS code → cabinet, with resend, and every refusal said in the customer's
language. Nothing here reads customers before the code is right, so no answer tells whether a
phone is known (the OTP service answers every acceptable phone the same way)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Form
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge.models import OtpChallenge
from bonusbridge.privacy import mask_phone
from bonusbridge.services.cabinet import customer_for_verified_phone, next_step, settle_single_card
from sms.errors import SmsError, WrongCode
from sms.otp.phones import acceptable_phone
from web_cabinet.context import cabinet, lang_of, session_of
from web_cabinet.i18n import translator
from web_cabinet.pages.steps import STEP_URLS, client_ip, send_soon
from web_cabinet.rendering import flash, render, see_other
from web_cabinet.security import verify_csrf
from web_cabinet.session_store import CABINET

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


def _retry_headers(error: SmsError) -> dict[str, str] | None:
    return {"Retry-After": str(error.retry_after)} if error.retry_after else None


@router.get("/login")
def login_page(request: Request) -> Response:
    if isinstance(session_of(request).get("customer_id"), int):
        return see_other("/")
    return render(request, "login_phone.html", {"phone": "", "error": None})


@router.post("/login/phone")
def ask_code(request: Request, background: BackgroundTasks, phone: str = Form("")) -> Response:
    parts = cabinet(request)
    session = session_of(request)
    lang = lang_of(request)
    t = translator(lang)
    typed = phone.strip()[:40]
    if not typed:
        return render(request, "login_phone.html", {"phone": "", "error": t("phone_required")}, status=400)
    try:
        e164 = acceptable_phone(typed, parts.settings)
        requested = parts.otp.request_code(
            e164, client_ip=client_ip(request), session_id=session["sid"], locale=lang
        )
    except SmsError as refused:
        context = {"phone": typed, "error": refused.user_message(lang)}
        return render(
            request, "login_phone.html", context, status=refused.http_status, headers=_retry_headers(refused)
        )
    session.pop("customer_id", None)
    session["phone"] = e164
    session["challenge"] = requested.challenge_id
    session["resend_at"] = (parts.clock() + timedelta(seconds=requested.resend_after)).timestamp()
    send_soon(parts, background, _sms_of(request, requested.challenge_id))
    return see_other("/login/code")


def _sms_of(request: Request, challenge_id: int) -> int | None:
    with cabinet(request).hub.engine.connect() as conn:
        found = conn.execute(
            select(OtpChallenge.sms_message_id).where(OtpChallenge.id == challenge_id)
        ).scalar_one_or_none()
    return None if found is None else int(found)


def _code_page(request: Request, *, error: str | None = None, status: int = 200, **extra: Any) -> Response:
    session = session_of(request)
    now = cabinet(request).clock().timestamp()
    wait = max(0, int(float(session.get("resend_at", 0)) - now + 0.999))
    context = {"phone_masked": mask_phone(session.get("phone")), "error": error, "resend_wait": wait}
    return render(request, "login_code.html", context, status=status, **extra)


@router.get("/login/code")
def code_page(request: Request) -> Response:
    if not session_of(request).get("phone"):
        flash(request, "login_first")
        return see_other("/login")
    return _code_page(request)


@router.post("/login/resend")
def resend_code(request: Request, background: BackgroundTasks) -> Response:
    session = session_of(request)
    parts = cabinet(request)
    lang = lang_of(request)
    phone = session.get("phone")
    if not isinstance(phone, str):
        flash(request, "login_first")
        return see_other("/login")
    try:
        requested = parts.otp.request_code(
            phone, client_ip=client_ip(request), session_id=session["sid"], locale=lang
        )
    except SmsError as refused:
        return _code_page(
            request,
            error=refused.user_message(lang),
            status=refused.http_status,
            headers=_retry_headers(refused),
        )
    session["challenge"] = requested.challenge_id
    session["resend_at"] = (parts.clock() + timedelta(seconds=requested.resend_after)).timestamp()
    send_soon(parts, background, _sms_of(request, requested.challenge_id))
    flash(request, "code_resent")
    return see_other("/login/code")


@router.post("/login/code")
def check_code(request: Request, code: str = Form("")) -> Response:
    session = session_of(request)
    parts = cabinet(request)
    lang = lang_of(request)
    t = translator(lang)
    phone = session.get("phone")
    if not isinstance(phone, str):
        flash(request, "login_first")
        return see_other("/login")
    if not code.strip():
        return _code_page(request, error=t("code_required"), status=400)
    challenge = session.get("challenge")
    try:
        parts.otp.verify_code(
            phone,
            code[:20],
            challenge_id=challenge if isinstance(challenge, int) else None,
            session_id=session["sid"],
            client_ip=client_ip(request),
        )
    except WrongCode as wrong:
        message = wrong.user_message(lang) + " " + t("attempts_left").format(n=wrong.attempts_left)
        return _code_page(request, error=message, status=400)
    except SmsError as refused:
        return _code_page(
            request,
            error=refused.user_message(lang),
            status=refused.http_status,
            headers=_retry_headers(refused),
        )
    customer_id, step = _log_in(request, phone, lang)
    session.rotate()  # a new session id and CSRF token: a session planted before login is worthless
    session["customer_id"] = customer_id
    lifetime = timedelta(seconds=parts.settings.cabinet_session_absolute_seconds)
    request.app.state.sessions.open(CABINET, session["sid"], customer_id, parts.clock(), lifetime)
    return see_other(STEP_URLS[step])


def _log_in(request: Request, phone: str, lang: str) -> tuple[int, Any]:
    """Find or create the customer of the proven phone; bind their only card if there is one."""
    parts = cabinet(request)
    for attempt in (1, 2):
        try:
            with parts.hub.unit_of_work() as uow:
                customer = customer_for_verified_phone(
                    uow, phone, locale=lang, required_fields=parts.settings.profile_required_fields
                )
                settle_single_card(uow, customer)
                step = next_step(uow.session, customer, parts.settings.profile_required_fields)
                uow.commit()
                return customer.id, step
        except IntegrityError:  # the same phone verified at the same moment in another tab
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
