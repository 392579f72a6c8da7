"""Builds the cabinet's ASGI app: pages, the shop API, the SMS endpoints, sessions and headers.

``create_app`` takes its parts instead of reaching for globals, so a test builds an app on its own
database, SMS gateway and clock; ``bonusbridge serve`` builds one from the settings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from bonusbridge.app import Hub, build_hub
from bonusbridge.settings import Settings, get_settings
from mail.settings import MailSettings
from mail.web import mail_routes
from sms.otp.service import OtpService
from sms.web import sms_routes
from sms.wiring import SmsParts, build_sms
from web_cabinet.api import mount_api
from web_cabinet.api.balance_lane import BalanceLane
from web_cabinet.context import Cabinet, LoginRequired, PageNotFound
from web_cabinet.pages import cards, chrome, home, legal, login, profile
from web_cabinet.rendering import render, see_other
from web_cabinet.rewards.suppliers import mount_shop
from web_cabinet.security import CsrfRefused, HeadAsGet, SecurityHeaders, SessionExpired
from web_cabinet.session_store import SessionStore, session_store
from web_cabinet.sessions import SessionCodec, SessionMiddleware
from web_cabinet.staff import mount_staff

STATIC = Path(__file__).parent / "static"


def create_app(
    settings: Settings | None = None,
    *,
    hub: Hub | None = None,
    sms: SmsParts | None = None,
    clock: Callable[[], datetime] | None = None,
    sessions: SessionStore | None = None,
) -> FastAPI:
    """The cabinet on ``settings`` (default: the process's). ``clock`` drives sessions, codes and
    balances; when given without a ``hub``, the hub built here uses it too."""
    settings = settings or get_settings()
    if hub is None:
        hub = build_hub(settings)
        if clock is not None:
            hub.ledger.clock = clock
    now = clock or hub.ledger.clock
    sms = sms or build_sms(settings, hub.engine, clock=now)

    app = FastAPI(title="BonusBridge", summary="Customers' cabinet and the shop API")
    app.state.settings = settings
    app.state.hub = hub
    app.state.sms = sms
    app.state.cabinet = Cabinet(settings, hub, sms, OtpService(hub.engine, settings, now), now)
    # logged-in sessions' records (logout, disabling and the absolute lifetime end them)
    app.state.sessions = sessions or session_store(settings, hub.engine, hub.read_engine)

    codec = SessionCodec(
        settings.cabinet_session_secret.get_secret_value(), settings.cabinet_session_max_age_seconds, now
    )
    for module in (login, cards, profile, home, chrome, legal):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    mount_staff(app)  # the staff pages under /staff
    mount_shop(app)  # the rewards shop (/shop) and the suppliers' pages (/suppliers)
    app.router.routes.extend(sms_routes(sms))
    app.router.routes.extend(mail_routes(MailSettings()))  # /dev/mail while the console backend is used
    _handle_page_errors(app)
    api = mount_api(app)
    # Innermost first: sessions for the pages; the balance read's short lane (before the session
    # and the framework, see ``balance_lane``); security headers outermost, on every response.
    app.add_middleware(SessionMiddleware, codec=codec, store=app.state.sessions, clock=now)
    app.add_middleware(BalanceLane, hub=hub, settings=settings, api=api)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    return app


def _handle_page_errors(app: FastAPI) -> None:
    async def login_required(request: Request, exc: Exception) -> Response:
        return see_other("/login")

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return render(
            request, "error.html", {"title_key": "form_expired_title", "text_key": "form_expired"}, status=403
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        return render(
            request, "error.html", {"title_key": "not_found_title", "text_key": "not_found"}, status=404
        )

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(SessionExpired, login_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(PageNotFound, not_found)
