"""Typed errors of the 1C clients, built from whatever 1C (or the web server in front of it) answered.

1C answers failures in three shapes: an OData JSON body (``{"odata.error": {"code", "message"}}``),
an XML body (Atom ``<m:error>`` when ``$format=json`` was lost on the way), or an HTML page — from
IIS/Apache (request limits, gateway errors) or the 1C platform itself ("application error"). A 404
is "not found" only when its body is an OData error; IIS's HTML 404 means the request never reached
1C. Every error keeps 1C's own ``code`` and ``message`` (the support engineer needs 1C's words) and
says whether retrying may help (``retryable``).

Messages are trimmed to a bounded length and never include request bodies, so logging an error
cannot leak a customer's phone or name that was sent to 1C (1C echoes some input back in errors:
that echo is in ``message``, which callers must log through the personal-data filter).
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from typing import Any

import httpx
from defusedxml import ElementTree

from bonusbridge.errors import BonusBridgeError

#: Longest excerpt of a non-JSON body kept in an error (HTML pages can be tens of kilobytes).
MAX_EXCERPT = 300

LOCK_MARKERS = ("конфликт блокировок", "lock conflict", "превышено максимальное время ожидания")


class OneCError(BonusBridgeError):
    """Base of every 1C client error. ``onec_code`` and ``onec_message`` are 1C's own, if it sent any."""

    code = "onec_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        onec_code: str | None = None,
        onec_message: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.onec_code = onec_code
        self.onec_message = onec_message
        self.url = url


class OneCUnavailable(OneCError):
    """1C or its web server is down, overloaded, too slow or answered with a gateway/error page."""

    code = "onec_unavailable"
    retryable = True


class OneCAuthError(OneCError):
    """401 (wrong login or password, or credentials not sent as UTF-8) or 403 (no rights)."""

    code = "onec_auth"


class OneCNotFound(OneCError):
    """404 with 1C's OData error body: the object does not exist."""

    code = "onec_not_found"


class OneCQueryError(OneCError):
    """400: 1C refused the request itself (bad literal, unknown field, unparsable query, duplicate key)."""

    code = "onec_query"


class OneCValueRejected(OneCQueryError):
    """400 for a value in a request body that 1C's metadata does not accept (code 1: "Неверное
    значение перечисления …" for an enum value the configuration lacks — a standard УТ 11 without
    the chain's ``ТолькоНакопление`` — or a literal of the wrong type). Permanent: the same body
    gets the same answer until 1C's configuration changes, so a sync parks it, never retries it."""

    code = "onec_value_rejected"


#: 1C's words for a body value its metadata lacks (the enum's case first: it is what a standard
#: configuration answers to a value only an extension adds).
VALUE_MARKERS = ("неверное значение перечисления", "неверное значение")


class OneCConflict(OneCError):
    """The object changed since it was read (DataVersion differs, or 412 from a strict server)."""

    code = "onec_conflict"


class OneCLockConflict(OneCError):
    """1C's transaction lock wait timed out: another session holds the data. Retry after a backoff."""

    code = "onec_lock_conflict"
    retryable = True


class OneCServerError(OneCError):
    """500 with an OData body: a configuration handler failed. Not retried: it will fail again."""

    code = "onec_server_error"


class OneCProtocolError(OneCError):
    """The answer is not what the OData protocol promises: HTML or XML instead of JSON, truncated
    or oversized JSON, or control characters that 1C itself would refuse to exchange."""

    code = "onec_protocol"
    retryable = True


def _trim(text: str, limit: int = MAX_EXCERPT) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def html_summary(text: str) -> str:
    """The ``<title>`` and visible text of an HTML page, whitespace-collapsed and trimmed."""
    title_match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    title = html.unescape(title_match.group(1)).strip() if title_match else ""
    body = re.sub(r"<(script|style|head)\b.*?</\1>", " ", text, flags=re.IGNORECASE | re.DOTALL)
    visible = html.unescape(re.sub(r"<[^>]+>", " ", body))
    visible = _trim(visible)
    if title and visible.startswith(title):
        visible = visible[len(title) :].strip()
    return _trim(f"{title}: {visible}" if title and visible else title or visible)


_PASSWORD_INPUT = re.compile(r"<input\b[^>]*\btype\s*=\s*[\"']?password", re.IGNORECASE)
_LOGIN_WORDS = ("вход в приложение", "авторизац", "введите имя пользователя", "log in", "login", "sign in")

#: What the typed error says when 1C (or the web server's publication) answers with a login page.
LOGIN_PAGE = "1C asked for a login (the publication's authentication is wrong)"


