"""Seed 003's reminder periodicity: every P months while usable points reach the threshold and
some expire within X months; never a second reminder before the period has passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from bonusbridge.models import Origin
from bonusbridge.points import reminders
from bonusbridge.points.program import ProgramRules


def test_seed_003_reminded_in_may_next_in_august_even_if_the_threshold_is_reached_in_july():
    may = datetime(2015, 5, 10, 9, 0, tzinfo=UTC)
    assert reminders.is_due(None, may, 3)
    assert reminders.next_due(may, 3) == datetime(2015, 8, 10, 9, 0, tzinfo=UTC)
    assert not reminders.is_due(may, datetime(2015, 7, 20, tzinfo=UTC), 3)  # threshold reached again in July
    assert reminders.is_due(may, datetime(2015, 8, 10, 9, 0, tzinfo=UTC), 3)


def test_due_cards_in_the_database(ledger, make_card, clock):
    rules = ProgramRules(spend_threshold=D(200), reminder_period_months=3, reminder_horizon_months=2)
    soon = clock.now + timedelta(days=40)
    rich, poor, later, pending = (make_card() for _ in range(4))
    ledger.accrue(rich, D(150), key="a", origin=Origin.ONEC, expires_at=soon)
    ledger.accrue(rich, D(100), key="b", origin=Origin.ONEC)  # never expires, still usable
    ledger.accrue(poor, D(199), key="c", origin=Origin.ONEC, expires_at=soon)  # below the threshold
    ledger.accrue(later, D(500), key="d", origin=Origin.ONEC, expires_at=clock.now + timedelta(days=200))
    ledger.accrue(
        pending,
        D(500),
        key="e",
        origin=Origin.ONEC,
        expires_at=soon,
        available_from=clock.now + timedelta(days=1),
    )
    with ledger.engine.begin() as conn:
        found = reminders.due(conn, rules, clock.now)
        assert [(d.card_id, d.usable, d.expiring) for d in found] == [(rich, D(250), D(150))]
        assert reminders.due(conn, ProgramRules(spend_threshold=D(200)), clock.now) == []  # reminders off
        reminders.mark_sent(conn, rich, clock.now)
        # a month later: rich waits for its period; pending's points became usable and expire soon
        assert [d.card_id for d in reminders.due(conn, rules, clock.now + timedelta(days=30))] == [pending]
        assert [
            d.card_id for d in reminders.due(conn, rules, clock.now + timedelta(days=92))
        ] == []  # expired by then
        ledger_now = clock.now + timedelta(days=35)
        assert [d.card_id for d in reminders.due(conn, rules, ledger_now)] == [pending]
        reminders.mark_sent(conn, rich, clock.now - timedelta(days=100))
        assert [d.card_id for d in reminders.due(conn, rules, ledger_now)] == [rich, pending]
