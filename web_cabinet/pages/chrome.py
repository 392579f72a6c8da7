"""What every page has around it: the language switcher and logging out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge.services.cabinet import remember_locale
from web_cabinet.context import cabinet, session_of
from web_cabinet.i18n import LANG_COOKIE, LOCALES
from web_cabinet.rendering import flash, see_other
from web_cabinet.security import verify_csrf
from web_cabinet.session_store import CABINET

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

YEAR = 365 * 24 * 3600


def safe_next(target: str) -> str:
    """Only a path of this site: never an open redirect to another one."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.post("/lang")
def switch_language(request: Request, lang: str = Form(""), next: str = Form("/")) -> Response:
    response = see_other(safe_next(next))
    if lang in LOCALES:
        request.state.lang = lang
        _remember(request, lang)
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=YEAR,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


def _remember(request: Request, lang: str) -> None:
    """A logged-in customer's choice is also the language of their SMS."""
    cid = session_of(request).get("customer_id")
    if not isinstance(cid, int):
        return
    parts = cabinet(request)
    with parts.hub.unit_of_work() as uow:
        customer = uow.customers.get(cid)
        if customer is not None and remember_locale(uow.session, customer, lang):
            uow.commit()


@router.post("/logout")
def logout(request: Request) -> Response:
    session = session_of(request)
    if isinstance(session.get("customer_id"), int):  # the record goes: the old cookie opens nothing
        request.app.state.sessions.end(CABINET, session["sid"])
    session.rotate()
    flash(request, "logged_out")
    return see_other("/login")
