"""Client of 1C's standard OData interface (v3), sync (``ODataClient``) and async (``AsyncODataClient``).

What it does that a generic OData client does not, and why:

- **UTF-8 Basic auth.** httpx encodes ``auth=(user, password)`` as latin-1; a Cyrillic login then
  fails with 401 (1C decodes UTF-8). The header is built here from the UTF-8 bytes.
- **Query strings built by hand.** httpx's ``params=`` writes spaces as ``+``, which 1C rejects;
  ``$filter`` values come from ``filters.Filter`` (escaped literals) and are encoded with ``%20``.
- **Paging with ``$top``/``$skip``.** 1C never sends a next link; ``iter_all`` pages until a short page.
- **DataVersion check before a write.** Real 1C applies a stale DataVersion without complaint, so
  ``patch(expected_data_version=…)`` re-reads the object first and refuses to overwrite an edit made
  since (``OneCConflict``); it also sends ``If-Match`` for servers that do enforce it.
- **Defensive reading.** Every answer is read with a size cap, must be JSON, must be complete, and
  must not carry control characters; anything else is a typed error (``connectors.onec.errors``)
  that keeps 1C's message. Errors are raised before anything is returned, so callers never store
  half of a bad answer.
- **Logging without personal data.** Log lines carry the method, the entity set (path without the
  query string, which may hold a phone in ``$filter``), the status and the time — never bodies and
  never credentials.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import unquote

import httpx

from . import bounded
from .auth import basic_auth
from .errors import (
    LOGIN_PAGE,
    OneCAuthError,
    OneCConflict,
    OneCError,
    OneCProtocolError,
    OneCUnavailable,
    error_from_response,
    is_login_page,
)
from .filters import Filter, Guid, datetime_literal, encode, string_literal

if TYPE_CHECKING:
    from bonusbridge.settings import Settings

log = logging.getLogger(__name__)

Entity = dict[str, Any]
# Aliases: inside the client classes ``list`` is a method name, so mypy must not see ``list[...]`` there.
Entities = list[Entity]
Names = list[str]
Nodes = list["ExchangeNode"]

#: 16 MiB: a real УТ's ``$metadata`` is ~17 MB, so it is deliberately not read through this client.
DEFAULT_MAX_BODY_BYTES = bounded.DEFAULT_MAX_BODY_BYTES
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _HideQueryStrings(logging.Filter):
    """httpx logs every request URL at INFO, query string included — and a ``$filter`` may hold a
    surname or a phone. This filter, installed on httpx's logger, keeps only the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) and a.query for a in record.args):
            record.args = tuple(
                a.copy_with(query=None) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


if not any(isinstance(f, _HideQueryStrings) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_HideQueryStrings())


# --- pure helpers shared by both clients -----------------------------------------------------------


def odata_root(base_url: str) -> str:
    """The OData service root for a publication root (``http://host/base``) or the root itself."""
    url = base_url.rstrip("/")
    if not url.endswith("/odata/standard.odata"):
        url += "/odata/standard.odata"
    return url + "/"


def key_path(entity_set: str, ref: str | Guid) -> str:
    """``Catalog_X(guid'…')`` with the guid validated (a reference is never free text in a URL)."""
    guid = ref if isinstance(ref, Guid) else Guid(ref)
    return f"{entity_set}(guid'{guid.value}')"


_ENTITY_SET = re.compile(r"[^\W\d]\w*")


def _entity_set(name: str) -> str:
    if not _ENTITY_SET.fullmatch(name):
        raise ValueError(f"not an entity set name: {name!r}")
    return name


def query_string(**options: Any) -> str:
    """``?$format=json&$filter=…`` from keyword options (``None`` skipped); names without a leading
    ``$`` are 1C's own parameters (``MessageNo``, ``PostingModeOperational`` …)."""
    parts = ["$format=json"]
    for name, value in options.items():
        if value is None:
            continue
        key = name if name[0].isupper() else f"${name}"
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        parts.append(f"{key}={encode(str(value))}")
    return "?" + "&".join(parts)


def int64(value: Any) -> int:
    """1C serializes Edm.Int64 (``LineNumber``, ``SentNo``, ``odata.count``) as a JSON string."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not an Int64")
    return int(value)


def encode_body(value: Any) -> bytes:
    """JSON with ``Decimal`` written as an exact number (``json`` would refuse or go through float)."""
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value}")
        return format(value, "f")
    if isinstance(value, Mapping):
        return (
            "{"
            + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_encode(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("floats are not sent to 1C: use Decimal for exact amounts")
    if isinstance(value, datetime):
        return json.dumps(datetime_literal(value)[len("datetime'") : -1])
    if isinstance(value, Guid):
        return json.dumps(value.value)
    return json.dumps(value, ensure_ascii=False)


def _find_control(value: Any, path: str = "") -> str | None:
    """The path of the first string holding a control character (the value itself is not reported)."""
    if isinstance(value, str):
        return path or "<root>" if _CONTROL.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_control(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_control(item, f"{path}[{index}]")
            if found:
                return found
    return None


def parse_body(response: httpx.Response, content: bytes) -> Any:
    """The JSON of a successful answer, or a typed error: HTML/XML, broken JSON, control characters."""
    if not content:
        return None
    head = content[:200].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or "html" in response.headers.get("content-type", ""):
        from .errors import html_summary

        text = content.decode("utf-8", "replace")
        if is_login_page(text):
            raise OneCAuthError(
                f"{LOGIN_PAGE}: answered {response.status_code} with a login page instead of data",
                status=response.status_code,
                url=str(response.request.url),
            )
        raise OneCProtocolError(
            f"1C answered an HTML page instead of JSON: {html_summary(content.decode('utf-8', 'replace'))}",
            status=response.status_code,
            url=str(response.request.url),
        )
    if head.startswith(b"<"):
        raise OneCProtocolError(
            "1C answered XML instead of JSON ($format=json lost on the way?)",
            status=response.status_code,
            url=str(response.request.url),
        )
    try:
        body = json.loads(content.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise OneCProtocolError("1C's answer is not UTF-8", status=response.status_code) from None
    except ValueError as exc:
        # A raw control character makes JSON invalid too; say which, it is a known 1C data problem.
        reason = (
            "a control character in the data" if _CONTROL.search(content.decode("utf-8", "replace")) else exc
        )
        raise OneCProtocolError(
            f"1C's answer is not valid JSON (truncated or broken): {reason}",
            status=response.status_code,
            url=str(response.request.url),
        ) from None
    where = _find_control(body)
    if where is not None:
        raise OneCProtocolError(
            f"1C's answer holds a control character in {where}; 1C's own exchange refuses such data",
            status=response.status_code,
            url=str(response.request.url),
        )
    return body


def _transport_error(exc: httpx.HTTPError, method: str, path: str) -> OneCError:
    where = f"{method} {path}"
    if isinstance(exc, httpx.TimeoutException):
        return OneCUnavailable(f"1C did not answer in time ({type(exc).__name__}) on {where}")
    if isinstance(exc, httpx.ConnectError):
        return OneCUnavailable(f"1C is unreachable on {where}: {exc}")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return OneCProtocolError(f"1C dropped the connection mid-answer on {where}: {exc}")
    return OneCUnavailable(f"transport error talking to 1C on {where}: {exc}")


def _log_path(url: str) -> str:
    """The path without its query string (``$filter`` may hold a phone or a surname)."""
    return unquote(url.split("?", 1)[0])


def _values(body: Any) -> list[Entity]:
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise OneCProtocolError("1C's list answer has no 'value' array")
    return list(body["value"])


def _single(body: Any) -> Entity:
    if not isinstance(body, dict):
        raise OneCProtocolError("1C's answer is not a JSON object")
    return dict(body)


@dataclass(frozen=True)
class Page:
    """One page of a list; ``count`` is ``odata.count`` (all matches) when asked for with ``count=True``."""

    values: list[Entity]
    count: int | None = None


@dataclass(frozen=True)
class ExchangeNode:
    ref: str
    code: str
    description: str
    sent_no: int
    received_no: int
    this_node: bool

    @classmethod
    def from_entity(cls, value: Entity) -> ExchangeNode:
        return cls(
            ref=str(value["Ref_Key"]),
            code=str(value.get("Code", "")),
            description=str(value.get("Description", "")),
            sent_no=int64(value.get("SentNo", "0")),
            received_no=int64(value.get("ReceivedNo", "0")),
            this_node=bool(value.get("ThisNode", False)),
        )


@dataclass(frozen=True)
class Changes:
    """One ``SelectChanges`` answer: the current state of every registered object (a deleted object
    is ``{"Ref_Key": …, "odata.deleted": true}``), all stamped with ``message_no``."""

    message_no: int
    values: list[Entity]


def _list_options(
    filter: Filter | str | None,
    select: list[str] | None,
    orderby: str | None,
    top: int | None,
    skip: int | None,
    expand: list[str] | None,
    count: bool,
) -> str:
    if isinstance(filter, str):  # accepted for literal-free filters; prefer Filter
        filter = Filter(filter)
    return query_string(
        filter=None if filter is None else filter.text,
        select=select,
        expand=expand,
        orderby=orderby,
        top=top,
        skip=skip or None,
        inlinecount="allpages" if count else None,
    )


def _page(body: Any) -> Page:
    raw = body.get("odata.count") if isinstance(body, dict) else None
    return Page(_values(body), None if raw is None else int64(raw))


def _exchange_point(root: str, plan: str, node_ref: str) -> str:
    """1C's form, as observed: the URL in quotes, the guid's own quotes NOT doubled."""
    return f"'{root}{_entity_set(plan)}(guid'{Guid(node_ref).value}')'"


def _balance_path(register: str, period: datetime | None, condition: Filter | None) -> str:
    args = []
    if period is not None:
        args.append(f"Period={datetime_literal(period)}")
    if condition is not None:
        args.append(f"Condition={string_literal(condition.text)}")
    return f"{_entity_set(register)}/Balance({','.join(args)})"


def _decimal_resources(rows: Entities) -> Entities:
    """Resources as Decimal: 1C writes whole amounts as JSON integers (650) and others as 650.5."""
    for row in rows:
        for name, value in row.items():
            if name.endswith("Balance") and isinstance(value, int) and not isinstance(value, bool):
                row[name] = Decimal(value)
    return rows


def _plan_name(plan: str) -> str:
    return plan if plan.startswith("ExchangePlan_") else f"ExchangePlan_{plan}"


def _conflict(entity_set: str, ref: str, expected: str, actual: Any) -> OneCConflict:
    return OneCConflict(
        f"{entity_set} {ref} was changed in 1C since it was read "
        f"(DataVersion {expected} expected, {actual} found); re-read and merge before writing"
    )


class _Base:
    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        deadline: float = bounded.DEFAULT_DEADLINE_SECONDS,
    ) -> None:
        self.root = odata_root(base_url)
        self.max_body_bytes = max_body_bytes
        self.deadline = deadline
        self.bounds = bounded.Bounds(deadline=deadline, max_body=max_body_bytes)
        self._timeout = httpx.Timeout(min(timeout, deadline))
        self._headers = {
            "Authorization": basic_auth(username, password),
            "Accept": "application/json",
        }

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Self:
        """A client for the 1C configured in settings (``BONUSBRIDGE_ONEC_*``)."""
        return cls(
            settings.onec_base_url,
            settings.onec_username,
            settings.onec_password.get_secret_value(),
            **{
                "timeout": settings.onec_timeout_seconds,
                "deadline": settings.onec_deadline_seconds,
                "max_body_bytes": settings.onec_max_body_bytes,
                **kwargs,
            },
        )

    def _finish(self, response: httpx.Response, content: bytes, method: str, started: float) -> Any:
        log.info(
            "1C OData %s %s -> %s in %.0f ms",
            method,
            _log_path(str(response.request.url)),
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code >= 400:
            error = error_from_response(
                httpx.Response(
                    response.status_code,
                    headers=response.headers,
                    content=content,
                    request=response.request,
                )
            )
            log.warning(
                "1C OData %s %s failed: %s (%s)", method, _log_path(error.url or ""), error.code, error.status
            )
            raise error
        return parse_body(response, content)


class ODataClient(_Base):
    """Synchronous client. Use as a context manager, or call ``close()``.

    ``base_url`` is the publication root (``settings.onec_base_url``) or the OData root itself.
    ``transport`` lets tests plug in respx or an ASGI transport.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        deadline: float = bounded.DEFAULT_DEADLINE_SECONDS,
    ) -> None:
        super().__init__(
            base_url, username, password, timeout=timeout, max_body_bytes=max_body_bytes, deadline=deadline
        )
        self._http = httpx.Client(
            base_url=self.root,
            headers=self._headers,
            timeout=self._timeout,
            transport=transport if transport is not None else bounded.transport(),
        )

    def __enter__(self) -> ODataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- transport ---------------------------------------------------------------------------------
    def request(
        self, method: str, path: str, *, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> Any:
        """One call; the decoded JSON answer (None for an empty body) or a typed ``OneCError``."""
        extra = dict(headers or {})
        content = None
        if body is not None:
            content = encode_body(body)
            extra["Content-Type"] = "application/json;charset=utf-8"
        started = time.monotonic()
        where = f"{method} {_log_path(path)}"
        try:
            response = bounded.fetch(
                self._http, method, path, self.bounds, where=where, content=content, headers=extra
            )
        except OneCError as exc:
            log.warning("1C OData %s failed: %s", where, exc.code)
            raise
        return self._finish(response, response.content, method, started)

    def metadata(self, *, max_body_bytes: int = 64 * 1024 * 1024) -> str:
        """``$metadata`` (CSDL XML) as text, read within the client's deadline but with a larger
        body cap: a real УТ's is ~17 MB (~23 s), over the cap of ordinary calls (``onec ping``)."""
        bounds = bounded.Bounds(deadline=self.deadline, max_body=max(max_body_bytes, self.max_body_bytes))
        started = time.monotonic()
        response = bounded.fetch(
            self._http,
            "GET",
            "$metadata",
            bounds,
            where="GET $metadata",
            headers={"Accept": "application/xml"},
        )
        if response.status_code >= 400:
            self._finish(response, response.content, "GET", started)  # raises the typed error
        return response.content.decode("utf-8", "replace")

    # --- reading -----------------------------------------------------------------------------------
    def service_document(self) -> Names:
        """Names of the published entity sets (a cheap call: checks the connection and credentials)."""
        body = self.request("GET", query_string())
        return [str(item["name"]) for item in _values(body)]

    def list_page(
        self,
        entity_set: str,
        *,
        filter: Filter | str | None = None,
        select: Names | None = None,
        orderby: str | None = None,
        top: int | None = None,
        skip: int | None = None,
        expand: Names | None = None,
        count: bool = False,
    ) -> Page:
        options = _list_options(filter, select, orderby, top, skip, expand, count)
        return _page(self.request("GET", _entity_set(entity_set) + options))

    def list(
        self,
        entity_set: str,
        filter: Filter | str | None = None,
        select: Names | None = None,
        orderby: str | None = None,
        top: int | None = None,
        skip: int | None = None,
        expand: Names | None = None,
    ) -> Entities:
        """One request's worth of objects (use ``iter_all`` for whole sets)."""
        return self.list_page(
            entity_set, filter=filter, select=select, orderby=orderby, top=top, skip=skip, expand=expand
        ).values

    def iter_all(
        self,
        entity_set: str,
        page_size: int = 500,
        *,
        filter: Filter | str | None = None,
        select: Names | None = None,
        orderby: str | None = "Ref_Key",
        expand: Names | None = None,
    ) -> Iterator[Entity]:
        """Every matching object, ``page_size`` per request with ``$top``/``$skip`` (1C gives no next
        link). A stable ``orderby`` matters: without it 1C's order between pages is unspecified."""
        if page_size < 1:
            raise ValueError("page_size must be positive")
        skip = 0
        while True:
            values = self.list(entity_set, filter, select, orderby, page_size, skip, expand)
            yield from values
            if len(values) < page_size:
                return
            skip += page_size

    def get(self, entity_set: str, ref: str | Guid, *, select: Names | None = None) -> Entity:
        return _single(self.request("GET", key_path(entity_set, ref) + query_string(select=select)))

    def find(self, entity_set: str, filter: Filter) -> Entity | None:
        """The one object matching ``filter``; None if none; OneCProtocolError if several."""
        values = self.list(entity_set, filter, top=2)
        if len(values) > 1:
            raise OneCProtocolError(f"more than one {entity_set} matches the filter")
        return values[0] if values else None

    # --- writing -----------------------------------------------------------------------------------
    def create(self, entity_set: str, body: Mapping[str, Any]) -> Entity:
        """POST a new object; 1C answers 201 with the whole object (new Ref_Key, DataVersion, Code)."""
        return _single(self.request("POST", _entity_set(entity_set) + query_string(), body=dict(body)))

    def patch(
        self,
        entity_set: str,
        ref: str | Guid,
        body: Mapping[str, Any],
        *,
        expected_data_version: str | None = None,
    ) -> Entity:
        """PATCH a partial body; the whole updated object back.

        With ``expected_data_version`` the object is re-read first and ``OneCConflict`` raised if its
        DataVersion moved on: real 1C applies stale writes silently, so this client checks itself.
        The window between the check and the write remains (1C offers no compare-and-set); the
        ``If-Match`` header closes it on servers that enforce it.
        """
        path = key_path(entity_set, ref)
        headers: dict[str, str] = {}
        if expected_data_version is not None:
            current = self.get(entity_set, ref, select=["Ref_Key", "DataVersion"])
            if current.get("DataVersion") != expected_data_version:
                raise _conflict(entity_set, str(ref), expected_data_version, current.get("DataVersion"))
            headers["If-Match"] = expected_data_version
        return _single(self.request("PATCH", path + query_string(), body=dict(body), headers=headers))

    def mark_deleted(
        self, entity_set: str, ref: str | Guid, *, expected_data_version: str | None = None
    ) -> Entity:
        """1C's soft delete: ``DeletionMark`` true (objects are never physically deleted over OData)."""
        return self.patch(
            entity_set, ref, {"DeletionMark": True}, expected_data_version=expected_data_version
        )

    def post_document(self, entity_set: str, ref: str | Guid, *, operational: bool = False) -> None:
        """Post a document (its register movements are written by 1C); ``Posted`` is never PATCHed."""
        self.request(
            "POST", f"{key_path(entity_set, ref)}/Post" + query_string(PostingModeOperational=operational)
        )

    def unpost_document(self, entity_set: str, ref: str | Guid) -> None:
        self.request("POST", f"{key_path(entity_set, ref)}/Unpost" + query_string())

    # --- registers ---------------------------------------------------------------------------------
    def balance(
        self,
        register: str,
        period: datetime | None = None,
        condition: Filter | None = None,
        *,
        filter: Filter | None = None,
    ) -> Entities:
        """``AccumulationRegister_X/Balance(Period=…, Condition=…)``: rows with ``<Resource>Balance``
        fields (Decimal). ``period`` is naive 1C server time; None means "now"."""
        path = _balance_path(register, period, condition)
        options = query_string(filter=None if filter is None else filter.text)
        return _decimal_resources(_values(self.request("GET", path + options)))

    # --- exchange plan -----------------------------------------------------------------------------
    def exchange_nodes(self, plan: str) -> Nodes:
        return [ExchangeNode.from_entity(v) for v in self.list(_plan_name(plan))]

    def exchange_node(self, plan: str, code: str) -> ExchangeNode | None:
        return next((n for n in self.exchange_nodes(plan) if n.code == code), None)

    def select_changes(self, plan: str, node_ref: str, message_no: int) -> Changes:
        """Registrations for the node not yet numbered or numbered ≤ N, stamped N (read, not ack)."""
        point = _exchange_point(self.root, _plan_name(plan), node_ref)
        body = self.request(
            "POST", "SelectChanges" + query_string(DataExchangePoint=point, MessageNo=message_no)
        )
        number = int64(body.get("MessageNo", message_no)) if isinstance(body, dict) else message_no
        return Changes(number, _values(body))

    def notify_changes_received(self, plan: str, node_ref: str, message_no: int) -> None:
        """Acknowledge message N: 1C deletes the node's registrations numbered ≤ N."""
        point = _exchange_point(self.root, _plan_name(plan), node_ref)
        self.request(
            "POST", "NotifyChangesReceived" + query_string(DataExchangePoint=point, MessageNo=message_no)
        )


class AsyncODataClient(_Base):
    """The asynchronous twin for request handlers (the website's checkout must not block a thread):
    reading, paging, creating, patching and balances."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        deadline: float = bounded.DEFAULT_DEADLINE_SECONDS,
    ) -> None:
        super().__init__(
            base_url, username, password, timeout=timeout, max_body_bytes=max_body_bytes, deadline=deadline
        )
        self._http = httpx.AsyncClient(
            base_url=self.root, headers=self._headers, timeout=self._timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncODataClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self, method: str, path: str, *, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> Any:
        extra = dict(headers or {})
        content = None
        if body is not None:
            content = encode_body(body)
            extra["Content-Type"] = "application/json;charset=utf-8"
        started = time.monotonic()
        where = f"{method} {_log_path(path)}"
        end = started + self.deadline
        try:
            async with asyncio.timeout(self.deadline):
                async with self._http.stream(method, path, content=content, headers=extra) as response:
                    body = await bounded.aread_body(response, self.bounds, where, end)
        except TimeoutError:
            log.warning("1C OData %s failed: deadline", where)
            raise bounded.deadline_passed(self.deadline, where) from None
        except httpx.HTTPError as exc:
            log.warning("1C OData %s failed: %s", where, type(exc).__name__)
            raise _transport_error(exc, method, _log_path(path)) from exc
        except OneCError as exc:
            log.warning("1C OData %s failed: %s", where, exc.code)
            raise
        return self._finish(response, body, method, started)

    async def list_page(
        self,
        entity_set: str,
        *,
        filter: Filter | str | None = None,
        select: Names | None = None,
        orderby: str | None = None,
        top: int | None = None,
        skip: int | None = None,
        expand: Names | None = None,
        count: bool = False,
    ) -> Page:
        options = _list_options(filter, select, orderby, top, skip, expand, count)
        return _page(await self.request("GET", _entity_set(entity_set) + options))

    async def list(
        self,
        entity_set: str,
        filter: Filter | str | None = None,
        select: Names | None = None,
        orderby: str | None = None,
        top: int | None = None,
        skip: int | None = None,
        expand: Names | None = None,
    ) -> Entities:
        page = await self.list_page(
            entity_set, filter=filter, select=select, orderby=orderby, top=top, skip=skip, expand=expand
        )
        return page.values

    async def iter_all(
        self,
        entity_set: str,
        page_size: int = 500,
        *,
        filter: Filter | str | None = None,
        select: Names | None = None,
        orderby: str | None = "Ref_Key",
        expand: Names | None = None,
    ) -> AsyncIterator[Entity]:
        if page_size < 1:
            raise ValueError("page_size must be positive")
        skip = 0
        while True:
            values = await self.list(entity_set, filter, select, orderby, page_size, skip, expand)
            for value in values:
                yield value
            if len(values) < page_size:
                return
            skip += page_size

    async def get(self, entity_set: str, ref: str | Guid, *, select: Names | None = None) -> Entity:
        return _single(await self.request("GET", key_path(entity_set, ref) + query_string(select=select)))

    async def create(self, entity_set: str, body: Mapping[str, Any]) -> Entity:
        return _single(await self.request("POST", _entity_set(entity_set) + query_string(), body=dict(body)))

    async def patch(
        self,
        entity_set: str,
        ref: str | Guid,
        body: Mapping[str, Any],
        *,
        expected_data_version: str | None = None,
    ) -> Entity:
        headers: dict[str, str] = {}
        if expected_data_version is not None:
            current = await self.get(entity_set, ref, select=["Ref_Key", "DataVersion"])
            if current.get("DataVersion") != expected_data_version:
                raise _conflict(entity_set, str(ref), expected_data_version, current.get("DataVersion"))
            headers["If-Match"] = expected_data_version
        path = key_path(entity_set, ref) + query_string()
        return _single(await self.request("PATCH", path, body=dict(body), headers=headers))

    async def balance(
        self,
        register: str,
        period: datetime | None = None,
        condition: Filter | None = None,
        *,
        filter: Filter | None = None,
    ) -> Entities:
        path = _balance_path(register, period, condition)
        options = query_string(filter=None if filter is None else filter.text)
        return _decimal_resources(_values(await self.request("GET", path + options)))


# --- typed helpers per entity set ------------------------------------------------------------------


@dataclass(frozen=True)
class EntitySets:
    """The entity-set names a configuration uses for the loyalty objects: bonuses belong to the card
    in Retail and to the partner in УТ 11, so callers ask here instead of hard-coding names."""

    partners: str
    cards: str
    card_kinds: str
    programs: str
    bonus_register: str
    bonus_document: str
    card_owner_field: str  # the card's reference to its customer

    @property
    def bonus_register_rows(self) -> str:
        return f"{self.bonus_register}_RecordType"


ENTITY_SETS = {
    "retail": EntitySets(
        partners="Catalog_Партнеры",
        cards="Catalog_ИнформационныеКарты",
        card_kinds="Catalog_ВидыИнформационныхКарт",
        programs="Catalog_БонусныеПрограммыЛояльности",
        bonus_register="AccumulationRegister_БонусныеБаллы",
        bonus_document="Document_НачислениеИСписаниеБонусныхБаллов",
        card_owner_field="ВладелецКарты",
    ),
    "ut11": EntitySets(
        partners="Catalog_Партнеры",
        cards="Catalog_КартыЛояльности",
        card_kinds="Catalog_ВидыКартЛояльности",
        programs="Catalog_БонусныеПрограммыЛояльности",
        bonus_register="AccumulationRegister_БонусныеБаллы",
        bonus_document="Document_НачислениеИСписаниеБонусныхБаллов",
        card_owner_field="Партнер_Key",
    ),
}


class EntitySetClient:
    """An ``ODataClient`` bound to one entity set: ``client.entity_set(sets.cards).get(ref)``."""

    def __init__(self, client: ODataClient, name: str) -> None:
        self.client = client
        self.name = _entity_set(name)

    def list(self, filter: Filter | None = None, **options: Any) -> Entities:
        return self.client.list(self.name, filter, **options)

    def iter_all(self, page_size: int = 500, **options: Any) -> Iterator[Entity]:
        return self.client.iter_all(self.name, page_size, **options)

    def get(self, ref: str | Guid) -> Entity:
        return self.client.get(self.name, ref)

    def find(self, filter: Filter) -> Entity | None:
        return self.client.find(self.name, filter)

    def create(self, body: Mapping[str, Any]) -> Entity:
        return self.client.create(self.name, body)

    def patch(
        self, ref: str | Guid, body: Mapping[str, Any], *, expected_data_version: str | None = None
    ) -> Entity:
        return self.client.patch(self.name, ref, body, expected_data_version=expected_data_version)


def entity_set(client: ODataClient, name: str) -> EntitySetClient:
    return EntitySetClient(client, name)
