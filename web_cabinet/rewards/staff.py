"""``/staff/rewards``: the catalog for role ``marketing`` (and ``admin``): list, add and edit rewards,
add suppliers, upload e-voucher codes. ``viewer`` reads; other roles get 403. Every change goes
through ``bonusbridge.rewards.catalog`` with actor ``staff:<login>``, audited in its transaction;
a refusal is shown at its field in the page's language and writes nothing."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge import audit
from bonusbridge.rewards import catalog, errors, images
from web_cabinet.staff.auth import Principal, Role
from web_cabinet.staff.pages import (
    StaffNotFound,
    Who,
    lang_of,
    parts_of,
    principal,
    render,
    require_role,
    see_other,
    verify_csrf,
)

router = APIRouter(prefix="/rewards", dependencies=[Depends(verify_csrf), Depends(principal)])
EDITORS = frozenset({Role.MARKETING, Role.ADMIN})
READERS = EDITORS | {Role.VIEWER}
MAX_CODES_FILE = 5 * 1024 * 1024

TEXTS = {
    "title": {"ru": "Каталог подарков", "en": "Rewards catalog"},
    "new": {"ru": "Новый подарок", "en": "New reward"},
    "edit": {"ru": "Подарок", "en": "Reward"},
    "save": {"ru": "Сохранить", "en": "Save"},
    "reason": {"ru": "Причина изменения", "en": "Reason for the change"},
    "suppliers": {"ru": "Поставщики", "en": "Suppliers"},
    "add_supplier": {"ru": "Добавить поставщика", "en": "Add supplier"},
    "codes": {
        "ru": "Загрузить коды (файл, один код в строке)",
        "en": "Upload codes (a file, one code a line)",
    },
    "upload": {"ru": "Загрузить", "en": "Upload"},
    "saved": {"ru": "Сохранено.", "en": "Saved."},
    "uploaded": {"ru": "Загружено кодов: {n}.", "en": "Codes uploaded: {n}."},
    "audit": {"ru": "Журнал изменений", "en": "Audit trail"},
    "unlimited": {"ru": "без ограничения", "en": "unlimited"},
    "invoices": {"ru": "Счета к оплате", "en": "Invoices awaiting payment"},
    "images": {
        "ru": "Изображения (JPEG, PNG или WebP, до {mb} МБ)",
        "en": "Images (JPEG, PNG or WebP, up to {mb} MB)",
    },
    "remove": {"ru": "Удалить", "en": "Remove"},
}

FIELDS = (
    "code",
    "kind",
    "category",
    "name_ru",
    "name_en",
    "name_fr",
    "name_nl",
    "description_ru",
    "description_en",
    "points_price",
    "cash_price",
    "vat_rate",
    "coupon_value",
    "supplier_id",
    "stock",
    "per_member_limit",
    "global_limit",
    "active_from",
    "active_until",
    "visible_from",
    "visible_until",
    "min_tier",
    "min_balance",
    "min_lifetime_points",
    "countries",
    "languages",
)


def _texts(lang: str) -> dict[str, str]:
    return {key: value[lang] for key, value in TEXTS.items()}


def _actor(who: Principal) -> str:
    return f"staff:{who.login}"


def _form_values(row: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in FIELDS:
        if name.startswith(("name_", "description_")):
            kind, lang = name.split("_", 1)
            texts = json.loads(row.names if kind == "name" else row.descriptions)
            values[name] = texts.get(lang, "")
            continue
        value = getattr(row, name)
        values[name] = (
            "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
        )
    return values


def _page(
    request: Request,
    who: Principal,
    *,
    form: dict[str, str] | None = None,
    reward_id: int | None = None,
    version: int | None = None,
    error: str | None = None,
    error_field: str | None = None,
    status: int = 200,
    note: str | None = None,
) -> Response:
    engine = parts_of(request).engine
    lang = lang_of(request)
    with engine.connect() as conn:
        rows = conn.execute(
            select(catalog.rewards).order_by(catalog.rewards.c.category, catalog.rewards.c.id)
        ).all()
        supplier_rows = conn.execute(select(catalog.suppliers).order_by(catalog.suppliers.c.id)).all()
        trail = audit.entries(conn, action_prefix="rewards.", limit=30)
        pictures = images.images_of(conn, [reward_id]).get(reward_id, []) if reward_id else []
    items = [
        {
            "id": r.id,
            "code": r.code,
            "kind": r.kind.value,
            "name": catalog.name_of(r, lang),
            "category": r.category,
            "points": r.points_price,
            "cash": r.cash_price,
            "left": catalog.units_left(r),
            "issued": r.issued,
        }
        for r in rows
    ]
    return render(
        request,
        "staff/rewards.html",
        {
            "x": _texts(lang),
            "items": items,
            "suppliers": supplier_rows,
            "trail": trail,
            "form": form or {},
            "fields": FIELDS,
            "reward_id": reward_id,
            "version": version,
            "error": error,
            "error_field": error_field,
            "note": note,
            "may_edit": bool(who.roles & EDITORS),
            "images": pictures,
            "max_image_mb": images.MAX_BYTES // (1024 * 1024),
        },
        status=status,
    )


@router.get("")
def rewards_page(request: Request, who: Who, edit: int | None = None) -> Response:
    require_role(who, READERS)
    if edit is None:
        return _page(request, who)
    with parts_of(request).engine.connect() as conn:
        row = conn.execute(select(catalog.rewards).where(catalog.rewards.c.id == edit)).first()
    if row is None:
        raise StaffNotFound
    return _page(request, who, form=_form_values(row), reward_id=row.id, version=row.version)


def _strings(form: FormData) -> dict[str, str]:
    return {name: value[:5000] for name, value in form.items() if isinstance(value, str)}


@router.post("")
async def save_reward(request: Request, who: Who) -> Response:
    require_role(who, EDITORS)
    values = _strings(await request.form())
    lang = lang_of(request)
    parts = parts_of(request)
    reward_id = int(values["reward_id"]) if values.get("reward_id", "").isdigit() else None
    version = int(values["version"]) if values.get("version", "").isdigit() else 0
    try:
        draft = catalog.parse_draft(values)
        with parts.engine.begin() as conn:
            reason = values.get("reason", "").strip()[:500] or None
            if reward_id is None:
                reward_id = catalog.create_reward(
                    conn, draft, actor=_actor(who), reason=reason, now=parts.clock()
                )
            else:
                catalog.update_reward(
                    conn,
                    reward_id,
                    draft,
                    expected_version=version,
                    actor=_actor(who),
                    reason=reason,
                    now=parts.clock(),
                )
    except errors.RewardsError as exc:
        status = exc.http_status
        return _page(
            request,
            who,
            form=values,
            reward_id=reward_id,
            version=version,
            error=exc.user_message(lang),
            error_field=getattr(exc, "field", None),
            status=status,
        )
    return see_other(f"/staff/rewards?edit={reward_id}")


@router.post("/suppliers")
async def add_supplier(request: Request, who: Who) -> Response:
    require_role(who, EDITORS)
    values = _strings(await request.form())
    parts = parts_of(request)
    try:
        with parts.engine.begin() as conn:
            catalog.create_supplier(
                conn,
                name=values.get("name", ""),
                email=values.get("email", ""),
                locale=values.get("locale", "ru"),
                actor=_actor(who),
                now=parts.clock(),
            )
    except errors.RewardsError as exc:
        return _page(request, who, error=exc.user_message(lang_of(request)), status=exc.http_status)
    return see_other("/staff/rewards")


@router.post("/{reward_id}/codes")
async def upload_codes(request: Request, reward_id: int, who: Who) -> Response:
    require_role(who, EDITORS)
    form = await request.form()
    lang = lang_of(request)
    upload = form.get("file")
    content = b""
    if isinstance(upload, UploadFile):
        content = await upload.read(MAX_CODES_FILE + 1)
    try:
        if len(content) > MAX_CODES_FILE:
            raise catalog._invalid("codes", "файл больше 5 МБ", "the file is larger than 5 MB")
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise catalog._invalid("codes", "файл не в UTF-8", "the file is not UTF-8 text") from None
        parts = parts_of(request)
        batch = (upload.filename if isinstance(upload, UploadFile) and upload.filename else "upload")[:64]
        with parts.engine.begin() as conn:
            count = catalog.upload_voucher_codes(
                conn, reward_id, text, batch=batch, actor=_actor(who), now=parts.clock()
            )
    except errors.UnknownReward:
        raise StaffNotFound from None
    except errors.RewardsError as exc:
        return _page(request, who, error=exc.user_message(lang), status=exc.http_status)
    return _page(request, who, note=TEXTS["uploaded"][lang].format(n=count))


@router.post("/{reward_id}/images")
async def upload_image(request: Request, reward_id: int, who: Who) -> Response:
    """An image for the reward (``bonusbridge.rewards.images`` checks size and type). A body far
    above the limit is refused by its declared length before it is read."""
    require_role(who, EDITORS)
    lang = lang_of(request)
    declared = request.headers.get("content-length", "")
    try:
        if declared.isdigit() and int(declared) > images.MAX_BYTES + 64 * 1024:
            raise images.too_large()
        form = await request.form()
        upload = form.get("image")
        content = await upload.read(images.MAX_BYTES + 1) if isinstance(upload, UploadFile) else b""
        parts = parts_of(request)
        with parts.engine.begin() as conn:
            images.add_image(conn, reward_id, content, actor=_actor(who), now=parts.clock())
    except errors.UnknownReward:
        raise StaffNotFound from None
    except errors.RewardsError as exc:
        return _edit_page(request, who, reward_id, error=exc.user_message(lang), status=exc.http_status)
    return see_other(f"/staff/rewards?edit={reward_id}")


@router.post("/{reward_id}/images/{image_id}/remove")
async def remove_image(request: Request, reward_id: int, image_id: int, who: Who) -> Response:
    require_role(who, EDITORS)
    parts = parts_of(request)
    try:
        with parts.engine.begin() as conn:
            images.remove_image(conn, reward_id, image_id, actor=_actor(who), now=parts.clock())
    except errors.UnknownReward:
        raise StaffNotFound from None
    return see_other(f"/staff/rewards?edit={reward_id}")


def _edit_page(request: Request, who: Principal, reward_id: int, *, error: str, status: int) -> Response:
    with parts_of(request).engine.connect() as conn:
        row = conn.execute(select(catalog.rewards).where(catalog.rewards.c.id == reward_id)).first()
    if row is None:
        raise StaffNotFound
    return _page(
        request, who, form=_form_values(row), reward_id=row.id, version=row.version, error=error,
        error_field="image", status=status,
    )  # fmt: skip


def _with_invoices() -> None:
    """The invoices page (``web_cabinet.rewards.invoices``) lives under this router's prefix."""
    from web_cabinet.rewards.invoices import router as invoices

    router.include_router(invoices)


_with_invoices()
