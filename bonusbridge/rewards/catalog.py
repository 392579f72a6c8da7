"""The catalog: rewards, suppliers and e-voucher codes edited by staff (every edit audited in its
transaction), and what a member sees — visibility, activity and gating (tier, balance, lifetime
points, country, language).

Visibility (shown) and activity (orderable) are separate periods, as in Open Loyalty: a reward can be
shown as "coming soon" before it can be ordered. A gated reward is listed with the reason it is not
yet available, so the member knows what to reach; a reward outside its countries or languages is not
listed at all (seed 000: content reserved to French members).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from sqlalchemy import Connection, Table, func, insert, select, update

from bonusbridge import audit
from bonusbridge.ledger.intents import MAX_AMOUNT
from bonusbridge.models import Movement, MovementKind
from bonusbridge.rewards import errors
from bonusbridge.rewards.models import (
    Reward,
    RewardKind,
    RewardSupplier,
    RewardVoucherCode,
)

rewards = cast(Table, Reward.__table__)
suppliers = cast(Table, RewardSupplier.__table__)
voucher_codes = cast(Table, RewardVoucherCode.__table__)

LANGUAGES = ("ru", "en", "fr", "nl")
CENT = Decimal("0.01")
MAX_UNITS = 1_000_000  # stock and limits
MAX_VOUCHER_FILE_LINES = 100_000


@dataclass(frozen=True)
class RewardDraft:
    """A reward's editable fields, validated (``parse_draft``)."""

    code: str
    kind: RewardKind
    category: str
    names: dict[str, str]
    descriptions: dict[str, str]
    points_price: Decimal
    cash_price: Decimal | None = None
    vat_rate: Decimal = Decimal("0.00")
    coupon_value: Decimal | None = None
    supplier_id: int | None = None
    stock: int | None = None
    per_member_limit: int | None = None
    global_limit: int | None = None
    active_from: datetime | None = None
    active_until: datetime | None = None
    visible_from: datetime | None = None
    visible_until: datetime | None = None
    min_tier: str | None = None
    min_balance: Decimal | None = None
    min_lifetime_points: Decimal | None = None
    countries: tuple[str, ...] = ()
    languages: tuple[str, ...] = field(default=())

    def columns(self) -> dict[str, Any]:
        values = asdict(self)
        values["names"] = json.dumps(self.names, ensure_ascii=False, sort_keys=True)
        values["descriptions"] = json.dumps(self.descriptions, ensure_ascii=False, sort_keys=True)
        values["countries"] = ",".join(self.countries)
        values["languages"] = ",".join(self.languages)
        return values


def _invalid(name: str, ru: str, en: str) -> errors.InvalidReward:
    error = errors.InvalidReward(field=name, ru=ru, en=en)
    error.field = name  # type: ignore[attr-defined]
    return error


def _amount(name: str, raw: str, *, optional: bool, positive: bool = False) -> Decimal | None:
    text = raw.strip().replace(" ", "").replace(",", ".")
    if not text:
        if optional:
            return None
        raise _invalid(name, "обязательное поле", "required")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _invalid(name, "должно быть числом", "must be a number") from None
    if not value.is_finite() or value != value.quantize(CENT) or value < 0:
        raise _invalid(
            name, "не больше 2 знаков после запятой, не меньше 0", "at most 2 decimals, not negative"
        )
    if positive and value == 0:
        raise _invalid(name, "должно быть больше 0", "must be above 0")
    if value > MAX_AMOUNT:
        raise _invalid(name, f"не больше {MAX_AMOUNT}", f"at most {MAX_AMOUNT}")
    return value.quantize(CENT)


def _count(name: str, raw: str) -> int | None:
    text = raw.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_UNITS:
        raise _invalid(name, f"целое от 0 до {MAX_UNITS}", f"a whole number from 0 to {MAX_UNITS}")
    return int(text)


def _moment(name: str, raw: str) -> datetime | None:
    text = raw.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(
            name, "дата и время ISO 8601 с часовым поясом", "an ISO 8601 time with its offset"
        ) from None
    if value.tzinfo is None:
        raise _invalid(name, "укажите часовой пояс (+03:00)", "give the offset (+03:00)")
    return value


