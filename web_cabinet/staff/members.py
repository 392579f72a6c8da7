"""The members screen (seed 001's "Les Membres > Comptes"): every customer with their points and
whether they are in the loyalty program, and the members file staff download, edit in Excel (1 in
``member`` to enrol, 0 to end) and upload back.

Roles (decision): every role sees the screen (ids, cards counted, points, membership: no personal
data on it, so nothing to mask); downloading and importing the file is ``admin``'s and
``marketing``'s. The file carries phones and names in full: it is the staff's working file, given
only to those roles, sent with ``Cache-Control: no-store``, and never logged.

Importing is two steps. The upload only reads and checks the file (``membership.import_members``
without ``apply``) and shows the plan: how many join, leave, stay as they are, the rows whose
names differ (they are not imported), or every refused row with its number. Confirming applies
that plan: the confirmation form carries it signed with the staff session's key (the customers to
enrol and to end, as compressed deltas of their ids: a whole base fits), not the file, so a large
file is uploaded once and what is applied is exactly what was shown; a plan older than a staff
session is refused. It is applied in one transaction with one audit row naming the form; a
second submission of the same form finds that row and changes nothing (as the back office's
adjustments), and a joining or leaving that happened meanwhile is left alone.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from itsdangerous import BadSignature, SignatureExpired
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from bonusbridge import audit
from bonusbridge.services import membership
from bonusbridge.services.members_file import MembersFileInvalid
from web_cabinet.sessions import clocked_serializer
from web_cabinet.staff.auth import Principal, Role
from web_cabinet.staff.pages import (
    StaffParts,
    Who,
    flash,
    parts_of,
    principal,
    render,
    require_role,
    see_other,
    verify_csrf,
)

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[Depends(verify_csrf), Depends(principal)])

#: Who may download and import the members file.
MANAGERS = frozenset({Role.ADMIN, Role.MARKETING})
PAGE = 100
WARNINGS_SHOWN = 100
MAX_FILE_BYTES = 50 * 1024 * 1024
SEPARATORS = {"semicolon": ";", "comma": ",", "tab": "\t"}
_PLAN_SALT = "bonusbridge.staff.members-plan"


def may_manage_members(who: Principal) -> bool:
    return bool(who.roles & MANAGERS)


def _actor(who: Principal) -> str:
    return f"staff:{who.login}"


# --- the screen ------------------------------------------------------------------------------------


@router.get("/members")
def members_page(request: Request, who: Who, after: int = Query(0, ge=0)) -> Response:
    parts = parts_of(request)
    with parts.engine.connect() as conn:
        members_count, customers_count = membership.count_members(conn)
        rows = list(membership.member_rows(conn, now=parts.clock(), after=after, limit=PAGE))
        imports = audit.entries(conn, action_prefix=membership.IMPORT_ACTION, limit=20)
    return render(
        request,
        "staff/members.html",
        {
            "members_count": members_count,
            "customers_count": customers_count,
            "rows": rows,
            "next_after": rows[-1].customer_id if len(rows) == PAGE else None,
            "imports": imports,
            "may_manage": may_manage_members(who),
        },
    )


@router.get("/members/file")
def members_file(request: Request, who: Who, separator: str = Query("semicolon")) -> Response:
    """The members file, written to a spooled temporary file (memory up to 8 MB, then disk) and
    streamed: the customers are read in chunks, the whole base never sits in memory."""
    require_role(who, MANAGERS)
    parts = parts_of(request)
    chosen = SEPARATORS.get(separator, ";")
    now = parts.clock()
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed by the stream
    with parts.engine.connect() as conn:
        written = membership.export_members(conn, spool, now=now, separator=chosen)
    spool.seek(0)
    log.info("members file downloaded by %s: %d customers", _actor(who), written)

    def chunks() -> Iterator[bytes]:
        with spool:
            while block := spool.read(64 * 1024):
                yield block

    name = f"members-{now.date().isoformat()}.csv"
    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


# --- import: the plan, then the confirmation -------------------------------------------------------


def _signer(parts: StaffParts) -> Any:
    return clocked_serializer(parts.settings.staff_session_secret.get_secret_value(), _PLAN_SALT, parts.clock)


def ids_text(ids: tuple[int, ...]) -> str:
    """Sorted ids as deltas ("3,1,1,7"): a long run of customers compresses to almost nothing."""
    previous, deltas = 0, []
    for value in sorted(ids):
        deltas.append(str(value - previous))
        previous = value
    return ",".join(deltas)


def ids_from_text(text: str) -> tuple[int, ...]:
    total, found = 0, []
    for part in filter(None, text.split(",")):
        total += int(part)
        found.append(total)
    return tuple(found)


def sign_plan(parts: StaffParts, plan: membership.MembersPlan) -> str:
    payload = {
        "sha256": plan.sha256,
        "file": plan.file_name,
        "rows": plan.rows,
        "join": ids_text(plan.join),
        "leave": ids_text(plan.leave),
        "unchanged": plan.unchanged,
    }
    return str(_signer(parts).dumps(payload))


def signed_plan(parts: StaffParts, token: str) -> membership.MembersPlan:
    """The plan a confirmation form carries (``BadSignature``/``SignatureExpired`` if it is not
    one this app signed within a staff session's length)."""
    raw = _signer(parts).loads(token, max_age=parts.settings.staff_session_max_age_seconds)
    return membership.MembersPlan(
        sha256=str(raw["sha256"]),
        file_name=raw["file"],
        rows=int(raw["rows"]),
        join=ids_from_text(str(raw["join"])),
        leave=ids_from_text(str(raw["leave"])),
        unchanged=int(raw["unchanged"]),
    )


@dataclass(frozen=True)
class Upload:
    name: str | None
    data: bytes | None  # None: too large


def _upload(file: UploadFile | None) -> Upload:
    if file is None:
        return Upload(None, b"")
    name = PurePath(file.filename or "").name[:200] or None
    data = file.file.read(MAX_FILE_BYTES + 1)
    return Upload(name, data if len(data) <= MAX_FILE_BYTES else None)


@router.post("/members/import")
def members_import(request: Request, who: Who, file: Annotated[UploadFile | None, File()] = None) -> Response:
    require_role(who, MANAGERS)
    parts = parts_of(request)
    upload = _upload(file)
    context: dict[str, Any] = {"file_name": upload.name, "plan": None, "errors": [], "token": None}
    if upload.data is None:
        return render(
            request, "staff/members_plan.html", {**context, "error": "members_file_too_large"}, status=413
        )
    if not upload.data:
        return render(
            request, "staff/members_plan.html", {**context, "error": "members_file_missing"}, status=422
        )
    try:
        with parts.engine.connect() as conn:
            plan = membership.import_members(
                conn, upload.data, actor=_actor(who), now=parts.clock(), file_name=upload.name
            )
    except MembersFileInvalid as refused:
        return render(request, "staff/members_plan.html", {**context, "errors": refused.errors}, status=422)
    changes = bool(plan.join or plan.leave)
    return render(
        request,
        "staff/members_plan.html",
        {
            **context,
            "plan": plan,
            "warnings": plan.warnings[:WARNINGS_SHOWN],
            "token": sign_plan(parts, plan) if changes else None,
            "form_id": secrets.token_hex(16),
        },
    )


def _valid_form_id(value: str) -> bool:
    return len(value) == 32 and all(ch in "0123456789abcdef" for ch in value)


@router.post("/members/apply")
def members_apply(request: Request, who: Who, plan: str = Form(""), form_id: str = Form("")) -> Response:
    require_role(who, MANAGERS)
    parts = parts_of(request)
    try:
        confirmed = signed_plan(parts, plan)
    except SignatureExpired:
        flash(request, "members_plan_expired")
        return see_other("/staff/members")
    except (BadSignature, KeyError, TypeError, ValueError):
        flash(request, "members_plan_invalid")
        return see_other("/staff/members")
    if not _valid_form_id(form_id):
        flash(request, "members_plan_invalid")
        return see_other("/staff/members")
    now: datetime = parts.clock()
    with parts.engine.begin() as conn:
        if membership.applied_by_form(conn, confirmed.sha256, form_id) is not None:
            flash(request, "members_replayed")
            return see_other("/staff/members")
        done = membership.apply_plan(conn, confirmed, actor=_actor(who), now=now, form_id=form_id)
    log.info(
        "members file %s applied by %s: %d joined, %d left",
        confirmed.sha256[:12],
        _actor(who),
        len(done.joined),
        len(done.left),
    )
    flash(request, "members_applied", joined=str(len(done.joined)), left=str(len(done.left)))
    return see_other("/staff/members")
