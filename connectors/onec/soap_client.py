"""Client of 1C's ``Loyalty`` SOAP web service (zeep).

- WSDL: the live ``<onec_base_url>/ws/Loyalty.1cws?wsdl`` (1C wants credentials for it too), or a
  local file (``onec_soap_wsdl``) for deployments where the WSDL cannot be fetched or is wrong; a copy
  of the emulator's is shipped as ``connectors/onec/wsdl/Loyalty.wsdl``.
- Endpoint: the WSDL's ``soap:address`` names the host 1C was published on, which behind a proxy is
  not reachable; ``onec_soap_endpoint`` replaces it (``Client.create_service(binding, address)``).
- Basic auth is sent as UTF-8 (the header is built here: requests would encode a Cyrillic login as
  latin-1 and 1C answers 401). Timeouts on loading and on every call.
- XML hardened: zeep ``Settings(strict=True, forbid_dtd=True, forbid_entities=True,
  forbid_external=True, xml_huge_tree=False)`` — no DTD, no entities, nothing fetched from inside a
  document.
- Errors are ``connectors.onec.errors`` types keeping 1C's message (``onec_message``): a
  ``soap:Fault`` is ``OneCServerError`` (``OneCQueryError`` for ``soap:Client``/``Sender``: 1C could not
  read the request; ``OneCAuthError`` for "Нарушение прав доступа!"; ``OneCNotFound`` when 1C says
  "не найден"; ``OneCLockConflict`` for lock timeouts); anything that is not a SOAP answer (HTML
  error page, 401/403, gateway errors) goes through ``errors.error_from_response``; connection
  failures and timeouts are ``OneCUnavailable``; an answer that is XML but not what the WSDL promises
  is ``OneCProtocolError``. Failures are logged without personal data (``loyalty.log_failure``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx
import requests
import zeep
import zeep.exceptions
from requests.structures import CaseInsensitiveDict

from . import bounded
from .auth import basic_auth
from .errors import (
    LOCK_MARKERS,
    OneCAuthError,
    OneCError,
    OneCLockConflict,
    OneCNotFound,
    OneCProtocolError,
    OneCQueryError,
    OneCServerError,
    OneCUnavailable,
    error_from_response,
)
from .loyalty import BonusMovement, CardBalance, LoyaltyCard, PartnerProfile, log_failure

if TYPE_CHECKING:
    from bonusbridge.settings import Settings

SERVICE = "Loyalty"
LOCAL_WSDL = Path(__file__).parent / "wsdl" / "Loyalty.wsdl"
_zeep: Any = zeep  # zeep has no type annotations
T = TypeVar("T")


def _is_soap(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    head = response.content[:200].lstrip().lower()
    if "html" in content_type or head.startswith((b"<!doctype", b"<html")):
        return False
    return "xml" in content_type or head.startswith(b"<")


def _typed_http_error(response: httpx.Response) -> OneCError:
    """The answer was not a SOAP message: type it from the status and body like any 1C answer."""
    return error_from_response(response)


def _as_requests(response: httpx.Response) -> requests.Response:
    """zeep reads answers as ``requests`` responses: the bounded httpx answer in that shape."""
    out = requests.Response()
    out.status_code = response.status_code
    out.headers = CaseInsensitiveDict(dict(response.headers))
    out._content = response.content
    out.url = str(response.url)
    out.encoding = response.charset_encoding
    return out


class _HardenedTransport(zeep.Transport):  # type: ignore[misc,unused-ignore]  # zeep is untyped
    """Every HTTP exchange of zeep (the WSDL, each call) goes through ``bounded.fetch`` — an overall
    deadline and a body cap — and is checked before zeep parses it: only SOAP (XML, 200 or a 500
    fault) goes through."""

    def __init__(
        self, session: requests.Session, timeout: float, http: httpx.Client, bounds: bounded.Bounds
    ) -> None:
        cast(Any, super()).__init__(session=session, timeout=timeout, operation_timeout=timeout)
        self._httpx = http
        self._bounds = bounds

    def _fetch(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        return bounded.fetch(self._httpx, method, url, self._bounds, where=f"SOAP {what}", **kwargs)

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> requests.Response:
        content = message.encode("utf-8") if isinstance(message, str) else message
        response = self._fetch("POST", address, "call", content=content, headers=dict(headers))
        if response.status_code in (200, 500) and _is_soap(response):
            return _as_requests(response)
        raise _typed_http_error(response)

    def get(self, address: str, params: Any, headers: dict[str, str]) -> requests.Response:
        response = self._fetch("GET", address, "GET", params=params, headers=dict(headers or {}))
        return _as_requests(response)

    def _load_remote_data(self, url: str) -> bytes:
        response = self._fetch("GET", url, "WSDL")
        if response.status_code != 200 or not _is_soap(response):
            raise _typed_http_error(response)
        return response.content


class LoyaltySoapClient:
    """Typed calls of the ``Loyalty`` web service. Connects lazily (the first call loads the WSDL)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        wsdl: str | Path | None = None,
        endpoint: str | None = None,
        soap12: bool = False,
        deadline: float = bounded.DEFAULT_DEADLINE_SECONDS,
        max_body_bytes: int = bounded.DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        """``base_url``: the publication root (``http://host/base``). ``wsdl``: a local file instead of
        the live ``?wsdl``. ``endpoint``: replaces the WSDL's ``soap:address``. ``soap12``: use the
        SOAP 1.2 binding."""
        self.base_url = base_url.rstrip("/")
        self.wsdl = str(wsdl) if wsdl is not None else f"{self.base_url}/ws/{SERVICE}.1cws?wsdl"
        self.endpoint = endpoint
        self.soap12 = soap12
        self.timeout = timeout
        self.bounds = bounded.Bounds(deadline=deadline, max_body=max_body_bytes)
        self._session = requests.Session()  # zeep wants one; every request goes through _http
        headers = {"Authorization": basic_auth(username, password), "User-Agent": "BonusBridge"}
        self._http = httpx.Client(
            headers=headers, timeout=min(timeout, deadline), transport=bounded.transport()
        )
        self._client: Any = None
        self._service: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> LoyaltySoapClient:
        args: dict[str, Any] = {
            "timeout": settings.onec_timeout_seconds,
            "deadline": settings.onec_deadline_seconds,
            "max_body_bytes": settings.onec_max_body_bytes,
            "wsdl": settings.onec_soap_wsdl,
            "endpoint": settings.onec_soap_endpoint,
        }
        args.update(overrides)
        return cls(
            settings.onec_base_url,
            settings.onec_username,
            settings.onec_password.get_secret_value(),
            **args,
        )

    # --- connection ---------------------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._service is not None:
            return self._service
        transport = _HardenedTransport(self._session, self.timeout, self._http, self.bounds)
        settings = _zeep.Settings(
            strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        client = _zeep.Client(self.wsdl, transport=transport, settings=settings)
        port = f"{SERVICE}Soap12" if self.soap12 else f"{SERVICE}Soap"
        if self.endpoint:
            wanted = f"{SERVICE}Soap12Binding" if self.soap12 else f"{SERVICE}SoapBinding"
            binding = next(
                (name for name in client.wsdl.bindings if str(name).rsplit("}", 1)[-1] == wanted), None
            )
            if binding is None:
                raise OneCProtocolError(f"the WSDL has no binding {wanted}")
            self._service = client.create_service(binding, self.endpoint)
        else:
            self._service = client.bind(SERVICE, port)
        self._client = client
        return self._service

    def _call(self, operation: str, convert: Callable[[Any], T], **params: Any) -> T:
        try:
            service = self._connect()
            result = getattr(service, operation)(**params)
            return convert(result)
        except OneCError as exc:
            error = exc
        except zeep.exceptions.Fault as exc:
            error = _from_fault(exc)
        except requests.Timeout:
            error = OneCUnavailable(f"1C did not answer {operation} within {self.timeout:g} s")
        except requests.RequestException as exc:
            error = OneCUnavailable(f"1C is unreachable: {type(exc).__name__}")
        except zeep.exceptions.TransportError as exc:
            error = OneCProtocolError(f"1C answered {exc.status_code} with no usable SOAP message")
            error.status = exc.status_code
        except (zeep.exceptions.Error, AttributeError, KeyError, ValueError, TypeError) as exc:
            error = OneCProtocolError(
                f"1C's answer to {operation} is not what the WSDL promises: {type(exc).__name__}"
            )
        except OSError as exc:  # a local WSDL that cannot be read
            error = OneCProtocolError(f"cannot read the WSDL: {type(exc).__name__}")
        log_failure("SOAP", operation, error)
        raise error

    def close(self) -> None:
        self._session.close()
        self._http.close()

    def __enter__(self) -> LoyaltySoapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- operations ---------------------------------------------------------------------------------
    def find_cards_by_phone(self, phone: str) -> list[LoyaltyCard]:
        return self._call("FindCardsByPhone", _cards, phone=phone)

    def card_balance(self, card_number: str) -> CardBalance:
        return self._call(
            "GetCardBalance",
            lambda r: CardBalance(str(r.cardNumber), Decimal(r.accrued), Decimal(r.toWriteOff)),
            cardNumber=card_number,
        )

    def post_bonus_movement(
        self, card_number: str, amount: Decimal, external_id: str, comment: str = ""
    ) -> BonusMovement:
        """Positive ``amount`` accrues, negative writes off. Safe to retry with the same ``external_id``."""
        return self._call(
            "PostBonusMovement",
            _movement,
            cardNumber=card_number,
            amount=Decimal(amount),
            externalId=external_id,
            comment=comment or None,
        )

    def block_card(self, card_number: str, reason: str = "") -> LoyaltyCard:
        return self._call("BlockCard", _card, cardNumber=card_number, reason=reason or None)

    def get_partner(self, ref: str) -> PartnerProfile:
        return self._call("GetPartner", _partner, ref=ref)

    def update_partner(
        self,
        ref: str,
        *,
        name: str | None = None,
        full_name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        birth_date: date | None = None,
        clear_birth_date: bool = False,
    ) -> PartnerProfile:
        """Set the given fields (None: unchanged; ``""`` clears phone/email/full name)."""
        birth: Any = zeep.xsd.Nil if clear_birth_date else birth_date
        return self._call(
            "UpdatePartner",
            _partner,
            ref=ref,
            name=name,
            fullName=full_name,
            phone=phone,
            email=email,
            birthDate=birth,
        )

    def operations(self) -> list[str]:
        """The operation names of the bound port (loads the WSDL)."""
        try:
            service = self._connect()
        except OneCError:
            raise
        except Exception as exc:
            raise OneCProtocolError(f"cannot load the WSDL: {type(exc).__name__}") from None
        return sorted(service._binding._operations)

    @property
    def address(self) -> str | None:
        """The endpoint calls go to (after the WSDL is loaded)."""
        return None if self._service is None else str(self._service._binding_options["address"])


def _from_fault(exc: Any) -> OneCError:
    message = str(exc.message or "")
    code = str(exc.code or "")
    text = f"1C SOAP fault: {message}"
    details: dict[str, Any] = {"status": 500, "onec_code": code or None, "onec_message": message}
    lowered = message.lower()
    if any(marker in lowered for marker in LOCK_MARKERS):
        return OneCLockConflict(text, **details)
    if "нарушение прав доступа" in lowered:
        return OneCAuthError(text, **{**details, "status": 403})
    if code.endswith(("Client", "Sender")):
        return OneCQueryError(text, **details)
    if "не найден" in lowered:
        return OneCNotFound(text, **details)
    return OneCServerError(text, **details)


def _cards(r: Any) -> list[LoyaltyCard]:
    """zeep unwraps a ``CardList`` (one repeated child) into a list; an empty one is None."""
    if r is None:
        return []
    items = r if isinstance(r, list) else (getattr(r, "card", None) or [])
    return [_card(c) for c in items]


def _card(r: Any) -> LoyaltyCard:
    return LoyaltyCard(
        ref=str(r.ref),
        number=str(r.number),
        kind=str(r.kind or ""),
        status=str(r.status),
        owner=str(r.owner),
        owner_name=str(r.ownerName or ""),
        balance=Decimal(r.balance),
    )


def _movement(r: Any) -> BonusMovement:
    when = r.date if isinstance(r.date, datetime) else datetime.fromisoformat(str(r.date))
    return BonusMovement(
        str(r.ref), str(r.number), when.replace(tzinfo=None), str(r.externalId), bool(r.created)
    )


def _partner(r: Any) -> PartnerProfile:
    birth = r.birthDate
    if birth is not None and not isinstance(birth, date):
        birth = date.fromisoformat(str(birth)[:10])
    return PartnerProfile(
        ref=str(r.ref),
        code=str(r.code or ""),
        name=str(r.name or ""),
        full_name=str(r.fullName or ""),
        phone=str(r.phone or ""),
        email=str(r.email or ""),
        birth_date=birth,
    )


def ping(settings: Settings) -> tuple[bool, str]:
    """Can the hub reach 1C's web service? Loads the WSDL and makes one harmless read (a phone lookup
    that matches nobody). Used by ``bonusbridge onec ping``."""
    client = LoyaltySoapClient.from_settings(settings)
    try:
        client.find_cards_by_phone("0000000000")
        return True, f"SOAP {SERVICE}: {len(client.operations())} operations at {client.address}"
    except OneCError as exc:
        return False, f"SOAP {SERVICE}: {exc.code}: {exc}"
    finally:
        client.close()
