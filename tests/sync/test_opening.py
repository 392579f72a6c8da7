"""Issue 18 item 3: a 1C document counts exactly once, whatever its date.

The initial load's opening balance is what it read of 1C's register, and the change feed decides
by that read (``connectors.sync.opening``), not by the document's date: a document dated before
the load but posted after it counts; one the load read does not count again, and when it is
re-posted or unposted only the difference moves. A 1C server stamping UTC while the hub is set to
Moscow time no longer makes a fresh document look older than the load. Both 1C configurations."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from bonusbridge.models import InboxMessage, SyncState
from connectors.onec.cli import _status, check_clock
from connectors.sync.context import SyncContext
from connectors.sync.listener import Listener
from connectors.sync.pull import pull_full
from reconciliation.compare import compare_hub_with_onec
from tests.onec_live import PARTNER_IVANOV, PROGRAM, Base
from tests.sync.conftest import Harness

D = Decimal
DOCUMENT = "Document_НачислениеИСписаниеБонусныхБаллов"
CARD_1 = "40000000-0000-4000-8000-000000000001"  # Иванов's


def owner(h: Harness) -> tuple[str, str]:
    return ("Партнер_Key", PARTNER_IVANOV) if h.base.config == "ut11" else ("ДисконтнаяКарта_Key", CARD_1)


def demo_document(h: Harness, n: int) -> str:
    middle = "9000" if h.base.config == "ut11" else "8000"
    return f"50000000-0000-4000-{middle}-00000000000{n}"


def post(h: Harness, amount: str, *, date: str | None = None, operation: str = "Начисление") -> str:
    field, ref = owner(h)
    body = {
        "ВидОперации": operation,
        "БонуснаяПрограммаЛояльности_Key": PROGRAM,
        "Начисление": [{"LineNumber": 1, field: ref, "СуммаБонусныхБаллов": D(amount)}],
    }
    if date:
        body["Date"] = date
    document = h.onec.create(DOCUMENT, body)
    h.onec.post_document(DOCUMENT, document["Ref_Key"])
    return str(document["Ref_Key"])


def agree(h: Harness) -> None:
    comparison = compare_hub_with_onec(h.ctx.engine, h.onec, h.ctx.profile)
    assert comparison.ok, comparison.summary()


@pytest.fixture
def h(any_base: Base, db: Engine) -> Iterator[Harness]:
    harness = Harness(any_base, db)
    yield harness
    harness.close()


def in_zone(h: Harness, zone: str) -> Harness:
    """The same harness with the hub set to another zone than the one 1C stamps (UTC)."""
    h.settings = h.settings.model_copy(update={"onec_timezone": zone})
    h.ctx = SyncContext.from_settings(h.settings, h.ctx.engine)
    h.listener = Listener(h.ctx)
    return h


def test_a_backdated_document_posted_after_the_load_counts(h: Harness) -> None:
    pull_full(h.ctx)
    h.sync()  # the feed's backlog (the demo's documents) is in the opening balance: counted once
    agree(h)
    _field, ref = owner(h)
    before = h.onec_balance(ref)
    document = post(h, "5", date="2024-06-01T12:00:00")  # dated long before the load
    h.sync()
    assert h.onec_balance(ref) == before + 5
    agree(h)
    with h.ctx.session_factory() as s:
        row = s.scalars(
            select(InboxMessage).where(InboxMessage.onec_ref == document, InboxMessage.source != "pull")
        ).one()
    assert row.state == SyncState.DONE and row.last_error is None


def test_with_1c_on_utc_and_the_hub_on_moscow_a_fresh_document_still_counts(h: Harness) -> None:
    h = in_zone(h, "Europe/Moscow")
    pull_full(h.ctx)
    h.sync()
    agree(h)
    _field, ref = owner(h)
    before = h.onec_balance(ref)
    post(h, "7")  # 1C stamps now in UTC: read as Moscow time it is three hours before the load
    h.sync()
    assert h.onec_balance(ref) == before + 7
    agree(h)


def test_a_document_the_load_read_moves_only_its_difference_when_reposted(h: Harness) -> None:
    pull_full(h.ctx)
    h.sync()
    field, ref = owner(h)
    before = h.onec_balance(ref)
    first = demo_document(h, 1)  # 500 for Иванов on line 1, in the opening balance
    rows = h.onec.get(DOCUMENT, first)["Начисление"]
    changed = [{**row, "СуммаБонусныхБаллов": D("520")} if row[field] == ref else row for row in rows]
    h.onec.patch(DOCUMENT, first, {"Начисление": changed})
    h.onec.post_document(DOCUMENT, first)
    h.sync()
    assert h.onec_balance(ref) == before + 20
    agree(h)
    h.onec.unpost_document(DOCUMENT, demo_document(h, 3))  # Иванов's 100 spent: given back
    h.sync()
    assert h.onec_balance(ref) == before + 120
    agree(h)
    h.onec.post_document(DOCUMENT, demo_document(h, 3))  # and spent again
    h.sync()
    assert h.onec_balance(ref) == before + 20
    agree(h)


def test_a_document_in_the_feeds_backlog_and_in_the_load_counts_once(h: Harness) -> None:
    document = post(h, "9")  # posted before the load: in the register the load reads, and in the feed
    pull_full(h.ctx)
    h.sync()
    agree(h)
    with h.ctx.session_factory() as s:
        row = s.scalars(
            select(InboxMessage).where(InboxMessage.onec_ref == document, InboxMessage.source != "pull")
        ).one()
    assert row.last_error == "no change in points: in the opening balance of the initial load"


def test_ping_warns_loudly_when_the_zone_does_not_match_1cs_clock(h: Harness, db: Engine) -> None:
    url = db.url.render_as_string(hide_password=False)
    pull_full(h.ctx)
    h.sync()
    h.till(CARD_1, accrued="3")
    h.sync()
    right = _status("clock", check_clock(h.settings.model_copy(update={"database_url": url})))
    assert right.status == "OK", right
    wrong_settings = h.settings.model_copy(update={"database_url": url, "onec_timezone": "Europe/Moscow"})
    wrong = _status("clock", check_clock(wrong_settings))
    assert wrong.status == "FAIL", wrong
    assert "3.0 h behind" in wrong.detail and "BONUSBRIDGE_ONEC_TIMEZONE=Europe/Moscow" in wrong.detail
    probed = _status(
        "clock",
        check_clock(wrong_settings.model_copy(update={"database_url": "sqlite://"}), write_probe=True),
    )
    assert probed.status == "FAIL" and "a fresh write" in probed.detail, probed
