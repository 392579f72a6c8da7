"""A hostile "1C" for the connectors' bounds: a raw socket server on 127.0.0.1 that answers every
request the same way, chosen per test — dripping one byte every 2 s, a 200 MB body (chunked, or with
an honest Content-Length) generated lazily in 64 KiB pieces (never held in memory), 1C's HTML lock
conflict page, or a login page with 200."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

BIG = 200 * 1024 * 1024
PIECE = b"<x>" + b"a" * (65536 - 7) + b"</x>"  # 64 KiB of harmless XML-ish text

LOCK_PAGE = (
    "<html><head><title>1С:Предприятие</title></head><body><h1>Ошибка</h1>"
    "<p>Конфликт блокировок при выполнении транзакции:<br>Превышено максимальное время ожидания "
    "предоставления блокировки</p></body></html>"
)
LOGIN_PAGE = (
    '<!DOCTYPE html><html><head><title>1С:Предприятие</title></head><body><form method="post">'
    '<label>Пользователь</label><input name="login"><label>Пароль</label>'
    '<input type="password" name="password"><button>Войти</button></form></body></html>'
)


@dataclass
class Behaviour:
    mode: str = "drip"  # drip, chunked, honest, lock, login
    content_type: str = "application/json;charset=utf-8"
    drip_interval: float = 2.0
    requests: list[str] = field(default_factory=list)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        try:
            request = self._read_request(sock)
            self.server.behaviour.requests.append(request.split("\r\n", 1)[0])
            self._answer(sock)
        except OSError:
            pass  # the client gave up (what the tests want), or went away

    @staticmethod
    def _read_request(sock: socket.socket) -> str:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        text = head.decode("latin-1")
        length = 0
        for line in text.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return text

    def _answer(self, sock: socket.socket) -> None:
        b = self.server.behaviour
        if b.mode == "drip":
            sock.sendall(
                f"HTTP/1.1 200 OK\r\nContent-Type: {b.content_type}\r\nContent-Length: 1000\r\n\r\n".encode()
            )
            for _ in range(1000):
                if self.server.stopping.wait(b.drip_interval):
                    return
                sock.sendall(b" ")
        elif b.mode == "drip-headers":
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                if self.server.stopping.wait(b.drip_interval):
                    return
                sock.sendall(bytes([byte]))
        elif b.mode == "chunked":
            sock.sendall(
                f"HTTP/1.1 200 OK\r\nContent-Type: {b.content_type}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n".encode()
            )
            for _ in range(BIG // len(PIECE)):
                sock.sendall(b"%x\r\n%s\r\n" % (len(PIECE), PIECE))
            sock.sendall(b"0\r\n\r\n")
        elif b.mode == "honest":
            sock.sendall(
                f"HTTP/1.1 200 OK\r\nContent-Type: {b.content_type}\r\nContent-Length: {BIG}\r\n\r\n".encode()
            )
            for _ in range(BIG // len(PIECE)):
                sock.sendall(PIECE)
        elif b.mode in ("lock", "login"):
            status = "500 Internal Server Error" if b.mode == "lock" else "200 OK"
            body = (LOCK_PAGE if b.mode == "lock" else LOGIN_PAGE).encode("utf-8")
            sock.sendall(
                f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        self.stopping = threading.Event()


@dataclass
class Hostile:
    server: _Server

    @property
    def behaviour(self) -> Behaviour:
        return self.server.behaviour

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def publication(self) -> str:
        return f"{self.origin}/dobrostroy"


@contextmanager
def hostile(mode: str, **kwargs: object) -> Iterator[Hostile]:
    server = _Server(Behaviour(mode=mode, **kwargs))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Hostile(server)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


@dataclass
class Measured:
    seconds: float
    peak_bytes: int
    error: BaseException | None


def measure(call: object) -> Measured:
    """Run ``call()``; its wall-clock time, the peak of Python memory it allocated (tracemalloc)
    and what it raised."""
    import tracemalloc

    tracemalloc.start()
    started = time.monotonic()
    error: BaseException | None = None
    try:
        call()  # type: ignore[operator]
    except BaseException as exc:  # the point is to look at it
        error = exc
    seconds = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Measured(seconds, peak, error)
