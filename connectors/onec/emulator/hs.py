"""The ``loyalty`` HTTP service: ``/<base>/hs/loyalty/…``, the same operations as the web service in JSON.

Basic auth (UTF-8); 401 for bad credentials, 403 (JSON) for a user without the right to write.

=======  ===============================  =====================================================
GET      ``cards?phone=…``                ``{"cards": [card…]}``
GET      ``cards/{number}/balance``       ``{"cardNumber", "accrued", "toWriteOff"}``
POST     ``cards/{number}/block``         body ``{"reason"}`` → the card
POST     ``movements``                    body ``{"cardNumber", "amount", "externalId", "comment"}`` →
                                          201 with the movement, 200 with the same one when
                                          ``externalId`` was seen before (nothing written again)
POST     ``receipts``                     a till sells (test and bench driver): body ``{"card",
                                          "accrued", "redeemed", "amount", "program", "register",
                                          "comment"}`` (``card`` required: number or Ref_Key; the
                                          rest optional) → 201 ``{"ref", "number", "date", "card",
                                          "cardRef", "amount", "accrued", "redeemed", "balance"}``;
                                          written as the till, never as the caller's node
GET      ``partners/{ref}``               the partner
PATCH    ``partners/{ref}``               body with any of ``name``, ``fullName``, ``phone``,
                                          ``email``, ``birthDate`` (``""`` clears) → the partner
=======  ===============================  =====================================================

A card is ``{"ref", "number", "kind", "status", "owner", "ownerName", "balance"}``; amounts are
decimal strings. A refusal is the status of its kind (400, 403, 404, 409) with a JSON body carrying
1C's exception chain, the innermost ``description`` being the module's own message::

    {"errorCode": "NotFound", "message": "…",
     "exception": {"description": "Ошибка при вызове метода …", "moduleName": …, "lineNumber": …,
                   "cause": {"description": "…", …, "cause": null}}}

An unknown URL is 404 with a plain-text body, as 1C answers when no URL template matches.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .auth import unauthorized
from .loyalty import DEFAULT_TILL, LoyaltyError, LoyaltyService

if TYPE_CHECKING:
    from .app import Emulator

log = logging.getLogger(__name__)

JSON = "application/json; charset=utf-8"
ROOT = "loyalty"


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type=JSON)


def exception_chain(code: str, message: str) -> dict[str, Any]:
    """The JSON a 1C HTTP service returns for an exception: ``ИнформацияОбОшибке`` with its cause."""
    return {
        "errorCode": code,
        "message": message,
        "exception": {
            "description": "Ошибка при вызове метода контекста (ВыполнитьОперацию)",
            "moduleName": f"HTTPСервис.{ROOT}.Модуль",
            "lineNumber": 27,
            "sourceLine": "Результат = ЛояльностьСервер.ВыполнитьОперацию(Запрос);",
            "cause": {
                "description": message,
                "moduleName": "ОбщийМодуль.ЛояльностьСервер.Модуль",
                "lineNumber": 112,
                "sourceLine": "ВызватьИсключение ТекстОшибки;",
                "cause": None,
            },
        },
    }


def error_response(exc: LoyaltyError) -> Response:
    return json_response(exception_chain(exc.code, exc.message), exc.status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise LoyaltyError("InvalidArgument", "Ошибка разбора JSON в теле запроса") from None
    if not isinstance(data, dict):
        raise LoyaltyError("InvalidArgument", "Тело запроса должно быть объектом JSON")
    return data


def _string(data: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise LoyaltyError("InvalidArgument", f"Не заполнен параметр {name}")
    return value


Who = dict[str, Any]  # origin_node, read_only
Match = re.Match[str]
Endpoint = Callable[[Request, LoyaltyService, Who, Match], Awaitable[Response]]


async def find_cards(request: Request, service: LoyaltyService, who: Who, m: Match) -> Response:
    phone = request.query_params.get("phone")
    if not phone:
        raise LoyaltyError("InvalidArgument", "Не заполнен параметр phone")
    return json_response({"cards": [c.as_json() for c in service.find_cards_by_phone(phone)]})


async def card_balance(request: Request, service: LoyaltyService, who: Who, m: Match) -> Response:
    return json_response(service.card_balance(m["number"]).as_json())


async def block_card(request: Request, service: LoyaltyService, who: Who, m: Match) -> Response:
    body = await _body(request)
    return json_response(
        service.block_card(m["number"], _string(body, "reason", required=False), **who).as_json()
    )


async def post_movement(request: Request, service: LoyaltyService, who: Who, m: Match) -> Response:
    body = await _body(request)
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        raise LoyaltyError("InvalidArgument", "Не заполнен параметр amount")
    movement = service.post_bonus_movement(
        _string(body, "cardNumber"),
        amount,
        _string(body, "externalId"),
        _string(body, "comment", required=False),
        **who,
    )
    return json_response(movement.as_json(), 201 if movement.created else 200)


RECEIPT_FIELDS = ("card", "accrued", "redeemed", "amount", "program", "register", "comment")


async def post_receipt(request: Request, service: LoyaltyService, who: Who, m: Match) -> Response:
    body = await _body(request)
    unknown = sorted(set(body) - set(RECEIPT_FIELDS))
    if unknown:
        raise LoyaltyError("InvalidArgument", f"Неизвестные параметры чека: {', '.join(unknown)}")
    amounts: dict[str, Any] = {}
    for name in ("accrued", "redeemed", "amount"):
        value = body.get(name)
        if value is None:
            value = 0
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise LoyaltyError("InvalidArgument", f"Неверное значение параметра {name}")
        amounts[name] = value
    program = body.get("program")
    if program is not None and not isinstance(program, str):
        raise LoyaltyError("InvalidArgument", "Неверное значение параметра program")
    receipt = service.post_receipt(
        _string(body, "card"),
        amounts["accrued"],
        amounts["redeemed"],
        amounts["amount"],
        program,
        _string(body, "register", required=False) or DEFAULT_TILL,
        _string(body, "comment", required=False),
        origin_node=None,  # a till, whoever drives it: registered for the website node
        read_only=bool(who["read_only"]),
    )
    return json_response(receipt.as_json(), 201)


async def get_partner(request: Request, service: LoyaltyService, who: Who, m: Match) -> Response:
    return json_response(service.get_partner(m["ref"]).as_json())


async def patch_partner(request: Request, service: LoyaltyService, who: Who, m: Match) -> Response:
    body = await _body(request)
    return json_response(service.update_partner(m["ref"], body, **who).as_json())


ROUTES: list[tuple[str, re.Pattern[str], Endpoint]] = [
    ("GET", re.compile(r"cards/?"), find_cards),
    ("GET", re.compile(r"cards/(?P<number>[^/]+)/balance"), card_balance),
    ("POST", re.compile(r"cards/(?P<number>[^/]+)/block"), block_card),
    ("POST", re.compile(r"movements/?"), post_movement),
    ("POST", re.compile(r"receipts/?"), post_receipt),
    ("GET", re.compile(r"partners/(?P<ref>[^/]+)"), get_partner),
    ("PATCH", re.compile(r"partners/(?P<ref>[^/]+)"), patch_partner),
]


async def http_service(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    identity = emulator.authenticate(request)
    if identity is None:
        return unauthorized()
    rest = request.path_params.get("rest", "")
    matches = [(method, p.fullmatch(rest), fn) for method, p, fn in ROUTES]
    allowed = [(m, fn) for method, m, fn in matches if m is not None and method == request.method]
    if not allowed:
        if any(m is not None for _, m, _ in matches):
            return Response("Method Not Allowed", 405, media_type="text/plain")
        return Response("Not Found", 404, media_type="text/plain")
    match, endpoint = allowed[0]
    assert match is not None
    service = emulator.loyalty
    who = {"origin_node": emulator.exchange.node_of_user(identity.user), "read_only": identity.read_only}
    try:
        return await endpoint(request, service, who, match)
    except LoyaltyError as exc:
        return error_response(exc)
    except Exception as exc:  # a bug still answers like a failed 1C module
        log.exception("emulator HTTP service failure")
        return json_response(exception_chain("InternalError", f"Неизвестная ошибка: {exc}"), 500)


def http_service_routes(base: str) -> list[BaseRoute]:
    """Routes of the ``loyalty`` HTTP service for the publication ``base``."""
    return [
        Route(
            f"/{base}/hs/{ROOT}/{{rest:path}}",
            http_service,
            methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
        )
    ]
