"""Migration plans' reports for staff: every `migrate plan` output under the plans folder
(``BONUSBRIDGE_MIGRATION_PLANS_DIR``), its report in Russian or English with every list paged.

Phones are personal data: the ``migration`` and ``admin`` roles see them in full (they call the
customers), every other role masked. The report's pages come from ``reconciliation.legacy.report``
(looked up at request time, like the other engines of these pages) and are served as they are:
standalone documents with their own inline style and no script, under a policy that allows
exactly that.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from web_cabinet.staff.pages import (
    StaffNotFound,
    Who,
    _engine_module,
    parts_of,
    principal,
    render,
    verify_csrf,
)

router = APIRouter(dependencies=[Depends(verify_csrf), Depends(principal)])

#: A report page's name: report.<lang>.html, or report.<lang>.<list>-<n>.html.
PAGE = re.compile(r"^report\.(ru|en)(?:\.([a-z_]+)-([1-9][0-9]{0,6}))?\.html$")
#: The report's pages: no script, their own inline style, nothing framed or fetched.
REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


def _folder(request: Request) -> Path:
    return Path(parts_of(request).settings.migration_plans_dir)


def _plans(request: Request) -> list[dict[str, Any]]:
    root = _folder(request)
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        report = child / "report.json"
        if child.is_dir() and report.is_file():
            header = _read(report).get("header", {})
            found.append({"name": child.name, "incomplete": bool(header.get("incomplete"))})
    return found


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@router.get("/plans")
def plans_page(request: Request, who: Who) -> Response:
    return render(request, "staff/plans.html", {"plans": _plans(request), "folder": str(_folder(request))})


@router.get("/plans/{name}/{page}")
def plan_report_page(request: Request, name: str, page: str, who: Who) -> Response:
    """One page of a plan's report. The folder is one the listing shows (never a path from the
    request), the page one the report has."""
    plan = next((p for p in _plans(request) if p["name"] == name), None)
    match = PAGE.match(page)
    engine = _engine_module("reconciliation.legacy.report", "main_page", "list_page")
    if plan is None or match is None or engine is None:
        raise StaffNotFound
    report = _read(_folder(request) / plan["name"] / "report.json")
    lang, kind, number = match.group(1), match.group(2), int(match.group(3) or 1)
    show = who.sees_issue_details  # the migration and admin roles

    def link(lang: str, kind: str | None = None, number: int = 1) -> str:
        return f"/staff/plans/{plan['name']}/{engine.page_name(lang, kind, number)}"

    try:
        if kind is None:
            text = engine.main_page(report, lang, show_phones=show, link=link)
        else:
            rows = report["lists"][kind]
            if (number - 1) * engine.PAGE >= max(len(rows), 1):
                raise StaffNotFound
            text = engine.list_page(report, lang, kind, number, show_phones=show, link=link)
    except (KeyError, TypeError):
        raise StaffNotFound from None
    return HTMLResponse(text, headers={"Content-Security-Policy": REPORT_POLICY, "Cache-Control": "no-store"})
