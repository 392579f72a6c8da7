"""Security headers on every response, and the CSRF check on every form the cabinet posts.

CSRF: the token is bound to the session (``session["csrf"]``, new at login) and every form carries
it in ``csrf_token``; a POST without the session's token is refused before its handler runs. A POST
from a session that expired meanwhile is not an attack but a customer back from lunch: it goes to
the login page with a message, and nothing is changed.

Headers: the pages use no inline script or style, so the CSP allows only our own files; framing is
refused (``frame-ancestors 'none'`` and ``X-Frame-Options``). The shop API's interactive docs load
their own scripts, so paths under ``/api/`` and FastAPI's docs get the same headers except the
content policy, which there only forbids framing.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web_cabinet.sessions import CabinetSession

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
API_CSP = "frame-ancestors 'none'"
_API_PATHS = ("/api/", "/docs", "/redoc", "/openapi.json")

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


#: The largest row id a table holds (SQL INTEGER): a larger id in a URL names nothing (404), and is
#: never sent to the database, which would refuse the number (a 500).
MAX_ROW_ID = 2**31 - 1


def ids_out_of_range(path_params: dict[str, Any]) -> bool:
    """Whether a URL's ``…_id`` part is a number no row can have (2^31 and beyond, 2^63 …)."""
    for name, value in path_params.items():
        if not name.endswith("_id"):
            continue
        text = str(value).strip()
        if text.lstrip("-").isdigit() and abs(int(text)) > MAX_ROW_ID:
            return True
    return False


class HeadAsGet:
    """``HEAD`` on a page answers as ``GET`` would, without the body (plain ASGI, outermost): the
    routes declare GET only, and a HEAD must not be a 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)


class CsrfRefused(Exception):
    """A form came without the session's token: forged, or older than the session."""


class SessionExpired(Exception):
    """The session behind a form or page has expired: log in again."""


class SecurityHeaders:
    """Adds the headers above to every response, the app's own error pages included (plain ASGI,
    outermost, so nothing the app answers goes out without them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = API_CSP if scope["path"].startswith(_API_PATHS) else PAGE_CSP
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", csp)
                if https:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                if "text/html" in headers.get("content-type", ""):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def verify_csrf(request: Request) -> None:
    """FastAPI dependency of every cabinet router: POSTs need the session's CSRF token."""
    if request.method != "POST":
        return
    if getattr(request.state, "session_expired", False):
        raise SessionExpired
    form = await request.form()
    given = form.get("csrf_token")
    session: CabinetSession = request.state.session
    expected = session.get("csrf")
    if not isinstance(given, str) or not isinstance(expected, str):
        raise CsrfRefused
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRefused
