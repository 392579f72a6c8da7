"""Bad input is refused with a typed error, never silently computed; campaigns that contradict each
other and changes to closed periods are refused at save time (in the database, through the store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from bonusbridge.models import PointsCampaign
from bonusbridge.points import store
from bonusbridge.points.errors import (
    BeforeProgramStart,
    ContradictoryCampaigns,
    InvalidBasket,
    InvalidProgramRules,
    RetroactiveChange,
    UnknownCurrency,
)
from bonusbridge.points.program import BEGINNING, Campaign, Program, ProgramRules, Version, check_campaigns
from bonusbridge.points.quote import Basket, Line, quote
from bonusbridge.settings import Settings

NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
DEFAULT = Program((Version(None, BEGINNING, ProgramRules()),))


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (Line("x", D(1), D("-1.00")), "cannot be negative"),
        (Line("x", D(-1), D("1.00")), "quantity must be positive"),
        (Line("x", D(0), D("1.00")), "quantity must be positive"),
        (Line("x", D(1), D("1.00"), discount=D("-0.01")), "cannot be negative"),
        (Line("x", D(1), D("1.00"), discount=D("1.01")), "discount exceeds"),
        (Line("x", D(1), D("1.00"), vat_rate=D(100)), "VAT rate"),
    ],
)
def test_a_bad_line_is_refused(line, words):
    with pytest.raises(InvalidBasket, match=words):
        quote(DEFAULT, Basket([line], NOW))


def test_an_empty_basket_and_negative_advantages_are_refused():
    with pytest.raises(InvalidBasket):
        quote(DEFAULT, Basket([], NOW))
    with pytest.raises(InvalidBasket):
        quote(DEFAULT, Basket([Line("x", D(1), D(1))], NOW, vouchers=D(-1)))


def test_an_unknown_currency_is_refused():
    with pytest.raises(UnknownCurrency, match="RUB"):
        quote(DEFAULT, Basket([Line("x", D(1), D(1))], NOW, currency="EUR"))
    assert quote(DEFAULT, Basket([Line("x", D(1), D(1))], NOW, currency="rub")).currency == "RUB"


def test_a_receipt_dated_before_the_program_started_is_refused():
    started = Program((Version(1, NOW, ProgramRules()),))
    with pytest.raises(BeforeProgramStart) as refused:
        quote(started, Basket([Line("x", D(1), D(1))], NOW - timedelta(seconds=1)))
    assert refused.value.code == "before_program_start"
    assert quote(started, Basket([Line("x", D(1), D(1))], NOW)).version_id == 1


def test_each_receipt_is_computed_with_the_version_in_force_at_its_date():
    later = NOW + timedelta(days=30)
    program = Program(
        (Version(1, NOW, ProgramRules(earn_rate=D(1))), Version(2, later, ProgramRules(earn_rate=D(2))))
    )
    assert quote(program, Basket([Line("x", D(1), D(10))], later - timedelta(seconds=1))).points == D("10.00")
    assert quote(program, Basket([Line("x", D(1), D(10))], later)).version_id == 2


@pytest.mark.parametrize(
    "raw",
    [
        {"earn_rate": 0.01},  # a float is not exact
        {"point_value": "0"},
        {"max_spend_share": "1.5"},
        {"currency": "roubles"},
        {"time_zone": "Mars/Olympus"},
        {"partial_spending": "yes"},
        {"validity_months": 0},
        {"multiplier_policy": "sum"},
        {"no_such_setting": 1},
    ],
)
def test_invalid_program_rules_are_refused(raw):
    with pytest.raises(InvalidProgramRules):
        ProgramRules.parse(raw)


def campaign(code: str, multiplier: str, **more: object) -> dict[str, object]:
    return {
        "code": code,
        "multiplier": multiplier,
        "starts_at": "2026-02-01T00:00:00+03:00",
        "ends_at": "2026-03-01T00:00:00+03:00",
        **more,
    }


def test_contradictory_overlapping_campaigns_are_flagged():
    thursday_x3 = Campaign.parse(campaign("thu-x3", "3", weekdays=["thu"], categories=["paint"]))
    thursday_x2 = Campaign.parse(
        campaign(
            "thu-x2",
            "2",
            weekdays=["thursday"],
            categories=["paint"],
            starts_at="2026-02-20T00:00:00+03:00",
            ends_at="2026-04-01T00:00:00+03:00",
        )
    )
    with pytest.raises(ContradictoryCampaigns, match=r"thu-x3.*thu-x2"):
        check_campaigns([thursday_x3, thursday_x2])
    # not contradictory: other weekdays, other hours, other targets, or the same multiplier
    check_campaigns(
        [thursday_x3, Campaign.parse(campaign("fri", "2", weekdays=["fri"], categories=["paint"]))]
    )
    check_campaigns(
        [thursday_x3, Campaign.parse(campaign("tools", "2", weekdays=["thu"], categories=["tools"]))]
    )
    check_campaigns(
        [thursday_x3, Campaign.parse(campaign("same", "3", weekdays=["thu"], categories=["paint"]))]
    )
    morning = Campaign.parse(campaign("am", "2", hours="09:00-12:00"))
    check_campaigns([morning, Campaign.parse(campaign("pm", "3", hours="12:00-18:00"))])


@pytest.mark.parametrize(
    "raw",
    [
        campaign("x", "2", ends_at="2026-01-01T00:00:00+03:00"),
        campaign("x", "2", starts_at="2026-02-01T00:00:00"),  # no offset
        campaign("x", "2", weekdays=["someday"]),
        campaign("x", "2", hours="18:00-09:00"),
        campaign("", "2"),
        campaign("x", "-1"),
    ],
)
def test_invalid_campaigns_are_refused(raw):
    with pytest.raises(InvalidProgramRules):
        Campaign.parse(raw)


def test_the_store_refuses_retroactive_versions_and_contradictory_campaigns(db):
    settings = Settings(database_url=db.url.render_as_string(hide_password=False))
    with db.begin() as conn:
        with pytest.raises(RetroactiveChange, match="closed period"):
            store.add_version(
                conn, settings, {"effective_from": "2026-01-01T00:00:00+00:00"}, now=NOW, actor="t"
            )
        first = store.add_version(
            conn,
            settings,
            {"effective_from": NOW.isoformat(), "earn_rate": "1", "currency": "EUR"},
            now=NOW,
            actor="t",
        )
        second = store.add_version(
            conn,
            settings,
            {"effective_from": (NOW + timedelta(days=1)).isoformat(), "earn_rate": "2"},
            now=NOW,
            actor="t",
        )
        store.add_campaign(conn, settings, campaign("thu-x3", "3", weekdays=["thu"]), now=NOW, actor="t")
        with pytest.raises(ContradictoryCampaigns):
            store.add_campaign(conn, settings, campaign("thu-x2", "2", weekdays=["thu"]), now=NOW, actor="t")
        with pytest.raises(RetroactiveChange):
            store.add_campaign(
                conn,
                settings,
                campaign("old", "2", starts_at="2025-01-01T00:00:00+03:00"),
                now=NOW,
                actor="t",
            )
        with pytest.raises(InvalidProgramRules, match="exists"):
            store.add_campaign(conn, settings, campaign("thu-x3", "3", weekdays=["thu"]), now=NOW, actor="t")
        program = store.load(conn, settings)
        assert [v.id for v in program.versions] == [first, second]
        assert program.versions[1].rules.currency == "EUR"  # unchanged settings carry over
        assert program.versions[1].rules.earn_rate == D(2)
        assert [c.code for c in program.campaigns] == ["thu-x3"]
        stored = json.loads(conn.execute(select(PointsCampaign.rules)).scalar_one())
        assert stored["multiplier"] == "3" and stored["weekdays"] == ["thu"]
        with pytest.raises(RetroactiveChange):
            store.add_version(
                conn, settings, {"effective_from": NOW.isoformat()}, now=NOW + timedelta(hours=1), actor="t"
            )


def test_the_cache_sees_a_new_version_once_its_time_is_up(db):
    settings = Settings(database_url=db.url.render_as_string(hide_password=False), points_cache_seconds=0)
    cache = store.ProgramCache()
    with db.begin() as conn:
        assert cache.get(conn, settings).versions[0].id is None  # the default, from settings
        assert cache.get(conn, settings) is cache.get(conn, settings)  # unchanged: not reloaded
        store.add_version(conn, settings, {"effective_from": NOW.isoformat()}, now=NOW, actor="t")
        assert cache.get(conn, settings).versions[0].id is not None
