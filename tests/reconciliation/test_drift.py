"""Drift against the emulated 1C: found, kept as a report, repaired on the hub side; the nightly task;
and merges and unmerges reaching 1C through the sync."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from typer.testing import CliRunner

from bonusbridge.models import (
    Card,
    CardStatus,
    Customer,
    DriftReport,
    Movement,
    Origin,
    OutboxMessage,
    SyncState,
)
from bonusbridge.services.cards import choose_primary
from bonusbridge.unit_of_work import UnitOfWork
from connectors.onec.odata import ENTITY_SETS
from connectors.sync.pull import pull_full
from mapping.profile import load_profile
from reconciliation import tasks
from reconciliation.compare import compare_hub_with_onec
from reconciliation.drift import check_drift, drift_report, list_drift_reports, repair_drift
from reconciliation.merges import list_merges, unmerge
from reconciliation.schedule import NIGHTLY_DRIFT_TASK, SCHEDULE
from tests.onec_live import CARD_1, CARD_2, PARTNER_IVANOV, PROGRAM

D = Decimal
REGISTER = "AccumulationRegister_БонусныеБаллы"


def hub_card(h, ref):
    with UnitOfWork(h.ctx.engine) as uow:
        card = uow.session.scalars(select(Card).where(Card.onec_ref == ref)).one()
        return card.id, uow.ledger.balance(card.id).total


def compare(h):
    return compare_hub_with_onec(h.ctx.engine, h.onec, load_profile("retail"))


def drift_in_register(h, card_ref: str, amount: str) -> None:
    """A record set written straight into 1C's register (as a 1C programmer might): no document,
    nothing on the exchange plan, so the hub never hears of it."""
    h.onec.request(
        "POST",
        REGISTER,
        body={
            "Recorder": str(uuid.uuid4()),
            "Recorder_Type": "StandardODATA.Document_НачислениеИСписаниеБонусныхБаллов",
            "RecordSet": [
                {
                    "LineNumber": "1",
                    "RecordType": "Receipt",
                    "Period": "2026-01-01T00:00:00",
                    "ДисконтнаяКарта_Key": card_ref,
                    "БонуснаяПрограммаЛояльности_Key": PROGRAM,
                    "Начислено": amount,
                    "КСписанию": "0",
                }
            ],
        },
    )


def test_balance_status_and_profile_drift_are_reported_and_kept(harness):
    h = harness
    pull_full(h.ctx)
    h.sync()  # 1C learns the spending lock the hub derived for the owners' incomplete profiles
    assert compare(h).ok
    drift_in_register(h, CARD_1, "12.34")
    h.onec.patch(ENTITY_SETS["retail"].cards, CARD_2, {"Статус": "ТолькоНакопление"})
    h.onec.patch("Catalog_Партнеры", PARTNER_IVANOV, {"ДатаРождения": "1985-07-22T00:00:00"})
    report_id, comparison = check_drift(h.ctx.engine, h.onec, load_profile("retail"), trigger="cli")
    assert not comparison.ok
    with UnitOfWork(h.ctx.engine) as uow:
        [listed] = list_drift_reports(uow.session)
        report = drift_report(uow.session, report_id)
    assert listed.id == report_id and report is not None and not report.ok
    found = {(item.kind, item.field, item.hub_value, item.onec_value) for item in report.items}
    _card_1, total = hub_card(h, CARD_1)
    assert ("card_balance", "total", format(total, "f"), format(total + D("12.34"), "f")) in found
    assert ("card_field", "status", "active", "accumulation_only") in found
    assert ("customer_field", "birth_date", "1985-07-20", "1985-07-22") in found
    assert "hub vs 1C (retail)" in report.summary and report.trigger == "cli"


def test_repair_brings_the_hub_to_1cs_register_once_and_tells_1c_nothing(harness):
    h = harness
    pull_full(h.ctx)
    drift_in_register(h, CARD_1, "12.34")
    profile = load_profile("retail")
    report_id, _ = check_drift(h.ctx.engine, h.onec, profile)
    _card_1, before = hub_card(h, CARD_1)
    result = repair_drift(h.ctx.engine, h.onec, profile, report_id, confirmed_by="Анна Бухгалтер")
    [outcome] = result.outcomes
    assert outcome.movement_id is not None and outcome.delta == D("12.34")
    assert hub_card(h, CARD_1)[1] == before + D("12.34") == h.onec_balance(CARD_1)
    with UnitOfWork(h.ctx.engine) as uow:
        movement = uow.session.get(Movement, outcome.movement_id)
        assert movement.origin is Origin.RECONCILIATION and movement.actor == "Анна Бухгалтер"
        outbox = uow.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.topic == "movement", OutboxMessage.entity_id == movement.id
            )
        ).all()
        assert [m.state for m in outbox] == [SyncState.SKIPPED]
        report = uow.session.get(DriftReport, report_id)
        assert (report.repaired_by, report.repaired_items) == ("Анна Бухгалтер", 1)
    h.sync()
    assert compare(h).ok and h.onec_balance(CARD_1) == hub_card(h, CARD_1)[1]
    # Again: nothing more.
    again = repair_drift(h.ctx.engine, h.onec, profile, report_id, confirmed_by="Анна Бухгалтер")
    assert again.outcomes[0].movement_id == outcome.movement_id
    with UnitOfWork(h.ctx.engine) as uow:
        count = uow.session.scalar(
            select(func.count()).select_from(Movement).where(Movement.origin == Origin.RECONCILIATION)
        )
    assert count == 1


def test_the_cli_without_confirmation_changes_nothing(harness, monkeypatch):
    h = harness
    pull_full(h.ctx)
    h.sync()  # 1C learns the spending lock the hub derived for the owners' incomplete profiles
    drift_in_register(h, CARD_1, "5")
    import reconciliation.cli as cli

    monkeypatch.setattr(cli, "settings_or_exit", lambda: h.settings)
    monkeypatch.setattr(cli, "build_hub", lambda settings: type("Hub", (), {"engine": h.ctx.engine})())
    monkeypatch.setattr(
        cli.ODataClient,
        "from_settings",
        classmethod(
            lambda cls, s: h.onec.__class__(f"{h.base.origin}/{h.base.base}", "Администратор", "", timeout=10)
        ),
    )
    runner = CliRunner()
    _, before = hub_card(h, CARD_1)
    answer = runner.invoke(cli.app, ["balances", "--repair"], input="Анна\nn\n")
    assert answer.exit_code == 1, answer.output
    assert "nothing changed" in answer.output
    assert hub_card(h, CARD_1)[1] == before
    refused = runner.invoke(cli.app, ["balances", "--repair", "--yes"])
    assert refused.exit_code == 2
    done = runner.invoke(cli.app, ["balances", "--repair", "--yes", "--confirmed-by", "Анна"])
    assert done.exit_code == 0, done.output
    assert "repaired 1 of 1, confirmed by Анна" in done.output
    assert hub_card(h, CARD_1)[1] == before + 5
    clean = runner.invoke(cli.app, ["balances"])
    assert clean.exit_code == 0 and "all agree" in clean.output


def test_the_nightly_task_is_scheduled_and_keeps_a_report(harness):
    h = harness
    assert any(entry["task"] == NIGHTLY_DRIFT_TASK for entry in SCHEDULE.values())
    pull_full(h.ctx)
    h.sync()  # the lock the hub derived reaches 1C first: only the register differs
    drift_in_register(h, CARD_1, "1")
    tasks.use_drift_parts(
        tasks.DriftParts(
            h.ctx.engine,
            lambda: h.onec.__class__(f"{h.base.origin}/{h.base.base}", "Администратор", "", timeout=10),
            load_profile("retail"),
        )
    )
    try:
        outcome = tasks.nightly_drift.apply().get()
    finally:
        tasks.use_drift_parts(None)
    assert outcome["ok"] is False and outcome["differences"] == 1
    with UnitOfWork(h.ctx.engine) as uow:
        report = drift_report(uow.session, outcome["report_id"])
    assert report is not None and report.trigger == "nightly" and report.repaired_at is None


def test_a_merge_and_its_unmerge_reach_1c(harness):
    h = harness
    pull_full(h.ctx)
    card_1, total_1 = hub_card(h, CARD_1)
    card_2, total_2 = hub_card(h, CARD_2)
    with UnitOfWork(h.ctx.engine) as uow:
        customer = uow.session.scalars(select(Customer).where(Customer.onec_ref == PARTNER_IVANOV)).one()
        customer.birth_date = customer.birth_date or date(1985, 7, 20)
        customer_id = customer.id
        uow.commit()
    with UnitOfWork(h.ctx.engine) as uow:
        choose_primary(uow, customer_id, card_2, key="cab-merge", origin=Origin.WEBSITE)
        uow.commit()
    h.sync()
    assert compare(h).ok
    assert h.onec_balance(CARD_1) == 0 and h.onec_balance(CARD_2) == total_1 + total_2
    card = h.onec.get(ENTITY_SETS["retail"].cards, CARD_1)
    assert card["Статус"] in ("Заблокирована", "НеДействует", "Blocked") or card["Статус"] != "Действует"
    with UnitOfWork(h.ctx.engine) as uow:
        [entry] = list_merges(uow.session)
        unmerge(uow, entry.id, actor="olga.staff", reason="customer asked", key="undo-merge")
        uow.commit()
    h.sync()
    assert compare(h).ok
    assert h.onec_balance(CARD_1) == total_1 and h.onec_balance(CARD_2) == total_2
    with UnitOfWork(h.ctx.engine) as uow:
        assert uow.session.get(Card, card_1).status is not CardStatus.BLOCKED


def test_the_hubs_celery_app_runs_the_nightly_drift_task_from_beat():
    from celery.schedules import crontab

    from bonusbridge.celery_app import create_celery
    from bonusbridge.settings import load_settings

    app = create_celery(load_settings())
    entry = app.conf.beat_schedule["reconciliation-nightly-drift"]
    assert entry["task"] == NIGHTLY_DRIFT_TASK
    assert entry["schedule"] == crontab(hour=0, minute=15)
    app.loader.import_default_modules()
    assert NIGHTLY_DRIFT_TASK in app.tasks


def test_a_website_change_not_yet_in_1c_is_not_repaired_away(harness):
    """The hub is ahead of 1C only because the outbox has not delivered yet: 1C is not the truth
    for that card at this moment, so the repair leaves it alone and the sync settles it."""
    h = harness
    pull_full(h.ctx)
    card_1, before = hub_card(h, CARD_1)
    with UnitOfWork(h.ctx.engine) as uow:
        uow.ledger.accrue(card_1, D("40"), key="order-1", origin=Origin.WEBSITE)
        uow.commit()
    profile = load_profile("retail")
    report_id, comparison = check_drift(h.ctx.engine, h.onec, profile)
    assert not comparison.ok
    result = repair_drift(h.ctx.engine, h.onec, profile, report_id, confirmed_by="Анна")
    assert [o.skipped for o in result.outcomes] == ["changes not yet delivered to 1C"]
    assert hub_card(h, CARD_1)[1] == before + 40
    h.sync()
    assert compare(h).ok


def test_a_repair_needs_a_name_and_an_existing_report(harness):
    import pytest

    from reconciliation.drift import RepairRefused

    h = harness
    profile = load_profile("retail")
    with pytest.raises(RepairRefused):
        repair_drift(h.ctx.engine, h.onec, profile, 1, confirmed_by="  ")
    with pytest.raises(RepairRefused):
        repair_drift(h.ctx.engine, h.onec, profile, 12345, confirmed_by="Анна")