def _codes(name: str, raw: str, *, upper: bool) -> tuple[str, ...]:
    parts = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
    shaped = tuple(sorted({part.upper() if upper else part.lower() for part in parts}))
    if any(len(part) != 2 or not part.isalpha() or not part.isascii() for part in shaped):
        raise _invalid(name, "двухбуквенные коды через запятую", "two-letter codes separated by commas")
    return shaped


def parse_draft(form: Mapping[str, str]) -> RewardDraft:
    """A staff form (or an import's row) as a draft, or ``InvalidReward`` naming the first bad field."""

    def get(name: str) -> str:
        value = form.get(name, "")
        return value if isinstance(value, str) else ""

    code = get("code").strip()
    if not code or len(code) > 64 or not all(ch.isalnum() or ch in "-_." for ch in code):
        raise _invalid("code", "буквы, цифры, - _ . (до 64)", "letters, digits, - _ . (up to 64)")
    try:
        kind = RewardKind(get("kind"))
    except ValueError:
        raise _invalid("kind", "physical, e_voucher или coupon", "physical, e_voucher or coupon") from None
    category = get("category").strip()
    if not category or len(category) > 100:
        raise _invalid("category", "обязательное поле (до 100 знаков)", "required (up to 100 characters)")
    names = {lang: get(f"name_{lang}").strip() for lang in LANGUAGES if get(f"name_{lang}").strip()}
    if not names.get("ru") and not names.get("en"):
        raise _invalid(
            "name_ru", "нужно название по-русски или по-английски", "a Russian or English name is required"
        )
    if any(len(name) > 300 for name in names.values()):
        raise _invalid("name_ru", "до 300 знаков", "up to 300 characters")
    descriptions = {
        lang: get(f"description_{lang}").strip()[:5000]
        for lang in LANGUAGES
        if get(f"description_{lang}").strip()
    }
    points_price = _amount("points_price", get("points_price"), optional=False)
    assert points_price is not None
    cash_price = _amount("cash_price", get("cash_price"), optional=True)
    if cash_price == 0:
        cash_price = None
    vat_rate = _amount("vat_rate", get("vat_rate"), optional=True) or Decimal("0.00")
    if vat_rate > 100:
        raise _invalid("vat_rate", "процент от 0 до 100", "a percentage from 0 to 100")
    if points_price == 0 and cash_price is None:
        raise _invalid(
            "points_price", "цена в баллах или доплата должна быть больше 0", "points or cash must be above 0"
        )
    coupon_value = _amount("coupon_value", get("coupon_value"), optional=True)
    if kind is RewardKind.COUPON and not coupon_value:
        raise _invalid("coupon_value", "у купона должен быть номинал", "a coupon needs its value")
    supplier = get("supplier_id").strip()
    supplier_id = int(supplier) if supplier.isdigit() and len(supplier) < 10 else None
    if supplier and supplier_id is None:
        raise _invalid("supplier_id", "неизвестный поставщик", "unknown supplier")
    if kind is RewardKind.PHYSICAL and supplier_id is None:
        raise _invalid(
            "supplier_id", "у физического подарка должен быть поставщик", "a physical gift needs its supplier"
        )
    stock = _count("stock", get("stock"))
    if kind is RewardKind.E_VOUCHER:
        stock = None  # the uploaded codes are the stock (``upload_voucher_codes``)
    draft = RewardDraft(
        code=code,
        kind=kind,
        category=category,
        names=names,
        descriptions=descriptions,
        points_price=points_price,
        cash_price=cash_price,
        vat_rate=vat_rate,
        coupon_value=coupon_value if kind is RewardKind.COUPON else None,
        supplier_id=supplier_id,
        stock=stock,
        per_member_limit=_count("per_member_limit", get("per_member_limit")),
        global_limit=_count("global_limit", get("global_limit")),
        active_from=_moment("active_from", get("active_from")),
        active_until=_moment("active_until", get("active_until")),
        visible_from=_moment("visible_from", get("visible_from")),
        visible_until=_moment("visible_until", get("visible_until")),
        min_tier=get("min_tier").strip()[:64] or None,
        min_balance=_amount("min_balance", get("min_balance"), optional=True),
        min_lifetime_points=_amount("min_lifetime_points", get("min_lifetime_points"), optional=True),
        countries=_codes("countries", get("countries"), upper=True),
        languages=_codes("languages", get("languages"), upper=False),
    )
    for start, end in (("active_from", "active_until"), ("visible_from", "visible_until")):
        a, b = getattr(draft, start), getattr(draft, end)
        if a is not None and b is not None and b <= a:
            raise _invalid(end, "должно быть позже начала", "must be after the start")
    return draft


