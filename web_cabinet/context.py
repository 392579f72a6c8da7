"""What every page handler needs: the app's parts, the session, and who is logged in.

The parts hang on ``app.state`` (set by ``create_app``) rather than in module globals, so tests
build as many apps as they like, each on its own database and clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request

from bonusbridge.app import Hub
from bonusbridge.settings import Settings
from sms.otp.service import OtpService
from sms.wiring import SmsParts
from web_cabinet.sessions import CabinetSession


class LoginRequired(Exception):
    """A page for logged-in customers was asked for without a (live) login."""


class PageNotFound(Exception):
    """Not found, or not this customer's: the two look the same from outside."""


@dataclass
class Cabinet:
    settings: Settings
    hub: Hub
    sms: SmsParts
    otp: OtpService
    clock: Callable[[], datetime]


def cabinet(request: Request) -> Cabinet:
    parts: Cabinet = request.app.state.cabinet
    return parts


def session_of(request: Request) -> CabinetSession:
    session: CabinetSession = request.state.session
    return session


def lang_of(request: Request) -> str:
    lang: str = request.state.lang
    return lang


def customer_id(request: Request) -> int:
    """FastAPI dependency: the logged-in customer's id, or ``LoginRequired``."""
    found = session_of(request).get("customer_id")
    if not isinstance(found, int):
        raise LoginRequired
    return found
