"""How the emulated base shares its one worker among its clients (opt-in: ``fair_share``).

By default the emulator serves requests as they come: its one event loop takes each request in
turn, so every open connection (a 1C session) gets its turn, as 1C's sessions share a working
process. A till network of 16 sessions then gets two thirds of the base while the website's 8
delivery sessions get a third, and when the tills ask more than the base can answer, the website's
edits queue behind them.

With ``fair_share=True`` the requests wait their turn per 1C user instead of per connection: the
users with requests waiting are served in rotation, one request each, so a user gets at least an
equal share of the base whatever the other users send — what a 1C cluster gives the website when
its sessions are assigned a working process of their own (or a publication of their own) next to
the tills'. The emulator still serves one request at a time: nothing runs faster, only the order
changes. Run-time faults act before the turn is taken (a slow or hanging answer does not hold the
others up). ``/_admin`` is never queued.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque

from starlette.types import ASGIApp, Receive, Scope, Send


class FairShareByUser:
    """ASGI middleware: one request in service at a time, the next one taken from the users in
    rotation (by the request's ``Authorization`` header; anonymous requests are one user).

    The emulator's handlers run without yielding, so requests never queue inside the app: they
    queue in the event loop, in arrival order. Every request therefore registers its turn and
    yields; the next one is chosen by a callback scheduled after the requests already ready have
    registered theirs, so the choice is among everything waiting, not only the first to come."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._busy = False
        self._dispatching = False
        self._waiting: OrderedDict[bytes, deque[asyncio.Future[None]]] = OrderedDict()
        self.served: dict[bytes, int] = {}

    @staticmethod
    def _user(scope: Scope) -> bytes:
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                return bytes(value)
        return b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith("/_admin"):
            await self.app(scope, receive, send)
            return
        user = self._user(scope)
        await self._turn(user)
        try:
            await self.app(scope, receive, send)
        finally:
            self.served[user] = self.served.get(user, 0) + 1
            self._busy = False
            self._schedule()

    def _schedule(self) -> None:
        if not self._busy and not self._dispatching and self._waiting:
            self._dispatching = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        """The next user in rotation gets the base (its oldest request)."""
        self._dispatching = False
        while not self._busy and self._waiting:
            user, queue = next(iter(self._waiting.items()))
            turn = queue.popleft()
            del self._waiting[user]
            if queue:
                self._waiting[user] = queue  # to the end of the rotation
            if not turn.done():
                self._busy = True
                turn.set_result(None)

    async def _turn(self, user: bytes) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(user, deque()).append(turn)
        self._schedule()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._busy = False  # the turn came as the client went away: pass it on
                self._schedule()
            else:
                queue = self._waiting.get(user)
                if queue is not None and turn in queue:
                    queue.remove(turn)
                    if not queue:
                        del self._waiting[user]
            raise
