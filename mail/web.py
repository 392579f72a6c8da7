"""``/dev/mail``: what the console backend would have sent (only while it is the backend in use)."""

from __future__ import annotations

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from mail.backends import read_console_outbox
from mail.settings import MailSettings


def mail_routes(settings: MailSettings) -> list[Route]:
    async def console_page(request: Request) -> Response:
        if settings.backend != "console":
            return HTMLResponse("Not Found", status_code=404)
        rows = "".join(
            f"<tr><td>{html.escape(str(m.get('to')))}</td><td>{html.escape(str(m.get('subject')))}</td>"
            f"<td><pre>{html.escape(str(m.get('text')))}</pre></td></tr>"
            for m in read_console_outbox(Path(settings.console_file))
        )
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>Mail (console backend)</title>"
            "<h1>E-mails the console backend would have sent</h1>"
            f"<table id=mail><tr><th>to</th><th>subject</th><th>text</th></tr>{rows}</table>"
        )

    return [Route("/dev/mail", console_page, methods=["GET"])]
