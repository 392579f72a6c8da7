"""The cabinet's session: a signed, timestamped cookie, renewed on every page view, and, once
logged in, a server-side record (``web_cabinet.session_store``).

The cookie holds little (a random id, the CSRF token, the phone being verified, the logged-in
customer's id, a one-shot message) and signing (itsdangerous, HMAC with
``cabinet_session_secret``) makes it unforgeable. It is not encrypted: it holds only what its owner
may see. The timestamp is signed too, so an idle session ends after
``cabinet_session_max_age_seconds`` whatever the browser keeps; the cookie itself has no expiry,
so an expired session is recognised and the customer told, rather than silently logged out.

A signed cookie alone cannot be taken back, so a logged-in one must also have its record in the
session store: logout deletes it (the old cookie, replayed, is logged out), and the record ends
``cabinet_session_absolute_seconds`` after the login however active the session is. Only logged-in
page views read the store (one indexed read); the login steps before it cost nothing.

Cookie flags: HttpOnly, SameSite=Lax, Secure when the request came over HTTPS (behind a proxy,
run uvicorn with ``--proxy-headers``), path ``/``. ``rotate`` gives a new id and CSRF token at
login, so a session id planted before login is worthless after it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web_cabinet.i18n import LANG_COOKIE, choose_locale
from web_cabinet.session_store import CABINET, SessionStore

SESSION_COOKIE = "bb_session"
_SALT = "bonusbridge.cabinet.session"

#: Paths that are not pages: no session cookie is read or written there.
NOT_PAGES = ("/api/", "/static/", "/media/", "/sms/callbacks/", "/dev/", "/openapi.json", "/docs", "/redoc")

Clock = Callable[[], datetime]


class CabinetSession(dict[str, Any]):
    """The session's data. Always has ``sid`` and ``csrf``."""

    def rotate(self) -> None:
        """Forget everything and start a new session (login, logout)."""
        self.clear()
        self.update(_fresh())


def fresh_session_data() -> dict[str, Any]:
    """A new session's data: a random id and CSRF token (cabinet and staff sessions alike)."""
    return {"sid": secrets.token_urlsafe(24), "csrf": secrets.token_urlsafe(32)}


_fresh = fresh_session_data


def clocked_serializer(secret: str, salt: str, clock: Clock) -> URLSafeTimedSerializer:
    """A signing serializer whose timestamps come from ``clock`` (the app's), so tests can age a
    session. Each kind of session signs under its own salt, so one never opens the other's pages."""

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return URLSafeTimedSerializer(secret, salt=salt, signer=ClockSigner)


class SessionCodec:
    """Turns a session into a cookie value and back, with the app's clock as the signer's time."""

    def __init__(self, secret: str, max_age: int, clock: Clock) -> None:
        self.max_age = max_age
        self._serializer = clocked_serializer(secret, _SALT, clock)

    def dumps(self, session: CabinetSession) -> str:
        return str(self._serializer.dumps(dict(session)))

    def loads(self, value: str | None) -> tuple[CabinetSession, bool]:
        """The session in the cookie (or a fresh one) and whether a logged-in session just expired."""
        if not value:
            return CabinetSession(_fresh()), False
        try:
            data = self._serializer.loads(value, max_age=self.max_age)
        except SignatureExpired as expired:
            old = _payload(self._serializer, expired.payload)
            session = CabinetSession(_fresh())
            was_in = isinstance(old, dict) and ("customer_id" in old or "phone" in old)
            if was_in:
                session["flash"] = "session_expired"
            return session, was_in
        except BadSignature:
            return CabinetSession(_fresh()), False
        if not isinstance(data, dict) or "sid" not in data or "csrf" not in data:
            return CabinetSession(_fresh()), False
        return CabinetSession(data), False


def _payload(serializer: URLSafeTimedSerializer, raw: Any) -> Any:
    try:
        return serializer.load_payload(raw)
    except (BadSignature, ValueError, TypeError):
        return None


def is_page(path: str) -> bool:
    return not path.startswith(NOT_PAGES)


class SessionMiddleware:
    """Loads the session into ``request.state`` before a page and writes it back with the response.

    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``: that one runs every request through an
    extra task and memory stream, which cost a third of the cabinet's throughput, and it is a page's
    only middleware work to add one header.
    """

    def __init__(
        self, app: ASGIApp, codec: SessionCodec, store: SessionStore | None = None, clock: Clock | None = None
    ) -> None:
        self.app = app
        self.codec = codec
        self.store = store
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        session, expired = self.codec.loads(request.cookies.get(SESSION_COOKIE))
        customer = session.get("customer_id")
        if isinstance(customer, int) and self.store is not None and self.clock is not None:
            alive = await run_in_threadpool(self.store.alive, CABINET, session["sid"], customer, self.clock())
            if not alive:  # logged out elsewhere, or past the login's absolute end
                session = CabinetSession(_fresh())
                session["flash"] = "session_expired"
                expired = True
        request.state.session = session
        request.state.session_expired = expired
        request.state.lang = choose_locale(
            request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
        )
        secure = scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = Response()
                cookie.set_cookie(
                    SESSION_COOKIE,
                    self.codec.dumps(session),
                    httponly=True,
                    secure=secure,
                    samesite="lax",
                    path="/",
                )
                headers = MutableHeaders(scope=message)
                for name, value in cookie.raw_headers:
                    if name == b"set-cookie":
                        headers.append("set-cookie", value.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, send_with_cookie)