# --- staff edits (audited) ----------------------------------------------------------------------------


def _check_supplier(conn: Connection, supplier_id: int | None) -> None:
    if (
        supplier_id is not None
        and conn.execute(select(suppliers.c.id).where(suppliers.c.id == supplier_id)).first() is None
    ):
        raise _invalid("supplier_id", "неизвестный поставщик", "unknown supplier")


def _snapshot(row: Any) -> dict[str, Any]:
    return {key: value for key, value in row._mapping.items() if key not in ("created_at", "updated_at")}


def create_reward(
    conn: Connection, draft: RewardDraft, *, actor: str, reason: str | None, now: datetime
) -> int:
    _check_supplier(conn, draft.supplier_id)
    if conn.execute(select(rewards.c.id).where(rewards.c.code == draft.code)).first() is not None:
        raise _invalid("code", "такой код уже есть", "this code is taken")
    reward_id = int(
        conn.execute(
            insert(rewards)
            .values(**draft.columns(), issued=0, version=1, created_at=now, updated_at=now)
            .returning(rewards.c.id)
        ).scalar_one()
    )
    audit.record(
        conn, actor=actor, action="rewards.reward.create", subject=f"reward:{reward_id}",
        details={"after": draft.columns()}, at=now, reason=reason,
    )  # fmt: skip
    return reward_id


def update_reward(
    conn: Connection,
    reward_id: int,
    draft: RewardDraft,
    *,
    expected_version: int,
    actor: str,
    reason: str | None,
    now: datetime,
) -> int:
    """Change a reward (a form opened at ``expected_version``); returns the new version. Stock of an
    e-voucher stays what its codes say; the units already issued stay counted."""
    before = conn.execute(select(rewards).where(rewards.c.id == reward_id).with_for_update()).first()
    if before is None:
        raise errors.UnknownReward()
    if before.version != expected_version:
        raise errors.StaleReward()
    _check_supplier(conn, draft.supplier_id)
    clash = conn.execute(
        select(rewards.c.id).where(rewards.c.code == draft.code, rewards.c.id != reward_id)
    ).first()
    if clash is not None:
        raise _invalid("code", "такой код уже есть", "this code is taken")
    if draft.kind is not before.kind and before.issued:
        raise _invalid(
            "kind", "тип нельзя менять после первого заказа", "the type cannot change after the first order"
        )
    values = draft.columns()
    if draft.kind is RewardKind.E_VOUCHER:
        values["stock"] = before.stock if before.kind is RewardKind.E_VOUCHER else 0
    if draft.global_limit is not None and draft.global_limit < before.issued:
        raise _invalid("global_limit", f"уже выдано {before.issued}", f"{before.issued} already issued")
    conn.execute(
        update(rewards)
        .where(rewards.c.id == reward_id)
        .values(**values, version=before.version + 1, updated_at=now)
    )
    after = conn.execute(select(rewards).where(rewards.c.id == reward_id)).one()
    old, new = _snapshot(before), _snapshot(after)
    changed = {
        key: {"before": old[key], "after": new[key]}
        for key in new
        if old.get(key) != new[key] and key != "version"
    }
    audit.record(
        conn, actor=actor, action="rewards.reward.update", subject=f"reward:{reward_id}",
        details={"changed": changed, "version": after.version}, at=now, reason=reason,
    )  # fmt: skip
    return int(after.version)


