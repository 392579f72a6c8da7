"""The shop's JSON API ``/api/v1``: balances, quotes, checkout holds, accruals and refunds."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from bonusbridge.errors import BonusBridgeError
from bonusbridge.rewards.errors import RewardsError
from web_cabinet.api import openapi, problems
from web_cabinet.api.auth import KeyCache
from web_cabinet.api.routes import router, shop

PREFIX = "/api/v1"

DESCRIPTION = """\
The shop's side of BonusBridge: find a card or customer, read a balance, quote a basket, hold and
capture points at checkout, accrue points for a paid order or receipt, refund or return it; and the
tills' quote, so a 1C till and the website compute points with the same rules.

* **Keys.** Send `Authorization: Bearer <key>` (or `X-API-Key`). Keys are per client and scoped:
  `read`, `quote`, `checkout`, `accrue`, `refund`, `till`; each operation names the scope it needs.
* **Amounts** (points and money) are decimal strings with at most two decimals, never JSON numbers,
  at most `9999999999999.99` (NUMERIC(15,2), as in 1C). A card's balance has the same maximum: a
  credit beyond it (an accrual, a receipt, a refund giving points back) is refused with
  `balance_limit_exceeded` (422) and changes nothing.
* **Times** (`at`) carry their offset (`+03:00`, `Z`); a time without one is refused (422
  `validation_error` naming `body.at`), never guessed. **Booleans** are JSON `true`/`false` only.
* **Writes** need an `Idempotency-Key` header. A retry with the same key and body gets the first
  answer again (header `Idempotent-Replayed: true`); the same key with another body is refused
  with `idempotency_conflict`. Refused writes change nothing and may be retried.
* **Errors** are `application/problem+json` (RFC 9457) with a stable `code`.
* **Ids** of cards, customers and holds are opaque; phones and card numbers only travel in bodies.

## For 1C developers: the till's quote

A till asks the hub what a receipt earns and how many points may pay for it with one HTTP call,
`POST /api/v1/onec/quote`, from the 1C HTTP client (`Новый HTTPСоединение(Сервер, 443, , , , 5,
Новый ЗащищенноеСоединениеOpenSSL)`; `Новый HTTPЗапрос("/api/v1/onec/quote", Заголовки)`,
`УстановитьТелоИзСтроки(ЗаписатьJSON(...), "UTF-8")`, `ОтправитьДляОбработки`). It computes with the
same function as the website's `/quotes`: the program version in force at the receipt's time, its
campaigns, the customer's birthday and first purchase.

**Headers**: `Authorization: Bearer <key>` (a key with scope `till`: `bonusbridge api-clients create
till-shop-12 --scopes till`), `Content-Type: application/json`. No `Idempotency-Key`: a quote
writes nothing, so the till may repeat it freely (e.g. after each scanned line).

**Body** (every amount a string with a dot, never a JSON number; 1C's `Формат(Сумма, "ЧРД=.; ЧГ=0")`):

```json
{"card_number": "2000 0000 0001", "at": "2026-12-03T14:05:00+03:00", "currency": "RUB",
 "vouchers": "0", "points_to_spend": "0",
 "lines": [{"sku": "00-00012345", "quantity": "2", "price": "450.00", "discount": "50.00",
            "category": "cement", "brand": "M500", "vat_rate": "20"}]}
```

`card_number` as scanned (spaces, dashes and Cyrillic look-alike letters are fine; when several
legacy programs issued the number, the primary card is taken); `at` the receipt's time with its
offset (1C dates carry none: add the base's offset, e.g. `+03:00`); `quantity` up to 3 decimals;
`price` per unit with VAT; `discount` on the whole line; `category`/`brand` as the program's
exclusions and campaigns name them; `vouchers` the coupons and gift cards paying the receipt;
`points_to_spend` the points the customer pays with (they earn nothing when the program says so).

**Answer** (200): `points_earned` (print it), `lines[]` with each line's `points`, `multiplier` and
the `rules` that applied, `max_spend_points` / `max_spend_value` (the most the customer may pay
with points; 0 with `spend_refused`: `accumulation_only`, `blocked`, `below_threshold`,
`below_minimum_order`), `available`, `balance_after_max_spend` (0 when the program spends the whole
balance), `rule` (print it: "100 points = 1.00 RUB") and `program_version`. Errors are problem+json:
`unknown_card` (404), `invalid_basket`, `unknown_currency`, `before_program_start`,
`validation_error` (422, with `errors[].location` such as `body.lines.3.price`).

The till then posts its receipt to 1C as before; the sync brings it to the hub, or the website
posts its own paid orders to `POST /receipts` (and returns to `POST /receipts/{id}/returns`).
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
    api.add_exception_handler(RewardsError, shop.on_rewards_error)  # in the caller's language
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
