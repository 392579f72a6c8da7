"""Fault injection: the ways a real 1C behind IIS/Apache misbehaves, switchable at run time.

An ASGI middleware in front of the emulated base (``/_admin`` is never affected). In order:
a cold-start delay on the first request after ``idle_seconds`` of quiet (1C's first call after idle
can take 30 s), fixed latency plus jitter, dropped connections (the response starts, then the
connection closes mid-body), hangs (a timeout: nothing is sent until ``timeout_seconds`` pass or the
client gives up), 5xx answers with the HTML pages IIS and 1C produce (so a client must not assume
JSON), and — on writes only — 1C's "lock conflict" error. Rates are probabilities in [0, 1];
``seed`` makes a run reproducible; ``match`` (a regex on the path) limits faults to some URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .odata.errors import error_response


class FaultConfigError(ValueError):
    """An unknown fault setting or a value of the wrong type."""


@dataclass
class Faults:
    latency_ms: int = 0
    jitter_ms: int = 0
    cold_start_ms: int = 0
    idle_seconds: float = 300.0
    error_rate: float = 0.0
    error_status: int = 500
    error_page: str = "1c"  # "1c" (the platform's page) or "iis"
    timeout_rate: float = 0.0
    timeout_seconds: float = 60.0
    drop_rate: float = 0.0
    lock_conflict_rate: float = 0.0
    match: str = ""
    seed: int | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: Faults | None = None) -> Faults:
        """Build (or update ``base``) from JSON; unknown names and wrong types are refused."""
        current = asdict(base or cls())
        types = {f.name: f.type for f in fields(cls)}
        for name, value in values.items():
            if name not in types:
                raise FaultConfigError(f"unknown fault setting {name!r} (known: {', '.join(sorted(types))})")
            expected = current[name]
            if name == "seed":
                if value is not None and not isinstance(value, int):
                    raise FaultConfigError("seed must be an integer or null")
            elif isinstance(expected, bool) or isinstance(value, bool):
                raise FaultConfigError(f"{name} has the wrong type")
            elif isinstance(expected, int | float) and not isinstance(value, int | float):
                raise FaultConfigError(f"{name} must be a number")
            elif isinstance(expected, str) and not isinstance(value, str):
                raise FaultConfigError(f"{name} must be a string")
            current[name] = value
        faults = cls(**current)
        for name in ("error_rate", "timeout_rate", "drop_rate", "lock_conflict_rate"):
            if not 0 <= getattr(faults, name) <= 1:
                raise FaultConfigError(f"{name} must be between 0 and 1")
        if faults.error_page not in ("1c", "iis"):
            raise FaultConfigError("error_page must be '1c' or 'iis'")
        try:
            re.compile(faults.match)
        except re.error as exc:
            raise FaultConfigError(f"match is not a regular expression: {exc}") from None
        return faults

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


IIS_PAGES = {
    500: (
        "500 - Internal server error.",
        "There is a problem with the resource you are looking for, and it cannot be displayed.",
    ),
    502: (
        "502 - Web server received an invalid response while acting as a gateway or proxy server.",
        "There is a problem with the page you are looking for, and it cannot be displayed.",
    ),
    503: ("Service Unavailable", "HTTP Error 503. The service is unavailable."),
    504: ("504 - Gateway Timeout", "The gateway did not receive a timely response from the upstream server."),
}


def html_error_page(status: int, kind: str) -> str:
    """The HTML body a 5xx carries in front of 1C: IIS's page, or the 1C platform's own."""
    if kind == "iis":
        title, text = IIS_PAGES.get(status, IIS_PAGES[500])
        return (
            '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
            '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
            f'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title></head>'
            f'<body><div id="header"><h1>Server Error</h1></div><div id="content">'
            f"<fieldset><h2>{title}</h2><h3>{text}</h3></fieldset></div></body></html>"
        )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        "<title>1C:Enterprise 8 application error</title></head><body>"
        "<h1>1C:Enterprise 8 application error</h1>"
        "<p>Ошибка при выполнении операции: сеанс работы завершен администратором, "
        "или сервер 1С:Предприятия недоступен.</p>"
        "<p>server_addr=tcp://srv1c:1541 descr=Сервер 1С:Предприятия не обнаружен line=1062 "
        "file=src\\DataExchangeTcpClientImpl.cpp</p></body></html>"
    )


LOCK_CONFLICT = (
    "Конфликт блокировок при выполнении транзакции:\n"
    "Превышено максимальное время ожидания предоставления блокировки"
)
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE", "MERGE"}


class FaultInjector:
    """The current faults and their random state; the admin endpoint reconfigures it at run time."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.rng = random.Random(self.faults.seed)
        self.last_request: float | None = None

    def configure(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        if faults.cold_start_ms:
            self.last_request = None  # the next request is a cold one

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    async def inject(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Delay and maybe answer in place of the base; True when a fault answered."""
        path = scope.get("path", "")
        f = self.faults
        if (
            scope["type"] != "http"
            or path.startswith("/_admin")
            or (f.match and not re.search(f.match, path))
        ):
            return False
        now = time.monotonic()
        cold = self.last_request is None or now - self.last_request > f.idle_seconds
        self.last_request = now
        delay = f.latency_ms + (self.rng.uniform(0, f.jitter_ms) if f.jitter_ms else 0)
        if cold:
            delay += f.cold_start_ms
        if delay:
            await asyncio.sleep(delay / 1000)
        if self._hit(f.drop_rate):
            await _drop(send)
        elif self._hit(f.timeout_rate):
            await _hang(receive, f.timeout_seconds)
            await send_html(send, 504, html_error_page(504, "iis"))
        elif self._hit(f.error_rate):
            await send_html(send, f.error_status, html_error_page(f.error_status, f.error_page))
        elif scope.get("method") in WRITE_METHODS and self._hit(f.lock_conflict_rate):
            await error_response(500, "-1", LOCK_CONFLICT)(scope, receive, send)
        else:
            return False
        return True


class FaultMiddleware:
    """Wraps the emulated base (``/_admin`` is never affected)."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await self.injector.inject(scope, receive, send):
            await self.app(scope, receive, send)


async def send_html(send: Send, status: int, body: str) -> None:
    data = body.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def _drop(send: Send) -> None:
    """Promise a body, send part of it, and return: the server closes the connection mid-response."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json;charset=utf-8"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"odata.metadata": "', "more_body": True})


async def _hang(receive: Receive, seconds: float) -> None:
    """Send nothing until ``seconds`` pass or the client disconnects (so shutdown is not held up)."""

    async def disconnected() -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(disconnected(), timeout=seconds)
