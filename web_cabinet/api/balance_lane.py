"""The balance read's short lane: ``GET /api/v1/cards/{id}/balance`` answered in plain ASGI.

Why: a checkout page asks for a balance on every view, and through FastAPI (routing, dependency
solving, the mounted API's middleware, the session middleware of the pages) the framework cost
several times the query. The lane answers only the case that needs no framework: a key this
process checked recently (``KeyCache``) holding the ``read`` scope, a well-signed card id, and a
card the ledger knows, on PostgreSQL (the route's own awaited read, ``ledger.async_reads``). Everything else —
no key, an unknown or revoked key, a missing scope, a mangled id, an unknown card, SQLite, any
error — goes on to the API unchanged, which answers it exactly as before (problem+json, its error
codes, its logs). The body is the same ``BalanceOut`` the route returns, serialized the same way;
``tests/web_cabinet/test_balance_lane.py`` checks both answers are identical, byte for byte.

The route stays declared in the API (OpenAPI documents it; SQLite and first calls use it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from web_cabinet.api import ids, lookups
from web_cabinet.api.clients import hash_key

if TYPE_CHECKING:
    from fastapi import FastAPI

    from bonusbridge.app import Hub
    from bonusbridge.settings import Settings
    from web_cabinet.api.auth import KeyCache

_PATH = re.compile(rf"/api/v1/cards/(crd_[A-Za-z0-9_-]{{{ids.BODY_LENGTH}}})/balance")
_JSON = [(b"content-type", b"application/json")]


class BalanceLane:
    """ASGI middleware: serves a recurring balance read directly, passes every other request on."""

    def __init__(self, app: ASGIApp, *, hub: Hub, settings: Settings, api: FastAPI) -> None:
        self.app = app
        self.hub = hub
        self.secret = settings.api_id_secret.get_secret_value().encode()
        self.enabled = bool(settings.api_key_cache_seconds)
        self.api = api
        self.served = 0  # answers given here (tests and curious operators)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.enabled
            and scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope.get("query_string")
            and (match := _PATH.fullmatch(scope["path"])) is not None
        ):
            body = await self._answer(scope, match.group(1))
            if body is not None:
                self.served += 1
                headers = [*_JSON, (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, public_id: str) -> bytes | None:
        """The JSON body, or None: the API must answer this one."""
        key = _key_of(scope)
        if key is None:
            return None
        hub = self.hub
        cache: KeyCache = self.api.state.key_cache
        principal = cache.get(hash_key(key), hub.ledger.clock())
        if principal is None or "read" not in principal.scopes:
            return None
        row_id = ids.decode("card", public_id, self.secret)
        reader = hub.async_reader
        if row_id is None or reader is None:
            return None
        try:
            found = await reader.card_balance(
                row_id, now=hub.ledger.clock(), expiring_within=hub.ledger.expiring_within
            )
        except Exception:  # the API's own path reports it, as a problem, with its logs
            return None
        if found is None:
            return None
        return lookups.balance_out(public_id, *found).model_dump_json().encode()


def _key_of(scope: Scope) -> str | None:
    """The API key as the API reads it: ``Authorization: Bearer`` first, else ``X-API-Key``."""
    bearer = api_key = None
    for name, value in scope["headers"]:
        # The first of repeated headers counts, as in Starlette's ``Headers.get``.
        if name == b"authorization" and bearer is None:
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            bearer = credentials if scheme.lower() == "bearer" and credentials else ""
        elif name == b"x-api-key" and api_key is None:
            api_key = value.decode("latin-1")
    return bearer or api_key or None
