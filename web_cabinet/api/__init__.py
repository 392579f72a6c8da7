"""The shop's JSON API ``/api/v1``: balances, quotes, checkout holds, accruals and refunds."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from bonusbridge.errors import BonusBridgeError
from web_cabinet.api import openapi, problems
from web_cabinet.api.auth import KeyCache
from web_cabinet.api.routes import router

PREFIX = "/api/v1"

DESCRIPTION = """\
The shop's side of BonusBridge: find a card or customer, read a balance, quote a basket, hold and
capture points at checkout, accrue points for a paid order and refund it.

* **Keys.** Send `Authorization: Bearer <key>` (or `X-API-Key`). Keys are per client and scoped:
  `read`, `quote`, `checkout`, `accrue`, `refund`; each operation names the scope it needs.
* **Amounts** (points and money) are decimal strings with at most two decimals, never JSON numbers.
* **Writes** need an `Idempotency-Key` header. A retry with the same key and body gets the first
  answer again (header `Idempotent-Replayed: true`); the same key with another body is refused
  with `idempotency_conflict`. Refused writes change nothing and may be retried.
* **Errors** are `application/problem+json` (RFC 9457) with a stable `code`.
* **Ids** of cards, customers and holds are opaque; phones and card numbers only travel in bodies.
"""


def build_api() -> FastAPI:
    """The API as its own ASGI app: its own OpenAPI document and docs, its own error handling."""
    api = FastAPI(
        title="BonusBridge shop API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        servers=[{"url": PREFIX}],
    )
    api.include_router(router)
    api.state.key_cache = KeyCache()
    api.add_exception_handler(problems.ApiProblem, problems.on_api_problem)
    api.add_exception_handler(BonusBridgeError, problems.on_hub_error)
    api.add_exception_handler(RequestValidationError, problems.on_validation_error)
    api.add_exception_handler(StarletteHTTPException, problems.on_http_error)
    api.add_exception_handler(Exception, problems.on_unexpected)
    openapi.install(api)
    return api


def mount_api(app: FastAPI) -> FastAPI:
    """Mount the API at ``/api/v1`` on the cabinet's ``app``.

    A mounted app rather than a router: its problem+json handlers then cover its paths only (the
    cabinet's pages keep their HTML error pages) and ``/api/v1/openapi.json`` documents the API
    alone. The hub is read from ``app.state.hub`` at request time."""
    api = build_api()
    api.state.parent = app
    mount = Mount(PREFIX, app=api)
    # Starlette's mount pattern ends in ``.*``, which stops at a newline: a path with an encoded
    # newline (``%0A``) would fall through to the cabinet's HTML 404 instead of the API's problem.
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    app.router.routes.append(mount)
    return api
