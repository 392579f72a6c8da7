"""The staff session: a signed, timestamped cookie of its own, apart from the customers'.

``bb_staff`` (path ``/staff``, HttpOnly, SameSite=Strict, Secure over HTTPS) is signed with
``staff_session_secret`` under another salt than the cabinet's ``bb_session``, so neither cookie
opens the other's pages even with equal secrets. It holds a random id, the CSRF token and, once
logged in, the staff user's id; roles and the disabled flag are read from the database on every
request. It is given a new id and token at login and logout, and ends
``staff_session_max_age_seconds`` after the last page view.

A logged-in staff session also has a record in the session store (``web_cabinet.session_store``):
logout, disabling the user and a password change delete it, so the old cookie replayed opens
nothing, and it ends ``staff_session_absolute_seconds`` after the login however active it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, SignatureExpired
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web_cabinet.session_store import STAFF, SessionStore
from web_cabinet.sessions import clocked_serializer, fresh_session_data

STAFF_COOKIE = "bb_staff"
STAFF_PATH = "/staff"
_SALT = "bonusbridge.staff.session"


class StaffSession(dict[str, Any]):
    def rotate(self) -> None:
        self.clear()
        self.update(_fresh())


_fresh = fresh_session_data


class StaffCodec:
    def __init__(self, secret: str, max_age: int, clock: Callable[[], datetime]) -> None:
        self.max_age = max_age
        self._serializer = clocked_serializer(secret, _SALT, clock)

    def dumps(self, session: StaffSession) -> str:
        return str(self._serializer.dumps(dict(session)))

    def loads(self, value: str | None) -> tuple[StaffSession, bool]:
        """The session (or a fresh one) and whether a logged-in session just expired."""
        if not value:
            return StaffSession(_fresh()), False
        try:
            data = self._serializer.loads(value, max_age=self.max_age)
        except SignatureExpired:
            return StaffSession(_fresh()), True
        except BadSignature:
            return StaffSession(_fresh()), False
        if not isinstance(data, dict) or "sid" not in data or "csrf" not in data:
            return StaffSession(_fresh()), False
        return StaffSession(data), False


class StaffSessionMiddleware:
    """Plain ASGI, on the staff sub-app only: loads ``request.state.staff`` and writes it back."""

    def __init__(
        self,
        app: ASGIApp,
        codec: StaffCodec,
        store: SessionStore | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.app = app
        self.codec = codec
        self.store = store
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        session, expired = self.codec.loads(request.cookies.get(STAFF_COOKIE))
        staff_id = session.get("staff_id")
        if isinstance(staff_id, int) and self.store is not None and self.clock is not None:
            alive = await run_in_threadpool(self.store.alive, STAFF, session["sid"], staff_id, self.clock())
            if not alive:  # logged out, disabled, password changed, or past the absolute end
                session, expired = StaffSession(_fresh()), True
        request.state.staff = session
        request.state.staff_expired = expired
        secure = scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = Response()
                cookie.set_cookie(
                    STAFF_COOKIE,
                    self.codec.dumps(session),
                    httponly=True,
                    secure=secure,
                    samesite="strict",
                    path=STAFF_PATH,
                )
                headers = MutableHeaders(scope=message)
                for name, value in cookie.raw_headers:
                    if name == b"set-cookie":
                        headers.append("set-cookie", value.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, send_with_cookie)
