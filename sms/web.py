"""The SMS endpoints of the website: gateways' delivery callbacks, and the console gateway's page.

Callbacks always answer quickly and never say more than needed: a gateway retries on anything but
200, so a report about a message we do not know is still acknowledged (and changes nothing).
Twilio's are checked against ``X-Twilio-Signature``; SMS Aero signs nothing, so its callback URL
carries a secret token. ``/dev/sms`` exists only while the console gateway is the one in use: it
shows what would have been sent, one-time codes included, which is its purpose on a laptop.
"""

from __future__ import annotations

import hmac
import html
import logging
from json import JSONDecodeError
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sms.gateways.console import read_console_outbox
from sms.gateways.smsaero import parse_callback
from sms.gateways.twilio import InvalidSignature, validate_status_callback
from sms.wiring import SmsParts

log = logging.getLogger(__name__)


def sms_routes(parts: SmsParts) -> list[Route]:
    settings = parts.settings

    async def smsaero_callback(request: Request) -> Response:
        expected = settings.smsaero_callback_token.get_secret_value()
        given = request.query_params.get("token", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return PlainTextResponse("forbidden", status_code=403)
        try:
            payload = dict(await request.form()) if _is_form(request) else await request.json()
            report = parse_callback(payload)
        except (ValueError, JSONDecodeError, TypeError) as exc:
            log.warning("SMS Aero callback not understood (%s)", type(exc).__name__)
            return PlainTextResponse("bad request", status_code=400)
        parts.sender.apply_report(report)
        return PlainTextResponse("ok")

    async def twilio_callback(request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        url = settings.twilio_status_callback_url or str(request.url)
        try:
            report = validate_status_callback(
                url, form, signature, settings.twilio_auth_token.get_secret_value()
            )
        except InvalidSignature:
            return PlainTextResponse("forbidden", status_code=403)
        except ValueError as exc:
            log.warning("Twilio callback not understood (%s)", type(exc).__name__)
            return PlainTextResponse("bad request", status_code=400)
        parts.sender.apply_report(report)
        return PlainTextResponse("ok")

    async def console_page(request: Request) -> Response:
        if settings.sms_gateway != "console":
            return PlainTextResponse("not found", status_code=404)
        messages = read_console_outbox(Path(settings.sms_console_file), limit=50)
        if request.query_params.get("format") == "json":
            return JSONResponse(messages)
        rows = "".join(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                html.escape(str(m.get("at", ""))),
                html.escape(str(m.get("phone", ""))),
                html.escape(str(m.get("text", ""))),
            )
            for m in messages
        )
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>SMS (console gateway)</title>"
            "<h1>SMS the console gateway would have sent</h1>"
            "<p>Development only: this page exists while BONUSBRIDGE_SMS_GATEWAY=console.</p>"
            f"<table><tr><th>When</th><th>To</th><th>Text</th></tr>{rows}</table>"
        )

    return [
        Route("/sms/callbacks/smsaero", smsaero_callback, methods=["POST"]),
        Route("/sms/callbacks/twilio", twilio_callback, methods=["POST"]),
        Route("/dev/sms", console_page, methods=["GET"]),
    ]


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    )
