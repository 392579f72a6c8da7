"""Tiers (card statuses, seed 004) by rolling 12-month spend, each with its own earn rate; campaigns
may target a tier. Reviews run on each purchase and return (in its transaction) and nightly, and
store the tier; the program's downgrade policy (``immediate``, ``grace``, ``one_step``) decides what
a card keeps when its spend falls. Through the shop API and the nightly review, on the suite's
database (SQLite, or PostgreSQL when ``BONUSBRIDGE_DATABASE_URL`` says so)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, insert, select, text
from typer.testing import CliRunner

from bonusbridge import tasks
from bonusbridge.app import Hub
from bonusbridge.celery_app import REVIEW_TIERS_TASK, create_celery
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import ApiClient, ApiOrder, Card, CardTier, CardTierChange
from bonusbridge.points import store, tiers
from bonusbridge.points.errors import InvalidProgramRules
from bonusbridge.points.multipliers import CustomerFacts
from bonusbridge.points.program import BEGINNING, Campaign, Program, ProgramRules, Version
from bonusbridge.points.quote import Basket, Line, quote
from bonusbridge.points.receipts import add_months
from bonusbridge.settings import get_settings, load_settings
from tests.web_cabinet.api import conftest as shop_api
from tests.web_cabinet.api.conftest import Api
from web_cabinet.api.clients import create_client

# The shop API's fixtures (a bare app on the suite's database and hand-moved clock), reused here.
settings, hub, app, http = shop_api.settings, shop_api.hub, shop_api.app, shop_api.http
make_api, api, card_id = shop_api.make_api, shop_api.api, shop_api.card_id

AT = datetime(2026, 3, 12, 11, 0, tzinfo=UTC)
TIERS = [
    {"name": "silver", "min_spend": "10000", "earn_rate": "0.02"},
    {"name": "gold", "min_spend": "50000", "earn_rate": "0.05"},
]
#: Small thresholds for the API tests: 100 and 300 RUB, earning 2 and 3 points per RUB.
SMALL = [
    {"name": "silver", "min_spend": "100", "earn_rate": "2"},
    {"name": "gold", "min_spend": "300", "earn_rate": "3"},
]
ONE_LINE = [{"sku": "x", "quantity": "1", "price": "100.00"}]
WAITING_ON_A_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


# --- the rules and the policy (pure) ---------------------------------------------------------------


def test_the_tier_follows_the_rolling_spend_and_sets_the_earn_rate():
    rules = ProgramRules.parse({"earn_rate": "0.01", "tiers": TIERS})
    gold_x2 = Campaign.parse(
        {
            "code": "gold-x2",
            "multiplier": "2",
            "tiers": ["gold"],
            "starts_at": "2026-01-01T00:00:00+00:00",
            "ends_at": "2027-01-01T00:00:00+00:00",
        }
    )
    program = Program((Version(1, BEGINNING, rules),), (gold_x2,))
    basket = Basket([Line("x", D(1), D("1000.00"))], AT)
    earned = [
        quote(program, basket, CustomerFacts(spend_12m=D(spend))).points
        for spend in ("0", "9999.99", "10000", "60000")
    ]
    assert earned == [D("10.00"), D("10.00"), D("20.00"), D("100.00")]  # gold: 0.05 x2
    assert (
        "tier gold: 0.05 points per RUB"
        in quote(program, basket, CustomerFacts(spend_12m=D(60000))).lines[0].rules
    )
    assert quote(program, basket).points == D("10.00")  # no spend known: the base rate


def test_a_reviewed_tier_wins_over_the_window_in_the_quote_and_its_campaigns():
    rules = ProgramRules.parse({"earn_rate": "0.01", "tiers": TIERS})
    gold_x2 = Campaign.parse(
        {
            "code": "gold-x2",
            "multiplier": "2",
            "tiers": ["gold"],
            "starts_at": "2026-01-01T00:00:00+00:00",
            "ends_at": "2027-01-01T00:00:00+00:00",
        }
    )
    program = Program((Version(1, BEGINNING, rules),), (gold_x2,))
    basket = Basket([Line("x", D(1), D("1000.00"))], AT)

    def earned(**facts: Any) -> D:
        return quote(program, basket, CustomerFacts(tier_reviewed=True, **facts)).points

    assert earned(tier="gold", spend_12m=D(0)) == D("100.00")  # kept in grace: rate and campaign
    assert earned(tier=None, spend_12m=D(60000)) == D("10.00")  # the review said none: none
    assert earned(tier="platinum", spend_12m=D(10000)) == D("20.00")  # a tier gone: the window decides


@pytest.mark.parametrize(
    "tiers",
    [
        [
            {"name": "gold", "min_spend": "5", "earn_rate": "1"},
            {"name": "silver", "min_spend": "1", "earn_rate": "1"},
        ],
        [{"name": "gold", "min_spend": "5"}],
        "gold",
    ],
)
def test_bad_tiers_are_refused(tiers):
    with pytest.raises(InvalidProgramRules):
        ProgramRules.parse({"tiers": tiers})


def test_the_downgrade_policy_is_a_versioned_setting_immediate_by_default():
    assert (ProgramRules().tier_downgrade, ProgramRules.parse({}).tier_downgrade) == (
        "immediate",
        "immediate",
    )
    rules = ProgramRules.parse({"tiers": TIERS, "tier_downgrade": "one_step", "tier_grace_months": 6})
    assert rules.to_json()["tier_downgrade"] == "one_step" and rules.to_json()["tier_grace_months"] == 6
    assert ProgramRules.parse(rules.to_json()) == rules


@pytest.mark.parametrize(
    "raw",
    [
        {"tier_downgrade": "never"},
        {"tier_grace_months": 0},
        {"tier_grace_months": "3"},
        {"tier_grace_months": 1.5},
        {"tier_grace_months": True},
    ],
)
def test_bad_downgrade_settings_are_refused(raw):
    with pytest.raises(InvalidProgramRules):
        ProgramRules.parse(raw)


def _held(tier: str | None, at: datetime, changed: datetime | None = None) -> tiers.Stored:
    return tiers.Stored(tier, D(0), at, at, changed or at)


@pytest.mark.parametrize(
    ("policy", "days", "spend", "expected"),
    [
        ("immediate", 1, "0", None),
        ("immediate", 1, "150", "silver"),
        ("grace", 1, "0", "gold"),  # kept
        ("grace", 58, "150", "gold"),
        ("grace", 61, "150", "silver"),  # grace over: what the window supports
        ("grace", 61, "0", None),
        ("one_step", 58, "0", "gold"),
        ("one_step", 61, "0", "silver"),  # one tier down, not two
        ("one_step", 61, "600", "platinum"),  # upgrades never wait
        ("grace", 1, "600", "platinum"),
    ],
)
def test_the_policy_decides_what_a_gold_card_keeps(policy, days, spend, expected):
    rules = ProgramRules.parse(
        {
            "tiers": [*SMALL, {"name": "platinum", "min_spend": "500", "earn_rate": "4"}],
            "tier_downgrade": policy,
            "tier_grace_months": 2,
        }
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    after = tiers.decide(rules, _held("gold", start), D(spend), start + timedelta(days=days))
    assert after is not None and after.tier == expected


def test_one_step_holds_the_lower_tier_for_another_grace_and_a_second_review_changes_nothing():
    rules = ProgramRules.parse({"tiers": SMALL, "tier_downgrade": "one_step", "tier_grace_months": 1})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    dropped = tiers.decide(rules, _held("gold", start), D(0), add_months(start, 1))
    assert dropped == tiers.Stored("silver", D(0), start, add_months(start, 1), add_months(start, 1))
    assert tiers.decide(rules, dropped, D(0), add_months(start, 1)) == dropped  # same instant: same row
    assert tiers.decide(rules, dropped, D(0), add_months(start, 2) - timedelta(seconds=1)) == tiers.Stored(
        "silver", D(0), start, add_months(start, 2) - timedelta(seconds=1), add_months(start, 1)
    )
    last = tiers.decide(rules, dropped, D(0), add_months(start, 2))
    assert last is not None and last.tier is None


def test_a_card_below_the_first_tier_needs_no_row_and_a_removed_tier_is_replaced():
    rules = ProgramRules.parse({"tiers": SMALL, "tier_downgrade": "grace"})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert tiers.decide(rules, None, D(99), now) is None
    renamed = tiers.decide(rules, _held("bronze", now - timedelta(days=1)), D(150), now)
    assert renamed == tiers.Stored("silver", D(150), now, now, now)  # no grace for a tier gone


# --- through the shop API and the nightly review ---------------------------------------------------


def _program(hub: Hub, db: Engine, clock: Any, **rules: Any) -> None:
    hub.settings = hub.settings.model_copy(update={"points_cache_seconds": 0})
    with db.begin() as conn:
        store.add_version(
            conn,
            hub.settings,
            {"effective_from": clock.now.isoformat(), "earn_rate": "1", "tiers": SMALL, **rules},
            now=clock.now,
            actor="test",
        )


def _stored(db: Engine, card: int) -> Any:
    with db.connect() as conn:
        return conn.execute(select(CardTier).where(CardTier.card_id == card)).first()


def _history(db: Engine, card: int | None = None) -> list[tuple[str | None, str | None, str]]:
    query = select(CardTierChange.from_tier, CardTierChange.to_tier, CardTierChange.reason)
    if card is not None:
        query = query.where(CardTierChange.card_id == card)
    with db.connect() as conn:
        return [tuple(row) for row in conn.execute(query.order_by(CardTierChange.id))]


def _nightly(hub: Hub, db: Engine, now: datetime, **kwargs: Any) -> tiers.Summary:
    with db.connect() as conn:
        program = store.load(conn, hub.settings)
    return tiers.review_all(db, program, now, **kwargs)


def _earned(api: Api, card: str) -> str:
    answer = api.read("/quotes", {"card_id": card, "lines": ONE_LINE})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["points_earned"])


def test_a_purchase_moves_the_card_up_at_once_and_records_it(api, hub, db, clock, make_card, card_id):
    _program(hub, db, clock, tier_downgrade="grace")
    row = make_card()
    card = card_id(row)
    assert _earned(api, card) == "100.00" and _stored(db, row) is None  # never reviewed: the live window
    line = [{"sku": "x", "quantity": "1", "price": "150.00"}]
    assert api.post("/receipts", {"card_id": card, "receipt_id": "R-1", "lines": line}).status_code == 201
    assert _stored(db, row).tier == "silver" and _stored(db, row).spend_12m == D("150.00")
    assert _earned(api, card) == "200.00"  # the next purchase earns silver's 2 points per RUB
    clock.advance(timedelta(hours=1))
    accrued = api.post("/accruals", {"card_id": card, "order_id": "O-2", "order_total": "100.00"})
    assert accrued.status_code == 201, accrued.text
    assert _stored(db, row).tier == "silver"  # 250: still silver, no history row
    accrued = api.post("/accruals", {"card_id": card, "order_id": "O-3", "order_total": "50.00"})
    assert accrued.status_code == 201
    assert _stored(db, row).tier == "gold" and _earned(api, card) == "300.00"
    assert _history(db, row) == [(None, "silver", "receipt R-1"), ("silver", "gold", "shop order O-3")]


def test_immediate_drops_the_tier_on_the_refund(api, hub, db, clock, make_card, card_id):
    _program(hub, db, clock)  # the default policy: immediate
    row = make_card()
    card = card_id(row)
    assert (
        api.post("/accruals", {"card_id": card, "order_id": "O-1", "order_total": "150.00"}).status_code
        == 201
    )
    assert _stored(db, row).tier == "silver"
    refunded = api.post("/refunds", {"order_id": "O-1", "amount": "60.00"})
    assert refunded.status_code == 201, refunded.text
    assert _stored(db, row).tier is None and _stored(db, row).spend_12m == D("90.00")
    assert _earned(api, card) == "100.00"
    assert _history(db, row) == [
        (None, "silver", "shop order O-1"),
        ("silver", None, "refund of shop order O-1"),
    ]


def test_grace_keeps_the_tier_and_its_rate_until_the_nightly_review_drops_it(
    api, hub, db, clock, make_card, card_id
):
    _program(hub, db, clock, tier_downgrade="grace", tier_grace_months=2)
    with db.begin() as conn:
        store.add_campaign(
            conn,
            hub.settings,
            {
                "code": "silver-x2",
                "multiplier": "2",
                "tiers": ["silver"],
                "starts_at": clock.now.isoformat(),
                "ends_at": (clock.now + timedelta(days=365)).isoformat(),
            },
            now=clock.now,
            actor="test",
        )
    row = make_card()
    card = card_id(row)
    bought = clock.now
    line = [{"sku": "x", "quantity": "3", "price": "50.00"}]
    assert api.post("/receipts", {"card_id": card, "receipt_id": "R-1", "lines": line}).status_code == 201
    clock.advance(timedelta(days=1))
    returned = api.post("/receipts/R-1/returns", {"lines": [{"line": 0, "quantity": "2"}]})
    assert returned.status_code == 201, returned.text
    kept = _stored(db, row)
    assert (kept.tier, kept.spend_12m, kept.qualified_at) == ("silver", D("50.00"), bought)
    assert _earned(api, card) == "400.00"  # silver's rate and the silver campaign, in grace
    clock.advance(timedelta(days=30))
    assert _nightly(hub, db, clock.now) == tiers.Summary(1, 0)
    assert _earned(api, card) == "400.00"
    clock.now = add_months(bought, 2)
    assert _nightly(hub, db, clock.now) == tiers.Summary(1, 1)
    assert _stored(db, row).tier is None and _earned(api, card) == "100.00"
    assert _history(db, row) == [(None, "silver", "receipt R-1"), ("silver", None, "nightly")]


def test_one_step_drops_one_tier_per_grace_period(api, hub, db, clock, make_card, card_id):
    _program(hub, db, clock, tier_downgrade="one_step", tier_grace_months=1)
    row = make_card()
    card = card_id(row)
    start = clock.now
    assert (
        api.post("/accruals", {"card_id": card, "order_id": "O-1", "order_total": "350.00"}).status_code
        == 201
    )
    assert api.post("/refunds", {"order_id": "O-1", "amount": "350.00"}).status_code == 201
    assert _stored(db, row).tier == "gold"  # the window says none; gold is kept for a month
    clock.now = add_months(start, 1)
    assert _nightly(hub, db, clock.now).changed == 1 and _stored(db, row).tier == "silver"
    assert _earned(api, card) == "200.00"
    clock.advance(timedelta(days=1))
    assert _nightly(hub, db, clock.now).changed == 0 and _stored(db, row).tier == "silver"
    clock.now = add_months(start, 2)
    assert _nightly(hub, db, clock.now).changed == 1 and _stored(db, row).tier is None
    assert _history(db, row) == [
        (None, "gold", "shop order O-1"),
        ("gold", "silver", "nightly"),
        ("silver", None, "nightly"),
    ]


def _bulk_cards(db: Engine, make_card: Any, count: int) -> list[int]:
    first = make_card()
    with db.begin() as conn:
        program_id = conn.execute(select(Card.program_id).where(Card.id == first)).scalar_one()
        conn.execute(
            insert(Card), [{"program_id": program_id, "number": f"3000-{n:08d}"} for n in range(count - 1)]
        )
        return list(conn.execute(select(Card.id).order_by(Card.id)).scalars())


def _orders(db: Engine, rows: list[tuple[int, str, datetime]]) -> None:
    """Orders as the shop API leaves them, written directly (no review: what the night catches)."""
    with db.connect() as conn:
        client = conn.execute(select(ApiClient.id).where(ApiClient.name == "bulk-shop")).scalar()
    if client is None:
        create_client(db, "bulk-shop", ("accrue",))
    with db.begin() as conn:
        client = conn.execute(select(ApiClient.id).where(ApiClient.name == "bulk-shop")).scalar_one()
        first = conn.execute(select(func.count()).select_from(ApiOrder)).scalar_one()
        conn.execute(
            insert(ApiOrder),
            [
                {
                    "client_id": client,
                    "reference": f"B-{first + n}",
                    "card_id": card,
                    "total": D(total),
                    "refunded": D(0),
                    "created_at": at,
                }
                for n, (card, total, at) in enumerate(rows)
            ],
        )


def test_the_nightly_review_runs_in_batches_and_twice_changes_nothing(hub, db, clock, make_card):
    _program(hub, db, clock, tiers=[SMALL[0], {"name": "gold", "min_spend": "1000", "earn_rate": "3"}])
    cards = _bulk_cards(db, make_card, 250)
    _orders(db, [(card, f"{10 * (n + 1)}.00", clock.now - timedelta(days=1)) for n, card in enumerate(cards)])
    transactions = []
    listener = lambda conn: transactions.append(conn)  # noqa: E731
    event.listen(db, "begin", listener)
    try:
        first = _nightly(hub, db, clock.now, batch_size=40)
    finally:
        event.remove(db, "begin", listener)
    assert first == tiers.Summary(250, 241)  # spends 10 … 2500: 9 below silver keep no row
    assert len(transactions) >= 7  # 250 cards, 40 per transaction
    with db.connect() as conn:
        by_tier = sorted(conn.execute(select(CardTier.tier)).scalars(), key=str)
    assert (by_tier.count("silver"), by_tier.count("gold"), len(by_tier)) == (90, 151, 241)
    history = _history(db)
    assert len(history) == 241 and all(reason == "nightly" for *_, reason in history)
    assert _nightly(hub, db, clock.now, batch_size=40) == tiers.Summary(250, 0)  # idempotent
    late = ProgramRules.parse({"tiers": [SMALL[0]]})  # a late, retried review with other rules…
    with db.begin() as conn:
        assert tiers.review_cards(conn, late, cards, clock.now - timedelta(hours=1), "late") == []
    with db.connect() as conn:  # …leaves the later review's rows alone
        assert set(conn.execute(select(CardTier.reviewed_at)).scalars()) == {clock.now}
    assert len(_history(db)) == 241
    year_later = add_months(clock.now, 12)
    assert _nightly(hub, db, year_later, batch_size=40) == tiers.Summary(241, 241)  # out of the window
    assert _nightly(hub, db, year_later, batch_size=1000) == tiers.Summary(241, 0)
    assert len(_history(db)) == 482


def test_the_celery_task_runs_the_review(hub, db, clock, make_card):
    _program(hub, db, clock)
    row = make_card()
    _orders(db, [(row, "120.00", clock.now)])
    tasks.use_hub(Hub(settings=hub.settings, engine=db, ledger=LedgerService(db, clock=clock)))
    try:
        done = tasks.review_tiers.apply(args=[clock.now.isoformat()]).get()
        again = tasks.review_tiers.apply(args=[clock.now.isoformat()]).get()
    finally:
        tasks.use_hub(None)
    assert (done, again) == ({"reviewed": 1, "changed": 1}, {"reviewed": 1, "changed": 0})
    assert _stored(db, row).tier == "silver"
    schedule = create_celery(load_settings(broker_url="memory://")).conf.beat_schedule
    assert schedule["review-card-tiers"]["task"] == REVIEW_TIERS_TASK == tasks.review_tiers.name


def test_the_command_reviews_as_of_a_moment(hub, db, clock, make_card, monkeypatch):
    from bonusbridge.points.cli import app as points_app

    _program(hub, db, clock)
    row = make_card()
    _orders(db, [(row, "320.00", clock.now)])
    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        at = clock.now.isoformat()
        done = runner.invoke(points_app, ["tiers", "review", "--at", at])
        assert done.exit_code == 0, done.output
        assert "1 cards reviewed" in done.output and "1 changed tier" in done.output
        again = runner.invoke(points_app, ["tiers", "review", "--at", at, "--batch", "1"])
        assert again.exit_code == 0 and "0 changed tier" in again.output
        naive = runner.invoke(points_app, ["tiers", "review", "--at", "2026-01-15T10:00:00"])
        assert naive.exit_code == 1 and "offset" in naive.output
    finally:
        get_settings.cache_clear()
    assert _stored(db, row).tier == "gold"


def test_a_version_without_tiers_drops_the_stored_ones_and_reviews_only_them(hub, db, clock, make_card):
    _program(hub, db, clock, tier_downgrade="grace")
    kept, spender = make_card(), make_card()
    _orders(db, [(kept, "150.00", clock.now)])
    assert _nightly(hub, db, clock.now) == tiers.Summary(1, 1)
    later = clock.now + timedelta(days=1)
    with db.begin() as conn:
        store.add_version(
            conn, hub.settings, {"effective_from": later.isoformat(), "tiers": []}, now=clock.now, actor="t"
        )
    _orders(db, [(spender, "500.00", later)])
    assert _nightly(hub, db, later) == tiers.Summary(1, 1)  # no grace for a tier the program dropped
    assert _stored(db, kept).tier is None and _stored(db, spender) is None
    assert _history(db) == [(None, "silver", "nightly"), ("silver", None, "nightly")]


def test_two_reviews_racing_to_create_a_card_row_make_one_row_and_one_history(
    db, clock, make_card, is_postgres
):
    if not is_postgres:
        pytest.skip("SQLite serializes writers (BEGIN IMMEDIATE): two reviews never race there")
    rules = ProgramRules.parse({"tiers": SMALL})
    card = make_card()
    _orders(db, [(card, "350.00", clock.now)])
    inserted = threading.Event()

    def first_review() -> None:
        with db.begin() as conn:
            tiers.review_cards(conn, rules, [card], clock.now, "first")  # its row, not committed yet
            inserted.set()
            with db.connect() as watcher:  # commit once the second review waits on the row
                for _ in range(200):
                    if watcher.execute(text(WAITING_ON_A_LOCK)).scalar():
                        break
                    time.sleep(0.05)

    thread = threading.Thread(target=first_review)
    thread.start()
    assert inserted.wait(10)
    later = clock.now + timedelta(seconds=1)
    with db.begin() as conn:
        assert tiers.review_card(conn, rules, card, later, "second") is None  # gold already, once
    thread.join()
    assert _history(db) == [(None, "gold", "first")]
    assert _stored(db, card).reviewed_at == later  # reviewed again once the first one committed
