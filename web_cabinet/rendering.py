"""Turning a page's data into HTML: the Jinja2 environment, number and date formats, one-shot
messages (flash), and the redirects after a POST (303, so a reload never posts again)."""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from bonusbridge.privacy import mask_card_number
from web_cabinet import formats
from web_cabinet.context import cabinet, lang_of, session_of
from web_cabinet.i18n import TEXTS, translator

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def format_points(value: Decimal | None, lang: str) -> str:
    """1234.5 → "1 234,50" in Russian, "1,234.50" in English (Babel, ``formats``)."""
    return formats.points(value, lang)


def format_date(value: datetime | None, lang: str, zone: ZoneInfo, *, with_time: bool = False) -> str:
    return formats.moment(value, lang, zone) if with_time else formats.day(value, lang, zone)


def page_formats(request: Request) -> tuple[formats.Formats, ZoneInfo]:
    """The request's language's formatters and the chain's zone, for rows a page formats itself."""
    return formats.Formats.of(lang_of(request)), ZoneInfo(cabinet(request).settings.sms_default_time_zone)


def flash(request: Request, key: str, **params: str) -> None:
    """A message shown once, on the next page rendered in this session."""
    session = session_of(request)
    session["flash"] = key
    session["flash_args"] = params


def _take_flash(request: Request) -> str | None:
    session = session_of(request)
    key = session.pop("flash", None)
    params = session.pop("flash_args", None) or {}
    if not isinstance(key, str) or key not in TEXTS:
        return None
    return TEXTS[key][lang_of(request)].format(**params)


def new_form_id() -> str:
    """A random id per rendered form: the idempotency key of what submitting it does."""
    return secrets.token_hex(16)


def valid_form_id(value: str) -> bool:
    return len(value) == 32 and all(ch in "0123456789abcdef" for ch in value)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    lang = lang_of(request)
    session = session_of(request)
    settings = cabinet(request).settings
    zone = ZoneInfo(settings.sms_default_time_zone)
    fmt = formats.Formats.of(lang)
    page: dict[str, Any] = {
        "lang": lang,
        "t": translator(lang),
        "csrf_token": session["csrf"],
        "flash": _take_flash(request),
        "logged_in": isinstance(session.get("customer_id"), int),
        "here": request.url.path,
        "points": fmt.points,
        "day": lambda value: fmt.day(value, zone),
        "moment": lambda value: fmt.moment(value, zone),
        "masked": mask_card_number,
        # every page's footer: the program's rules and how to reach support (settings)
        "footer": {
            "rules_url": settings.program_rules_url,
            "phone": settings.support_phone,
            "email": settings.support_email,
        },
    }
    page.update(context or {})
    return TEMPLATES.TemplateResponse(request, template, page, status_code=status, headers=headers)


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)
