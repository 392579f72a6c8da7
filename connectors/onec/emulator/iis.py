"""The web server in front of 1C (IIS by default): its request limits answer with HTML, not OData.

IIS refuses a query string over 2048 bytes with an HTML 404 (404.15) and HTTP.sys a URL segment over
260 characters with an HTML 400 — so a long ``$filter`` chained with ``or`` fails before 1C sees it,
and a 404 is "not found" only when its body is an OData error. ``limits=None`` turns this off.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from .faults import send_html


@dataclass(frozen=True)
class IisLimits:
    max_query_string: int = 2048
    max_url_segment: int = 260


QUERY_TOO_LONG = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml">'
    '<head><title>IIS 10.0 Detailed Error - 404.15 - Not Found</title></head><body><div id="content">'
    '<div class="content-container"><h3>HTTP Error 404.15 - Not Found</h3><h4>The request filtering module '
    "is configured to deny a request where the query string is too long.</h4></div></div></body></html>"
)
SEGMENT_TOO_LONG = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n'
    '<HTML><HEAD><TITLE>Bad Request</TITLE>\r\n<META HTTP-EQUIV="Content-Type" Content="text/html; '
    'charset=us-ascii"></HEAD>\r\n<BODY><h2>Bad Request - Invalid URL</h2>\r\n<hr><p>HTTP Error 400. '
    "The request URL is invalid.</p>\r\n</BODY></HTML>\r\n"
)


class IisMiddleware:
    def __init__(self, app: ASGIApp, limits: IisLimits | None) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits = self.limits
        if limits is not None and scope["type"] == "http" and not scope.get("path", "").startswith("/_admin"):
            if len(scope.get("query_string", b"")) > limits.max_query_string:
                await send_html(send, 404, QUERY_TOO_LONG)
                return
            raw = scope.get("raw_path") or scope.get("path", "").encode()
            segments = unquote_to_bytes(raw).decode("utf-8", "replace").split("/")
            if any(len(s) > limits.max_url_segment for s in segments):
                await send_html(send, 400, SEGMENT_TOO_LONG)
                return
        await self.app(scope, receive, send)
