"""Issue 18 item 2: a repair must not count twice what 1C changed and the hub has not read yet.

With the listener stopped, 1C posts −100 for one owner of points and +77.77 for another; the drift
report sees both, but the repair leaves them alone (the change feed is behind), and once the
listener catches up the hub agrees with 1C exactly. Both 1C configurations (retail: per card,
УТ 11: per partner)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from typer.testing import CliRunner

from connectors.onec.odata import ODataClient
from connectors.sync.inbound import store_changes
from connectors.sync.pull import pull_full
from reconciliation.compare import compare_hub_with_onec
from reconciliation.drift import NOT_READ, check_drift, feed_of, repair_drift
from tests.onec_live import ADMIN, PARTNER_IVANOV, PARTNER_PETROVA, PROGRAM
from tests.sync.conftest import Harness

D = Decimal
DOCUMENT = "Document_НачислениеИСписаниеБонусныхБаллов"
CARD_1 = "40000000-0000-4000-8000-000000000001"  # Иванов's
CARD_3 = "40000000-0000-4000-8000-000000000003"  # Петрова's


def owners(h: Harness) -> tuple[str, str, str]:
    if h.base.config == "ut11":
        return "Партнер_Key", PARTNER_IVANOV, PARTNER_PETROVA
    return "ДисконтнаяКарта_Key", CARD_1, CARD_3


def post_in_1c(h: Harness, owner_field: str, owner: str, operation: str, amount: str) -> None:
    document = h.onec.create(
        DOCUMENT,
        {
            "ВидОперации": operation,
            "БонуснаяПрограммаЛояльности_Key": PROGRAM,
            "Начисление": [{"LineNumber": 1, owner_field: owner, "СуммаБонусныхБаллов": D(amount)}],
        },
    )
    h.onec.post_document(DOCUMENT, document["Ref_Key"])


def onec_total(h: Harness, owner: str) -> Decimal:
    field = "ДисконтнаяКарта_Key" if h.base.config == "retail" else "Партнер_Key"
    rows = h.onec.balance("AccumulationRegister_БонусныеБаллы")
    return sum((D(r["НачисленоBalance"]) for r in rows if r.get(field) == owner), D("0"))


@pytest.fixture
def h(any_base, db):
    harness = Harness(any_base, db)
    yield harness
    harness.close()


def test_a_repair_while_the_feed_is_behind_leaves_those_balances_to_the_feed(h):
    pull_full(h.ctx)
    h.sync()
    profile = h.ctx.profile
    assert compare_hub_with_onec(h.ctx.engine, h.onec, profile).ok
    field, first, second = owners(h)
    before = onec_total(h, first), onec_total(h, second)
    # The listener is stopped: 1C changes, the hub does not hear of it yet.
    post_in_1c(h, field, first, "Списание", "100")
    post_in_1c(h, field, second, "Начисление", "77.77")
    report_id, comparison = check_drift(h.ctx.engine, h.onec, profile)
    found = {d.onec_ref: (d.hub_value, d.onec_value) for d in comparison.card_differences}
    assert found == {first: (before[0], before[0] - 100), second: (before[1], before[1] + D("77.77"))}

    result = repair_drift(
        h.ctx.engine,
        h.onec,
        profile,
        report_id,
        confirmed_by="Анна Бухгалтер",
        feed=feed_of(h.settings, h.ctx.engine, h.onec),
    )
    assert result.repaired == 0
    assert {o.skipped for o in result.outcomes} == {NOT_READ}

    h.sync()  # the listener starts: each 1C document is counted once
    assert compare_hub_with_onec(h.ctx.engine, h.onec, profile).ok
    assert onec_total(h, first) == before[0] - 100 and onec_total(h, second) == before[1] + D("77.77")


def test_a_change_stored_but_not_applied_holds_its_balance_back_too(h):
    """Read from the feed but still pending in the inbox (its slot busy): not yet counted either."""
    pull_full(h.ctx)
    h.sync()
    profile = h.ctx.profile
    field, first, second = owners(h)
    before = onec_total(h, first), onec_total(h, second)
    post_in_1c(h, field, first, "Начисление", "12.5")
    post_in_1c(h, field, second, "Начисление", "3")
    poller = h.listener.poller
    changes = poller.unread()
    mine = [c for c in changes if any(row.get(field) == first for row in c.get("Начисление") or [])]
    assert len(mine) == 1
    # The listener stored the first (its slot busy: not applied) and acknowledged the message; the
    # second is a drift the hub never hears of (as if 1C's programmer wrote it past the feed).
    store_changes(h.ctx, mine, source="select_changes")
    number = poller.state.last_acknowledged() + 1
    h.onec.notify_changes_received(h.settings.onec_exchange_plan, poller.node_ref(), number)
    poller.state.acknowledged(number)
    report_id, comparison = check_drift(h.ctx.engine, h.onec, profile)
    assert {d.onec_ref for d in comparison.card_differences} == {first, second}
    result = repair_drift(h.ctx.engine, h.onec, profile, report_id, confirmed_by="Анна", feed=None)
    why = {o.delta: o.skipped for o in result.outcomes}
    assert why == {D("12.5"): NOT_READ, D("3"): None}
    h.sync()
    assert compare_hub_with_onec(h.ctx.engine, h.onec, profile).ok
    assert onec_total(h, first) == before[0] + D("12.5") and onec_total(h, second) == before[1] + 3


def test_the_cli_says_the_feed_is_behind_and_repairs_nothing_twice(h, monkeypatch):
    import reconciliation.cli as cli

    pull_full(h.ctx)
    h.sync()
    field, first, second = owners(h)
    post_in_1c(h, field, first, "Списание", "100")
    post_in_1c(h, field, second, "Начисление", "77.77")
    monkeypatch.setattr(cli, "settings_or_exit", lambda: h.settings)
    monkeypatch.setattr(cli, "build_hub", lambda settings: type("Hub", (), {"engine": h.ctx.engine})())
    monkeypatch.setattr(
        cli.ODataClient,
        "from_settings",
        classmethod(lambda cls, s: ODataClient(f"{h.base.origin}/{h.base.base}", *ADMIN, timeout=10)),
    )
    result = CliRunner().invoke(cli.app, ["balances", "--repair", "--yes", "--confirmed-by", "Анна"])
    assert result.exit_code == 1, result.output
    assert "the change feed is behind" in result.output and "repaired 0 of 2" in result.output
    h.sync()
    assert compare_hub_with_onec(h.ctx.engine, h.onec, h.ctx.profile).ok