def create_supplier(
    conn: Connection, *, name: str, email: str, locale: str, actor: str, now: datetime
) -> int:
    name, email = name.strip(), email.strip().lower()
    if not name or len(name) > 200:
        raise _invalid("name", "обязательное поле (до 200 знаков)", "required (up to 200 characters)")
    if "@" not in email or len(email) > 254 or " " in email or email.startswith("@") or email.endswith("@"):
        raise _invalid("email", "адрес электронной почты", "an e-mail address")
    if conn.execute(select(suppliers.c.id).where(suppliers.c.email == email)).first() is not None:
        raise _invalid("email", "такой адрес уже есть", "this address is taken")
    supplier_id = int(
        conn.execute(
            insert(suppliers)
            .values(name=name, email=email, locale=locale if locale in ("ru", "en") else "ru", created_at=now)
            .returning(suppliers.c.id)
        ).scalar_one()
    )
    audit.record(
        conn, actor=actor, action="rewards.supplier.create", subject=f"supplier:{supplier_id}",
        details={"name": name, "email": email}, at=now,
    )  # fmt: skip
    return supplier_id


def upload_voucher_codes(
    conn: Connection, reward_id: int, content: str, *, batch: str, actor: str, now: datetime
) -> int:
    """Add the codes of a file (one a line; blank lines skipped) to an e-voucher reward and its stock.
    A code repeated in the file, or already uploaded for the reward, refuses the whole file."""
    reward = conn.execute(select(rewards).where(rewards.c.id == reward_id).with_for_update()).first()
    if reward is None:
        raise errors.UnknownReward()
    if reward.kind is not RewardKind.E_VOUCHER:
        raise _invalid(
            "codes", "коды загружают только для электронных ваучеров", "codes are for e-vouchers only"
        )
    seen: dict[str, int] = {}
    repeated: list[int] = []
    lines = content.splitlines()
    if len(lines) > MAX_VOUCHER_FILE_LINES:
        raise _invalid(
            "codes", f"не больше {MAX_VOUCHER_FILE_LINES} строк", f"at most {MAX_VOUCHER_FILE_LINES} lines"
        )
    for number, line in enumerate(lines, start=1):
        code = line.strip().lstrip("\ufeff")
        if not code:
            continue
        if len(code) > 200 or any(ord(ch) < 32 for ch in code):
            raise _invalid("codes", f"строка {number}: не код", f"line {number}: not a code")
        if code in seen:
            repeated.append(number)
        else:
            seen[code] = number
    if not seen:
        raise _invalid("codes", "в файле нет кодов", "the file holds no codes")
    existing = {
        row.code
        for chunk in _chunks(list(seen), 500)
        for row in conn.execute(
            select(voucher_codes.c.code).where(
                voucher_codes.c.reward_id == reward_id, voucher_codes.c.code.in_(chunk)
            )
        )
    }
    repeated.extend(seen[code] for code in existing)
    if repeated:
        shown = ", ".join(str(n) for n in sorted(repeated)[:20]) + (" …" if len(repeated) > 20 else "")
        raise errors.DuplicateVoucherCodes(lines=shown)
    conn.execute(
        insert(voucher_codes),
        [{"reward_id": reward_id, "code": code, "batch": batch[:64], "uploaded_at": now} for code in seen],
    )
    conn.execute(
        update(rewards)
        .where(rewards.c.id == reward_id)
        .values(stock=func.coalesce(rewards.c.stock, 0) + len(seen), updated_at=now)
    )
    audit.record(
        conn, actor=actor, action="rewards.codes.upload", subject=f"reward:{reward_id}",
        details={"batch": batch[:64], "codes": len(seen)}, at=now,
    )  # fmt: skip
    return len(seen)


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- what a member sees -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberFacts:
    """What gating needs to know about a member: tier (and the program's tiers, lowest first),
    spendable balance, points earned over all time, country (ISO 3166) and language."""

    tier: str | None = None
    tier_order: tuple[str, ...] = ()
    available: Decimal = Decimal("0.00")
    lifetime: Decimal = Decimal("0.00")
    country: str | None = None
    language: str = "ru"


def text_in(texts: str, lang: str) -> str:
    found: dict[str, str] = json.loads(texts)
    return found.get(lang) or found.get("en") or found.get("ru") or next(iter(found.values()), "")


def name_of(row: Any, lang: str) -> str:
    return text_in(row.names, lang)


def visible(row: Any, now: datetime) -> bool:
    return (row.visible_from is None or row.visible_from <= now) and (
        row.visible_until is None or now < row.visible_until
    )


def active(row: Any, now: datetime) -> bool:
    return (row.active_from is None or row.active_from <= now) and (
        row.active_until is None or now < row.active_until
    )


