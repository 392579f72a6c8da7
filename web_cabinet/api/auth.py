"""Who is calling: the API key (``Authorization: Bearer`` or ``X-API-Key``) and its scopes.

Unknown, malformed and wrongly guessed keys get the same answer, after the same work (a hash
compared in constant time), so the API does not tell which prefixes exist.

A key found valid is trusted for ``api_key_cache_seconds`` (by the hub's clock) without asking the
database again: a checkout makes several calls a second, and the look-up cost a connection and
three round trips each. Only valid keys are kept, under their hash; a revocation therefore takes
effect within that time on every server process.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from bonusbridge.models import ApiClient
from web_cabinet.api.clients import KEY_PATTERN, hash_key
from web_cabinet.api.deps import hub_of, settings_of
from web_cabinet.api.problems import ApiProblem

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key, as an alternative")
_DUMMY_HASH = hash_key("bb_000000000000_" + "0" * 43)
#: ``last_used_at`` is refreshed at most this often: a write per request would cost every call.
LAST_USED_PRECISION = timedelta(minutes=5)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="bonusbridge"'}
_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class Principal:
    """The authenticated client."""

    client_id: int
    name: str
    scopes: frozenset[str]


class KeyCache:
    """Valid keys recently checked, by their hash: the principal and until when it is trusted."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Principal, datetime]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str, now: datetime) -> Principal | None:
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is None or now >= entry[1]:
                self._entries.pop(key_hash, None)
                return None
            return entry[0]

    def put(self, key_hash: str, principal: Principal, until: datetime) -> None:
        with self._lock:
            if len(self._entries) >= _CACHE_LIMIT:
                self._entries.clear()  # a flood of distinct valid keys is not a case worth an LRU
            self._entries[key_hash] = (principal, until)


def _trusted(request: Request, key_hash: str) -> Principal | None:
    """The principal of a key checked recently enough, without touching the database."""
    if not settings_of(request).api_key_cache_seconds:
        return None
    cache: KeyCache = request.app.state.key_cache
    return cache.get(key_hash, hub_of(request).ledger.clock())


def _authenticate(request: Request, key: str, key_hash: str) -> Principal:
    """Check the key in the database (a worker thread's job) and remember it when valid."""
    now = hub_of(request).ledger.clock()
    principal = _look_up(request, key, key_hash, now)
    ttl = timedelta(seconds=settings_of(request).api_key_cache_seconds)
    if ttl:
        cache: KeyCache = request.app.state.key_cache
        cache.put(key_hash, principal, now + ttl)
    return principal


def _look_up(request: Request, key: str, key_hash: str, now: datetime) -> Principal:
    hub = hub_of(request)
    match = KEY_PATTERN.fullmatch(key)
    with hub.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = None
        if match:
            row = conn.execute(
                select(
                    ApiClient.id,
                    ApiClient.name,
                    ApiClient.key_hash,
                    ApiClient.scopes,
                    ApiClient.revoked_at,
                    ApiClient.last_used_at,
                ).where(ApiClient.key_prefix == match.group("prefix"))
            ).first()
    expected = row.key_hash if row is not None else _DUMMY_HASH
    if not hmac.compare_digest(key_hash, expected) or row is None:
        raise ApiProblem("invalid_api_key", "the API key is not known", headers=_CHALLENGE)
    if row.revoked_at is not None:
        raise ApiProblem("api_key_revoked", "this API key was revoked; ask for a new one", headers=_CHALLENGE)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        with hub.engine.begin() as conn:
            conn.execute(update(ApiClient).where(ApiClient.id == row.id).values(last_used_at=now))
    return Principal(row.id, row.name, frozenset(row.scopes.split()))


def requires(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, refused with 401 without a valid key and 403 without ``scope``."""

    async def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_header)],
    ) -> Principal:
        key = bearer.credentials if bearer is not None else api_key
        if not key:
            raise ApiProblem("missing_api_key", "send the API key as a Bearer token", headers=_CHALLENGE)
        key_hash = hash_key(key)
        principal = _trusted(request, key_hash)
        if principal is None:
            principal = await run_in_threadpool(_authenticate, request, key, key_hash)
        if scope not in principal.scopes:
            raise ApiProblem("missing_scope", f"this call needs the {scope!r} scope")
        return principal

    dependency.__name__ = f"requires_{scope}"
    return dependency
