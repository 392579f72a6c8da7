"""The ``Loyalty`` SOAP web service: ``/<base>/ws/Loyalty.1cws`` (also ``/<base>/ws/Loyalty``).

- ``GET …?wsdl`` (Basic auth, like 1C) → the WSDL from ``wsdl.py``, ``soap:address`` = this request's
  host. Without credentials: 401.
- ``POST`` a SOAP 1.1 (``text/xml``) or 1.2 (``application/soap+xml``) envelope; the operation is the
  body's first element. Answers are built as 1C builds them (``<m:<op>Response><m:return>…``); a
  refusal is a ``soap:Fault`` with 1C's message as ``faultstring`` (1.2: ``Reason/Text``) and HTTP 500
  — ``soap:Client`` for a request 1C cannot read (XDTO conversion), ``soap:Server`` for an exception
  raised by the module.
- Incoming XML is parsed hardened: no DTD is loaded, no entity resolved, no network access, and a
  document with a DOCTYPE (the carrier of XXE and entity-expansion bombs) is refused outright.

The operations themselves are ``loyalty.LoyaltyService``'s, shared with the HTTP service.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lxml import etree  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .auth import Identity, unauthorized
from .loyalty import Balance, Card, LoyaltyError, LoyaltyService, Movement, Partner
from .wsdl import NS, OPERATIONS, SERVICE, SOAP11_ENV, SOAP12_ENV, TYPES, generate_wsdl

if TYPE_CHECKING:
    from .app import Emulator

log = logging.getLogger(__name__)

XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"
MAX_BODY = 1_000_000


class SoapFault(Exception):
    def __init__(self, message: str, *, client: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.client = client


def parse_hardened(body: bytes) -> etree._Element:
    """The document element of ``body``; DOCTYPE/DTD/entities refused, nothing fetched."""
    if len(body) > MAX_BODY:
        raise SoapFault("Превышен допустимый размер сообщения", client=True)
    head = body.lstrip()[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise SoapFault("Ошибка разбора XML: DTD в сообщении запрещено", client=True)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise SoapFault(f"Ошибка разбора XML: {exc}", client=True) from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise SoapFault("Ошибка разбора XML: DTD в сообщении запрещено", client=True)
    if any(isinstance(node, etree._Entity) for node in root.iter()):
        raise SoapFault("Ошибка разбора XML: ссылки на сущности запрещены", client=True)
    return root


# --- responses ---------------------------------------------------------------------------------------
def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _fill(parent: etree._Element, type_name: str, values: dict[str, Any]) -> None:
    for param in TYPES[type_name]:
        value = values.get(param.name)
        if param.many:
            for item in value or []:
                child = etree.SubElement(parent, _q(param.name))
                _fill(child, param.type.split(":")[1], item)
            continue
        child = etree.SubElement(parent, _q(param.name))
        if value is None:
            child.set(f"{{{XSI}}}nil", "true")
        else:
            child.text = _text(value)


def _card(card: Card) -> dict[str, Any]:
    return {**card.as_json(), "balance": card.accrued}


def _balance(balance: Balance) -> dict[str, Any]:
    return {"cardNumber": balance.card_number, "accrued": balance.accrued, "toWriteOff": balance.to_write_off}


def _movement(movement: Movement) -> dict[str, Any]:
    return movement.as_json()


def _partner(partner: Partner) -> dict[str, Any]:
    return partner.as_json()


def envelope(soap12: bool) -> tuple[etree._Element, etree._Element]:
    env_ns = SOAP12_ENV if soap12 else SOAP11_ENV
    env = etree.Element(f"{{{env_ns}}}Envelope", nsmap={"soap": env_ns})
    return env, etree.SubElement(env, f"{{{env_ns}}}Body")


def _xml_response(env: etree._Element, soap12: bool, status: int = 200) -> Response:
    media = "application/soap+xml; charset=utf-8" if soap12 else "text/xml; charset=utf-8"
    body = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return Response(body, status_code=status, headers={"content-type": media})


def fault_response(message: str, *, client: bool, soap12: bool) -> Response:
    """1C's fault: HTTP 500, ``faultcode`` soap:Client/soap:Server, ``faultstring`` = the message."""
    env, body = envelope(soap12)
    if soap12:
        fault = etree.SubElement(body, f"{{{SOAP12_ENV}}}Fault")
        code = etree.SubElement(fault, f"{{{SOAP12_ENV}}}Code")
        etree.SubElement(code, f"{{{SOAP12_ENV}}}Value").text = "soap:Sender" if client else "soap:Receiver"
        reason = etree.SubElement(fault, f"{{{SOAP12_ENV}}}Reason")
        text = etree.SubElement(reason, f"{{{SOAP12_ENV}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "ru")
        text.text = message
    else:
        fault = etree.SubElement(body, f"{{{SOAP11_ENV}}}Fault")
        etree.SubElement(fault, "faultcode").text = "soap:Client" if client else "soap:Server"
        etree.SubElement(fault, "faultstring").text = message
    return _xml_response(env, soap12, 500)


# --- requests ----------------------------------------------------------------------------------------
def _arguments(operation: str, element: etree._Element) -> dict[str, Any]:
    """The operation's parameters by name; XDTO errors for missing or malformed ones."""
    params, _ = OPERATIONS[operation]
    found: dict[str, etree._Element] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if etree.QName(child).namespace not in (NS, None):
            raise SoapFault(f"Ошибка преобразования данных XDTO: неизвестное свойство {name}", client=True)
        found[name] = child
    out: dict[str, Any] = {}
    for param in params:
        child = found.pop(param.name, None)
        if child is None:
            if not param.optional:
                raise SoapFault(
                    f"Ошибка преобразования данных XDTO: не заполнено свойство '{param.name}'", client=True
                )
            continue
        if child.get(f"{{{XSI}}}nil") in ("true", "1"):
            out[param.name] = ""  # nil clears
        else:
            out[param.name] = (child.text or "").strip() if param.type != "xs:string" else child.text or ""
    if found:
        raise SoapFault(
            f"Ошибка преобразования данных XDTO: неизвестное свойство {next(iter(found))}", client=True
        )
    return out


def _dispatch(
    service: LoyaltyService, operation: str, args: dict[str, Any], identity: Identity, node: str | None
) -> tuple[str, dict[str, Any]]:
    """(return type, values) of one call."""
    read_only = identity.read_only
    if operation == "FindCardsByPhone":
        return "CardList", {"card": [_card(c) for c in service.find_cards_by_phone(args["phone"])]}
    if operation == "GetCardBalance":
        return "Balance", _balance(service.card_balance(args["cardNumber"]))
    if operation == "PostBonusMovement":
        result = service.post_bonus_movement(
            args["cardNumber"],
            args["amount"],
            args["externalId"],
            args.get("comment", ""),
            origin_node=node,
            read_only=read_only,
        )
        return "MovementResult", _movement(result)
    if operation == "BlockCard":
        return "Card", _card(
            service.block_card(
                args["cardNumber"], args.get("reason", ""), origin_node=node, read_only=read_only
            )
        )
    if operation == "GetPartner":
        return "Partner", _partner(service.get_partner(args["ref"]))
    if operation == "UpdatePartner":
        fields = {k: v for k, v in args.items() if k != "ref"}
        return "Partner", _partner(
            service.update_partner(args["ref"], fields, origin_node=node, read_only=read_only)
        )
    raise SoapFault(f"Операция {operation} не найдена", client=True)  # pragma: no cover - checked before


def location(request: Request, emulator: Emulator) -> str:
    return f"{str(request.base_url).rstrip('/')}/{emulator.base}/ws/{SERVICE}.1cws"


async def web_service(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    identity = emulator.authenticate(request)
    if identity is None:
        return unauthorized()
    if request.method == "GET":
        if any(key.lower() == "wsdl" for key in request.query_params):
            return Response(generate_wsdl(location(request, emulator)), media_type="text/xml; charset=utf-8")
        return Response(
            "Неверный запрос к веб-сервису: ожидается ?wsdl или POST", 400, media_type="text/plain"
        )
    soap12 = "application/soap+xml" in request.headers.get("content-type", "").lower()
    try:
        root = parse_hardened(await request.body())
        env_ns = SOAP12_ENV if soap12 else SOAP11_ENV
        if root.tag != f"{{{env_ns}}}Envelope":
            raise SoapFault("Ошибка разбора сообщения SOAP: ожидается элемент Envelope", client=True)
        body = root.find(f"{{{env_ns}}}Body")
        element = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
        if element is None:
            raise SoapFault("Ошибка разбора сообщения SOAP: пустое тело", client=True)
        qname = etree.QName(element)
        if qname.namespace != NS or qname.localname not in OPERATIONS:
            raise SoapFault(f"Операция {qname.localname} веб-сервиса {SERVICE} не найдена", client=True)
        operation = qname.localname
        args = _arguments(operation, element)
        service = emulator.loyalty
        node = emulator.exchange.node_of_user(identity.user)
        return_type, values = _dispatch(service, operation, args, identity, node)
    except SoapFault as exc:
        return fault_response(exc.message, client=exc.client, soap12=soap12)
    except LoyaltyError as exc:
        return fault_response(exc.message, client=False, soap12=soap12)
    except Exception as exc:  # a bug still answers like a failed 1C module
        log.exception("emulator SOAP failure")
        return fault_response(f"Неизвестная ошибка: {exc}", client=False, soap12=soap12)
    env, soap_body = envelope(soap12)
    response = etree.SubElement(soap_body, _q(f"{operation}Response"), nsmap={"m": NS})
    ret = etree.SubElement(response, _q("return"), nsmap={"xs": XS, "xsi": XSI})
    _fill(ret, return_type, values)
    return _xml_response(env, soap12)


def web_service_routes(base: str) -> list[BaseRoute]:
    """Routes of the ``Loyalty`` web service for the publication ``base``."""
    return [
        Route(f"/{base}/ws/{SERVICE}.1cws", web_service, methods=["GET", "POST"]),
        Route(f"/{base}/ws/{SERVICE}", web_service, methods=["GET", "POST"]),
    ]