def shown_to(row: Any, facts: MemberFacts) -> bool:
    """Countries and languages decide whether the reward is listed at all."""
    countries = [c for c in row.countries.split(",") if c]
    languages = [lang for lang in row.languages.split(",") if lang]
    if countries and (facts.country or "") not in countries:
        return False
    return not (languages and facts.language not in languages)


def gate(row: Any, facts: MemberFacts) -> tuple[str, str] | None:
    """Why the member may not order the reward yet (reason, threshold), or None."""
    if not shown_to(row, facts):
        countries = [c for c in row.countries.split(",") if c]
        return ("country", "") if countries and (facts.country or "") not in countries else ("language", "")
    if row.min_tier:
        order = facts.tier_order
        needed = order.index(row.min_tier) if row.min_tier in order else len(order)
        have = order.index(facts.tier) if facts.tier in order else -1
        if have < needed:
            return ("below_tier", row.min_tier)
    if row.min_balance is not None and facts.available < row.min_balance:
        return ("below_balance", str(row.min_balance))
    if row.min_lifetime_points is not None and facts.lifetime < row.min_lifetime_points:
        return ("below_lifetime", str(row.min_lifetime_points))
    return None


def lifetime_points(conn: Connection, card_ids: Sequence[int]) -> Decimal:
    """Points ever accrued on the cards (accruals and positive adjustments, less their reversals is not
    counted: a lifetime threshold rewards what was earned)."""
    if not card_ids:
        return Decimal("0.00")
    table = cast(Table, Movement.__table__)
    total = conn.execute(
        select(func.coalesce(func.sum(table.c.amount), 0)).where(
            table.c.card_id.in_(card_ids), table.c.kind == MovementKind.ACCRUAL
        )
    ).scalar_one()
    return Decimal(total).quantize(CENT)


@dataclass(frozen=True)
class CatalogItem:
    id: int
    code: str
    kind: RewardKind
    category: str
    name: str
    description: str
    points_price: Decimal
    cash_price: Decimal | None
    vat_rate: Decimal
    stock: int | None  # None: unlimited
    orderable: bool
    reason: str | None  # not orderable: out_of_stock, not_active, below_tier, below_balance, ...
    threshold: str
    message: str | None  # the reason in the member's language


def catalog(
    conn: Connection, facts: MemberFacts, now: datetime, *, category: str | None = None
) -> list[CatalogItem]:
    """The rewards the member is shown, each with whether they may order it now and why not."""
    query = select(rewards).order_by(rewards.c.category, rewards.c.points_price, rewards.c.id)
    if category:
        query = query.where(rewards.c.category == category)
    items = []
    for row in conn.execute(query):
        if not visible(row, now) or not shown_to(row, facts):
            continue
        items.append(item_of(row, facts, now))
    return items


def item_of(row: Any, facts: MemberFacts, now: datetime) -> CatalogItem:
    lang = facts.language
    name = name_of(row, lang)
    reason: str | None = None
    threshold = ""
    message: str | None = None
    gated = gate(row, facts)
    left = units_left(row)
    if not active(row, now):
        reason, message = "not_active", errors.RewardNotActive(name=name).user_message(lang)
    elif left is not None and left <= 0:
        reason = "out_of_stock"
        message = errors.OutOfStock(name=name, left=0, wanted=1).user_message(lang)
    elif gated is not None:
        reason, threshold = gated
        message = errors.not_eligible(name, reason, threshold).user_message(lang)
    return CatalogItem(
        id=row.id,
        code=row.code,
        kind=row.kind,
        category=row.category,
        name=name,
        description=text_in(row.descriptions, lang) if row.descriptions != "{}" else "",
        points_price=row.points_price,
        cash_price=row.cash_price,
        vat_rate=row.vat_rate,
        stock=left,
        orderable=reason is None,
        reason=reason,
        threshold=threshold,
        message=message,
    )


def units_left(row: Any) -> int | None:
    """Units still orderable: the lower of stock and what the global limit leaves (None: no bound)."""
    bounds = []
    if row.stock is not None:
        bounds.append(int(row.stock))
    if row.global_limit is not None:
        bounds.append(int(row.global_limit) - int(row.issued))
    return min(bounds) if bounds else None