def is_login_page(text: str) -> bool:
    """An HTML page asking for credentials: a password field, or a title/heading about logging in.

    1C's web client publication answers a request it cannot authenticate with its login form — with
    200, when the publication is set up for the browser (OS or form authentication) rather than
    HTTP Basic — so a client sees a page instead of data."""
    head = text[:20000]
    if _PASSWORD_INPUT.search(head):
        return True
    title = html_title(head).lower()
    return any(word in title for word in _LOGIN_WORDS)


def html_title(text: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    return _trim(html.unescape(match.group(1))) if match else ""


def _json_error(body: Any) -> tuple[str | None, str | None]:
    error = body.get("odata.error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    message = error.get("message")
    text = message.get("value") if isinstance(message, dict) else message
    code = error.get("code")
    return (None if code is None else str(code)), (None if text is None else str(text))


def _xml_error(text: str) -> tuple[str | None, str | None]:
    """``<m:error><m:code>9</m:code><m:message xml:lang="ru">…</m:message></m:error>``."""
    try:
        root = ElementTree.fromstring(text.encode("utf-8"))
    except Exception:  # defusedxml raises several types; a broken body is simply not an error body
        return None, None
    if root.tag.rsplit("}", 1)[-1] != "error":
        return None, None
    code = message = None
    for child in root.iter():
        local = child.tag.rsplit("}", 1)[-1]
        if local == "code" and code is None:
            code = (child.text or "").strip()
        elif local == "message" and message is None:
            message = (child.text or "").strip()
    return code, message


def _kind(response: httpx.Response) -> str:
    content_type = response.headers.get("content-type", "").lower()
    head = response.text[:200].lstrip().lower()
    if "html" in content_type or head.startswith(("<!doctype html", "<html")):
        return "html"
    if "xml" in content_type or head.startswith("<"):
        return "xml"
    if "json" in content_type or head.startswith("{"):
        return "json"
    return "text"


def error_from_response(response: httpx.Response) -> OneCError:
    """The typed error for a failed (non-2xx) answer, keeping 1C's code and message.

    Precedence: the status decides the family, the body refines it. A body that is an HTML page
    means the answer came from IIS/Apache or the 1C platform, not from the OData service, so a 404
    or 400 with HTML is a protocol/availability problem, never "not found" or "bad query".
    """
    status = response.status_code
    url = str(response.request.url) if response.request is not None else None
    kind = _kind(response)
    code: str | None = None
    message: str | None = None
    if kind == "json":
        with contextlib.suppress(ValueError):
            code, message = _json_error(json.loads(response.content))
    elif kind == "xml":
        code, message = _xml_error(response.text)
    page = html_summary(response.text) if kind == "html" else None
    # 1C's words, or failing that an excerpt of whatever came back.
    said = message or page or _trim(response.text) or response.reason_phrase
    text = f"1C answered {status}" + (f" (code {code})" if code else "") + f": {said}"
    details: dict[str, Any] = {
        "status": status,
        "onec_code": code,
        "onec_message": message or page,
        "url": url,
    }

    if status in (401, 403):
        return OneCAuthError(text, **details)
    if kind == "html" and is_login_page(response.text):
        return OneCAuthError(f"{LOGIN_PAGE}: answered {status} with a login page", **details)
    said_lower = (message or "").lower()
    if kind == "html":  # the whole visible page, not the trimmed summary: the words may come late
        said_lower += " " + html.unescape(re.sub(r"<[^>]+>", " ", response.text[:65536])).lower()
    if any(marker in said_lower for marker in LOCK_MARKERS):
        # JSON, XML or 1C's HTML error page ("Конфликт блокировок при выполнении транзакции"):
        # another session holds the data; retrying after a backoff helps.
        return OneCLockConflict(text, **details)
    if status == 412:
        return OneCConflict(text, **details)
    if status in (502, 503, 504) or (status >= 500 and kind == "html"):
        return OneCUnavailable(text, **details)
    if kind == "html":  # IIS's 404.15 / HTTP.sys's 400: the request never reached 1C
        return OneCProtocolError(text, **details)
    if status == 404 and code is not None:
        return OneCNotFound(text, **details)
    if status == 400 and code == "1" and any(marker in said_lower for marker in VALUE_MARKERS):
        return OneCValueRejected(text, **details)
    if status == 400 and code is not None:
        return OneCQueryError(text, **details)
    if status >= 500 and code is not None:
        return OneCServerError(text, **details)
    if status >= 500:
        return OneCUnavailable(text, **details)
    return OneCProtocolError(text, **details)
