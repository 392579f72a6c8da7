"""A program version's rules and its campaigns, parsed from plain mappings (YAML, JSON, the database)
and validated once, so a quote only reads frozen, typed values.

Amounts are ``Decimal`` from strings (a float in a rules file is refused: ``0.1`` is not exact).
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bonusbridge.points.errors import (
    BeforeProgramStart,
    ContradictoryCampaigns,
    InvalidProgramRules,
    RetroactiveChange,
)

if TYPE_CHECKING:
    from bonusbridge.points.multipliers import ItemIndex

EarnBase = Literal["gross", "net_of_vat"]
Birthday = Literal["off", "day", "month"]
Policy = Literal["highest", "multiply"]
TierDowngrade = Literal["immediate", "grace", "one_step"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The start of time for the default program (built from settings when no version is stored).
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


def _decimal(
    name: str, value: object, *, minimum: Decimal = Decimal(0), maximum: Decimal | None = None
) -> Decimal:
    if isinstance(value, (bool, float)):
        raise InvalidProgramRules(f'{name}: write a decimal string such as "0.01", not a float ({value!r})')
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidProgramRules(f"{name}: {value!r} is not a number") from None
    if not number.is_finite() or number < minimum or (maximum is not None and number > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise InvalidProgramRules(f"{name}: {value!r} must be at least {minimum}{bound}")
    return number


def _names(name: str, value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidProgramRules(f"{name}: a list of names, not {value!r}")
    return frozenset(str(item).strip().casefold() for item in value)


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise InvalidProgramRules(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidProgramRules(f"{name}: true or false, not {value!r}")
    return value


def _int(name: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidProgramRules(f"{name}: a whole number of at least {minimum}, not {value!r}")
    return value


def parse_instant(name: str, value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidProgramRules(f"{name}: {value!r} is not an ISO 8601 date-time") from None
    else:
        raise InvalidProgramRules(f"{name}: an ISO 8601 date-time with its offset, not {value!r}")
    if moment.tzinfo is None:
        raise InvalidProgramRules(f"{name}: {value!r} needs a UTC offset (e.g. +03:00)")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Tier:
    name: str
    min_spend: Decimal
    earn_rate: Decimal


def _tiers(value: object) -> tuple[Tier, ...]:
    if not value:
        return ()
    if not isinstance(value, list):
        raise InvalidProgramRules("tiers: a list of {name, min_spend, earn_rate}")
    tiers = []
    for n, raw in enumerate(value):
        if not isinstance(raw, Mapping) or set(raw) != {"name", "min_spend", "earn_rate"}:
            raise InvalidProgramRules(
                f"tiers.{n}: name, min_spend and earn_rate are required (and only them)"
            )
        tiers.append(
            Tier(
                str(raw["name"]).strip().casefold(),
                _decimal(f"tiers.{n}.min_spend", raw["min_spend"]),
                _decimal(f"tiers.{n}.earn_rate", raw["earn_rate"]),
            )
        )
    spends = [tier.min_spend for tier in tiers]
    if spends != sorted(spends) or len(set(spends)) != len(spends):
        raise InvalidProgramRules("tiers: list them by increasing min_spend, each threshold once")
    return tuple(tiers)


@dataclass(frozen=True)
class ProgramRules:
    """One version of the program's settings (issue 8, item 1). Defaults are seed 001's program."""

    currency: str = "RUB"
    time_zone: str = "Europe/Moscow"  # weekdays, hours and birthdays are local to it
    earn_base: EarnBase = "gross"  # earn on prices including VAT, or net of VAT
    earn_rate: Decimal = Decimal("1")  # points per currency unit of the earn base
    point_value: Decimal = Decimal("0.01")  # currency one point pays
    spend_threshold: Decimal = Decimal("0")  # points are usable once the balance reaches it
    max_spend_points: Decimal | None = None  # per order, absolute
    max_spend_share: Decimal | None = (
        None  # per order, share of its total (1C: МаксимальныйПроцентОплатыБонусами/100)
    )
    min_order_amount: Decimal = Decimal("0")  # smallest order points may pay for
    partial_spending: bool = True  # off: spending empties the balance (seed 003)
    validity_months: int | None = None  # accrued points expire after; None: never
    pending_days: int = 0  # accrued points become spendable after
    excluded_categories: frozenset[str] = frozenset()
    excluded_brands: frozenset[str] = frozenset()
    exclude_discounted: bool = False  # a discounted line earns nothing (seed 003: 35 instead of 42)
    credit_notes_reduce_points: bool = True  # a return takes back the points of what is returned
    advantages_reduce_base: bool = True  # vouchers, gift cards and points spent earn nothing
    birthday: Birthday = "off"  # multiply on the customer's birthday, or in its month
    birthday_multiplier: Decimal = Decimal("1")
    first_purchase_multiplier: Decimal = Decimal("1")
    multiplier_policy: Policy = "highest"  # how several multipliers on one line combine
    multiplier_cap: Decimal | None = None  # the combined multiplier never exceeds it
    #: card statuses by rolling 12-month spend, lowest first; each with its own earn rate
    tiers: tuple[Tier, ...] = ()
    #: what a card keeps when its rolling spend falls below its tier (upgrades are always at once;
    #: ``bonusbridge.points.tiers`` applies it at each purchase, return and nightly review):
    #: ``immediate`` — the tier follows the window at the next review (the behaviour before the
    #: setting existed, hence the default); ``grace`` — the tier is kept until ``tier_grace_months``
    #: after the card last qualified for it, then drops to what the window supports; ``one_step`` —
    #: after that grace, one tier down, and the lower tier is kept for another grace period from
    #: the drop (a gold card lapsing to nothing spends a grace period as silver first)
    tier_downgrade: TierDowngrade = "immediate"
    tier_grace_months: int = 3  # the grace of ``grace`` and ``one_step``; unused by ``immediate``
    reminder_period_months: int | None = None  # remind every P months; None: no reminders
    reminder_horizon_months: int = 1  # … of usable points expiring within X months

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ProgramRules:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise InvalidProgramRules(f"unknown setting(s): {', '.join(sorted(unknown))}")
        base = cls()

        def get(name: str) -> Any:
            return raw.get(name, getattr(base, name))

        currency = str(get("currency")).upper()
        if len(currency) != 3 or not currency.isalpha():
            raise InvalidProgramRules(f"currency: {currency!r} is not an ISO 4217 code")
        zone = str(get("time_zone"))
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidProgramRules(f"time_zone: {zone!r} is not an IANA time zone") from None

        def optional(
            name: str, minimum: Decimal = Decimal(0), maximum: Decimal | None = None
        ) -> Decimal | None:
            return None if get(name) is None else _decimal(name, get(name), minimum=minimum, maximum=maximum)

        rules = cls(
            currency=currency,
            time_zone=zone,
            earn_base=_choice("earn_base", get("earn_base"), ("gross", "net_of_vat")),
            earn_rate=_decimal("earn_rate", get("earn_rate")),
            point_value=_decimal("point_value", get("point_value"), minimum=Decimal("0.0001")),
            spend_threshold=_decimal("spend_threshold", get("spend_threshold")),
            max_spend_points=optional("max_spend_points"),
            max_spend_share=optional("max_spend_share", maximum=Decimal(1)),
            min_order_amount=_decimal("min_order_amount", get("min_order_amount")),
            partial_spending=_bool("partial_spending", get("partial_spending")),
            validity_months=None
            if get("validity_months") is None
            else _int("validity_months", get("validity_months"), 1),
            pending_days=_int("pending_days", get("pending_days")),
            excluded_categories=_names("excluded_categories", get("excluded_categories")),
            excluded_brands=_names("excluded_brands", get("excluded_brands")),
            exclude_discounted=_bool("exclude_discounted", get("exclude_discounted")),
            credit_notes_reduce_points=_bool("credit_notes_reduce_points", get("credit_notes_reduce_points")),
            advantages_reduce_base=_bool("advantages_reduce_base", get("advantages_reduce_base")),
            birthday=_choice("birthday", get("birthday"), ("off", "day", "month")),
            birthday_multiplier=_decimal(
                "birthday_multiplier", get("birthday_multiplier"), minimum=Decimal(1)
            ),
            first_purchase_multiplier=_decimal(
                "first_purchase_multiplier", get("first_purchase_multiplier"), minimum=Decimal(1)
            ),
            multiplier_policy=_choice("multiplier_policy", get("multiplier_policy"), ("highest", "multiply")),
            multiplier_cap=optional("multiplier_cap", minimum=Decimal(1)),
            reminder_period_months=None
            if get("reminder_period_months") is None
            else _int("reminder_period_months", get("reminder_period_months"), 1),
            reminder_horizon_months=_int("reminder_horizon_months", get("reminder_horizon_months"), 1),
            tiers=_tiers(get("tiers")),
            tier_downgrade=_choice(
                "tier_downgrade", get("tier_downgrade"), ("immediate", "grace", "one_step")
            ),
            tier_grace_months=_int("tier_grace_months", get("tier_grace_months"), 1),
        )
        return rules

    def tier_for(self, spend: Decimal) -> Tier | None:
        """The highest tier whose threshold the rolling 12-month spend reaches: what the window
        supports (a card may hold a higher one under the downgrade policy)."""
        found = None
        for tier in self.tiers:
            if spend >= tier.min_spend:
                found = tier
        return found

    def tier_named(self, name: str | None) -> Tier | None:
        """The tier of that name; None for none, or for a name this version no longer has."""
        return next((tier for tier in self.tiers if tier.name == name), None)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, frozenset):
                value = sorted(value)
            elif name == "tiers":
                value = [
                    {"name": t.name, "min_spend": str(t.min_spend), "earn_rate": str(t.earn_rate)}
                    for t in self.tiers
                ]
            out[name] = value
        return out


@dataclass(frozen=True)
class Campaign:
    """Points multiplied over a period, on some weekdays and hours (local time), for some items and
    customers; an empty criterion matches everything ("points tripled on Thursdays")."""

    code: str
    multiplier: Decimal
    starts_at: datetime
    ends_at: datetime
    name: str = ""
    weekdays: frozenset[int] = frozenset()  # 0 = Monday
    hours: tuple[time, time] | None = None  # [from, to) local time
    categories: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    cities: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()
    programs: frozenset[str] = frozenset()

    @cached_property
    def label(self) -> str:
        return f"campaign {self.code} x{self.multiplier}"

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Campaign:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise InvalidProgramRules(f"campaign: unknown key(s): {', '.join(sorted(unknown))}")
        code = str(raw.get("code") or "").strip()
        if not code or len(code) > 64:
            raise InvalidProgramRules("campaign: a code of 1 to 64 characters is required")
        starts, ends = (
            parse_instant("starts_at", raw.get("starts_at")),
            parse_instant("ends_at", raw.get("ends_at")),
        )
        if ends <= starts:
            raise InvalidProgramRules(f"campaign {code}: ends_at must be after starts_at")
        days: set[int] = set()
        for day in raw.get("weekdays") or ():
            key = str(day).strip().lower()[:3]
            if key not in WEEKDAYS:
                raise InvalidProgramRules(f"campaign {code}: {day!r} is not a weekday (mon … sun)")
            days.add(WEEKDAYS.index(key))
        hours = None
        if raw.get("hours") is not None:
            try:
                start_text, end_text = str(raw["hours"]).split("-")
                hours = (time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip()))
            except ValueError:
                raise InvalidProgramRules(
                    f"campaign {code}: hours as HH:MM-HH:MM, not {raw['hours']!r}"
                ) from None
            if hours[1] <= hours[0]:
                raise InvalidProgramRules(f"campaign {code}: hours must end after they start")
        return cls(
            code=code,
            name=str(raw.get("name") or code),
            multiplier=_decimal(f"campaign {code}: multiplier", raw.get("multiplier"), minimum=Decimal("0")),
            starts_at=starts,
            ends_at=ends,
            weekdays=frozenset(days),
            hours=hours,
            **{
                key: _names(f"campaign {code}: {key}", raw.get(key))
                for key in ("categories", "brands", "skus", "cities", "regions", "tiers", "programs")
            },
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "multiplier": str(self.multiplier),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "weekdays": [WEEKDAYS[day] for day in sorted(self.weekdays)],
            "hours": f"{self.hours[0]:%H:%M}-{self.hours[1]:%H:%M}" if self.hours else None,
            **{
                key: sorted(getattr(self, key))
                for key in ("categories", "brands", "skus", "cities", "regions", "tiers", "programs")
            },
        }

    def active_at(self, local: datetime, utc: datetime) -> bool:
        if not (self.starts_at <= utc < self.ends_at):
            return False
        if self.weekdays and local.weekday() not in self.weekdays:
            return False
        return self.hours is None or self.hours[0] <= local.time() < self.hours[1]


def _overlap(a: frozenset[str] | frozenset[int], b: frozenset[str] | frozenset[int]) -> bool:
    return not a or not b or bool(a & b)


def contradiction(a: Campaign, b: Campaign) -> str | None:
    """Why two campaigns contradict: they may apply to the same line at the same moment, with the
    very same criteria, but give different multipliers — one of them silently wins. ``None`` if not."""
    if a.code == b.code or a.multiplier == b.multiplier:
        return None
    if not (a.starts_at < b.ends_at and b.starts_at < a.ends_at and _overlap(a.weekdays, b.weekdays)):
        return None
    if a.hours and b.hours and not (a.hours[0] < b.hours[1] and b.hours[0] < a.hours[1]):
        return None
    criteria = ("categories", "brands", "skus", "cities", "regions", "tiers", "programs")
    if any(getattr(a, key) != getattr(b, key) for key in criteria):
        return None  # different targets: both apply by the multiplier policy, as documented
    return (
        f"campaigns {a.code} (x{a.multiplier}) and {b.code} (x{b.multiplier}) target the same items "
        "and customers at overlapping times with different multipliers"
    )


def check_campaigns(campaigns: Iterable[Campaign]) -> None:
    """Refuse a set of campaigns in which two contradict each other (flagged at save time)."""
    listed = list(campaigns)
    problems = [
        reason
        for i, first in enumerate(listed)
        for second in listed[i + 1 :]
        if (reason := contradiction(first, second)) is not None
    ]
    if problems:
        raise ContradictoryCampaigns("; ".join(problems))


@dataclass(frozen=True)
class Version:
    id: int | None  # None: the default program built from settings
    effective_from: datetime
    rules: ProgramRules


@dataclass(frozen=True)
class Program:
    """Every version (by effective date) and every campaign: what a quote needs, loaded once."""

    versions: tuple[Version, ...]
    campaigns: tuple[Campaign, ...] = ()

    def __post_init__(self) -> None:
        if not self.versions:
            raise InvalidProgramRules("a program needs at least one version")
        object.__setattr__(self, "_starts", [version.effective_from for version in self.versions])
        object.__setattr__(self, "_indexes", {})

    @property
    def starts_at(self) -> datetime:
        return self.versions[0].effective_from

    def version_at(self, when: datetime) -> Version:
        index = bisect_right(self._starts, when) - 1  # type: ignore[attr-defined]
        if index < 0:
            raise BeforeProgramStart(
                f"{when.isoformat()} is before the program started ({self.starts_at.isoformat()})"
            )
        return self.versions[index]

    def index_of(self, campaigns: tuple[Campaign, ...]) -> ItemIndex:
        """The item index of these campaigns, built once per set of active campaigns."""
        from bonusbridge.points.multipliers import ItemIndex

        indexes: dict[tuple[str, ...], ItemIndex] = self._indexes  # type: ignore[attr-defined]
        key = tuple(campaign.code for campaign in campaigns)
        found = indexes.get(key)
        if found is None:
            if len(indexes) > 256:
                indexes.clear()
            found = indexes[key] = ItemIndex(campaigns)
        return found

    def campaigns_at(self, when: datetime, rules: ProgramRules) -> tuple[Campaign, ...]:
        local = when.astimezone(rules.zone)
        return tuple(campaign for campaign in self.campaigns if campaign.active_at(local, when))

    def check_new_version(self, effective_from: datetime, now: datetime) -> None:
        """A version may only take effect from now on: the past is a closed period whose receipts
        were computed with the rules then in force."""
        if effective_from < now:
            raise RetroactiveChange(
                f"a version effective from {effective_from.isoformat()} would change the closed period "
                f"before now ({now.isoformat()}); make it effective from now or later"
            )
        if any(version.effective_from == effective_from for version in self.versions):
            raise InvalidProgramRules(f"a version already takes effect at {effective_from.isoformat()}")

    def check_new_campaign(self, campaign: Campaign, now: datetime) -> None:
        if campaign.starts_at < now:
            raise RetroactiveChange(
                f"campaign {campaign.code} starting {campaign.starts_at.isoformat()} would change "
                "receipts already computed; start it from now or later"
            )
        if any(existing.code == campaign.code for existing in self.campaigns):
            raise InvalidProgramRules(f"campaign {campaign.code} exists; campaigns are not edited")
        check_campaigns((*self.campaigns, campaign))


def rules_from_json(text: str) -> ProgramRules:
    return ProgramRules.parse(json.loads(text))


def campaign_from_json(text: str) -> Campaign:
    return Campaign.parse(json.loads(text))
