"""Calls to 1C bounded in time and in memory, for every client (OData, SOAP, the HTTP service).

A per-read timeout does not bound a call: a server that drips one byte every 2 s never lets a 5 s
read timeout fire, and a 200 MB answer read whole costs 200 MB and more. Here every call gets

- an **overall deadline** (``BONUSBRIDGE_ONEC_DEADLINE_SECONDS``): every socket operation of the
  call — connecting, sending, waiting for the headers, each read of the body — may only wait for
  what is left of it, and the call fails with ``OneCUnavailable`` ("did not finish answering within
  the deadline") once it is spent. The httpx transport made here caps each network read at the time
  left (so headers dripped byte by byte are cut off too); the body loop checks the deadline between
  chunks, which also covers transports plugged in by tests;
- a **body cap** (``BONUSBRIDGE_ONEC_MAX_BODY_BYTES``, 16 MiB): a declared ``Content-Length`` over it
  is refused before reading, and a chunked or undeclared body is streamed and refused as soon as it
  passes the cap, with ``OneCTooLarge`` ("1C's answer is too large"). Nothing over the cap is kept.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from httpcore._backends.sync import SyncBackend

from .errors import OneCProtocolError, OneCUnavailable

DEFAULT_DEADLINE_SECONDS = 60.0
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

#: The monotonic instant the current call must end by (None: no deadline), per thread/task.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("onec_deadline", default=None)


class OneCTooLarge(OneCProtocolError):
    """1C's answer is larger than the configured cap: refused unread (declared) or cut off."""

    code = "onec_too_large"
    retryable = False


@dataclass(frozen=True)
class Bounds:
    """Per-call limits: ``deadline`` seconds for the whole call, ``max_body`` bytes of answer."""

    deadline: float = DEFAULT_DEADLINE_SECONDS
    max_body: int = DEFAULT_MAX_BODY_BYTES


def too_large(limit: int, *, status: int | None = None, declared: int | None = None) -> OneCTooLarge:
    size = f" ({declared} bytes declared)" if declared is not None else ""
    return OneCTooLarge(
        f"1C's answer is too large: over the {limit // (1024 * 1024) or limit} "
        f"{'MiB' if limit >= 1024 * 1024 else 'byte'} limit{size}; refused without reading it all",
        status=status,
    )


def deadline_passed(seconds: float, where: str) -> OneCUnavailable:
    return OneCUnavailable(f"1C did not finish answering within the deadline of {seconds:g} s on {where}")


def remaining() -> float | None:
    """Seconds left of the current call's deadline (None: none set)."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


def expired() -> bool:
    left = remaining()
    return left is not None and left <= 0


@contextmanager
def deadline_scope(seconds: float) -> Iterator[float]:
    """Run a call under an overall deadline of ``seconds``; yields the monotonic end instant."""
    end = time.monotonic() + seconds
    token = _DEADLINE.set(end)
    try:
        yield end
    finally:
        _DEADLINE.reset(token)


def _capped(timeout: float | None) -> float | None:
    left = remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise httpcore.ReadTimeout("the call's overall deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation waits at most for what is left of the deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _capped(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _capped(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _capped(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(SyncBackend):
    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = super().connect_tcp(host, port, _capped(timeout), local_address, socket_options)
        return _DeadlineStream(stream)


def transport() -> httpx.HTTPTransport:
    """An httpx transport whose sockets honour the deadline of ``deadline_scope``."""
    http = httpx.HTTPTransport()
    # httpx builds its pool without a way to pass a network backend: the same pool, with ours.
    http._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=_DeadlineBackend()
    )
    return http


def read_body(response: httpx.Response, bounds: Bounds, where: str) -> bytes:
    """The body of a streamed httpx response, within the cap and the deadline (sync)."""
    check_declared(response, bounds.max_body)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes(65536):
        size += len(chunk)
        if size > bounds.max_body:
            raise too_large(bounds.max_body, status=response.status_code)
        chunks.append(chunk)
        if expired():
            raise deadline_passed(bounds.deadline, where)
    return b"".join(chunks)


async def aread_body(response: httpx.Response, bounds: Bounds, where: str, end: float) -> bytes:
    check_declared(response, bounds.max_body)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes(65536):
        size += len(chunk)
        if size > bounds.max_body:
            raise too_large(bounds.max_body, status=response.status_code)
        chunks.append(chunk)
        if time.monotonic() >= end:
            raise deadline_passed(bounds.deadline, where)
    return b"".join(chunks)


def check_declared(response: httpx.Response, limit: int) -> None:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit, status=response.status_code, declared=int(declared))


def timeout_error(exc: httpx.TimeoutException, bounds: Bounds, where: str, started: float) -> OneCUnavailable:
    """A timeout is the deadline's when the call ran (almost) as long as the deadline allows."""
    if time.monotonic() - started >= bounds.deadline - 0.05:
        return deadline_passed(bounds.deadline, where)
    return OneCUnavailable(f"1C did not answer in time ({type(exc).__name__}) on {where}")


def fetch(
    client: httpx.Client,
    method: str,
    url: str,
    bounds: Bounds,
    *,
    where: str,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """One call under ``bounds``: a closed ``httpx.Response`` whose ``content`` is the capped body.

    Raises ``OneCTooLarge``, ``OneCUnavailable`` (deadline, timeouts, connection failures) or
    ``OneCProtocolError`` (dropped mid-answer); errors of the answer itself are the caller's."""
    started = time.monotonic()
    try:
        with deadline_scope(bounds.deadline):
            request = client.build_request(
                method,
                url,
                content=content,
                headers=headers,
                params=params,
                timeout=httpx.Timeout(**_request_timeout(client, bounds)),
            )
            response = client.send(request, stream=True)
            try:
                body = read_body(response, bounds, where)
            finally:
                response.close()
    except httpx.TimeoutException as exc:
        raise timeout_error(exc, bounds, where, started) from exc
    except httpx.ConnectError as exc:
        raise OneCUnavailable(f"1C is unreachable on {where}: {exc}") from exc
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        if time.monotonic() - started >= bounds.deadline - 0.05:
            raise deadline_passed(bounds.deadline, where) from exc
        raise OneCProtocolError(f"1C dropped the connection mid-answer on {where}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise OneCUnavailable(f"transport error talking to 1C on {where}: {type(exc).__name__}") from exc
    return httpx.Response(
        response.status_code,
        headers=[(k, v) for k, v in response.headers.raw if k.lower() != b"content-encoding"],
        content=body,
        request=response.request,
    )


def _request_timeout(client: httpx.Client, bounds: Bounds) -> dict[str, float | None]:
    timeout = client.timeout
    return {
        "connect": _min(timeout.connect, bounds.deadline),
        "read": _min(timeout.read, bounds.deadline),
        "write": _min(timeout.write, bounds.deadline),
        "pool": _min(timeout.pool, bounds.deadline),
    }


def _min(value: float | None, cap: float) -> float:
    return cap if value is None or math.isinf(value) else min(value, cap)
