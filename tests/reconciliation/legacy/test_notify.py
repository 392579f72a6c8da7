"""``bonusbridge migrate notify``: the program's announcement to an applied import's phones, once
per phone, never twice, outside quiet hours, spaced to a rate, invalid phones skipped and counted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bonusbridge.models import (
    Card,
    CardStatus,
    Customer,
    LegacyCard,
    LegacyImportRun,
    Origin,
    Program,
    SmsMessage,
)
from bonusbridge.settings import Settings, get_settings, load_settings
from reconciliation.legacy.cli import app
from reconciliation.legacy.notify import NotifyRefused, message_key, notify_import
from tests.conftest import FakeClock

PLAN = "c0ffee" * 10 + "abcd"
DAY = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)  # 13:00 in Moscow


@pytest.fixture
def settings() -> Settings:
    return load_settings(sms_quiet_hours="21:00-09:00", sms_default_time_zone="Europe/Moscow")


class Import:
    def __init__(self, engine: Engine, plan: str = PLAN, *, finished: bool = True) -> None:
        self.engine = engine
        self.plan = plan
        with Session(engine) as session:
            program = session.scalar(select(Program).where(Program.code == "sad_club"))
            if program is None:
                program = Program(code="sad_club", name="Sad club", is_legacy=True)
                session.add(program)
            session.add(
                LegacyImportRun(
                    plan_hash=plan,
                    as_of=DAY,
                    cards=0,
                    batches=1,
                    sources="[]",
                    started_at=DAY,
                    finished_at=DAY if finished else None,
                )
            )
            session.commit()
            self.program_id = program.id
        self.line = 0

    def card(
        self,
        number: str,
        phone: str | None = None,
        *,
        raw: str | None = None,
        status: CardStatus = CardStatus.ACCUMULATION_ONLY,
        customer_id: int | None = None,
        in_import: bool = True,
    ) -> int:
        self.line += 1
        with Session(self.engine) as session:
            card = Card(
                program_id=self.program_id,
                number=number,
                phone_e164=phone,
                phone_raw=raw or phone,
                status=status,
                customer_id=customer_id,
                changed_by=Origin.MIGRATION,
            )
            session.add(card)
            session.flush()
            if in_import:
                session.add(LegacyCard(card_id=card.id, plan_hash=self.plan, source=0, line=self.line))
            session.commit()
            return card.id

    def customer(self, phone: str, *, locale: str, time_zone: str) -> int:
        with Session(self.engine) as session:
            customer = Customer(phone_e164=phone, locale=locale, time_zone=time_zone, changed_by=Origin.ONEC)
            session.add(customer)
            session.commit()
            return customer.id


def messages(engine: Engine) -> list[SmsMessage]:
    with Session(engine) as session:
        return list(session.scalars(select(SmsMessage).order_by(SmsMessage.phone_e164)))


@pytest.fixture
def an_import(db: Engine) -> Import:
    imported = Import(db)
    imported.card("1001", "+79161110001")
    imported.card("1002", "+79161110001")  # the same phone: one SMS
    imported.card("1003", "+79161110002")
    imported.card("1004", None, raw="12-34-5")  # invalid as recorded
    imported.card("1005", "+74951234567")  # a Moscow landline: no SMS
    imported.card("1006")  # no phone at all
    imported.card("1007", "+79161110003", status=CardStatus.BLOCKED)  # not an active card
    english = imported.customer("+79161110004", locale="en", time_zone="Asia/Novosibirsk")
    imported.card("1008", "+79161110004", customer_id=english)
    imported.card("9999", "+79161119999", in_import=False)  # another import's card
    return imported


def test_one_sms_per_phone_and_invalid_phones_counted(
    db: Engine, settings: Settings, an_import: Import
) -> None:
    result = notify_import(db, settings, PLAN[:12], clock=FakeClock(DAY))
    assert (result.cards, result.phones, result.queued, result.already_queued) == (7, 3, 3, 0)
    assert (result.invalid_phones, result.no_phone) == (2, 1)
    assert result.invalid_reasons == {"invalid_phone": 1, "landline_phone": 1}
    sent = messages(db)
    assert [m.phone_e164 for m in sent] == ["+79161110001", "+79161110002", "+79161110004"]
    assert {m.kind for m in sent} == {"transactional"} and {m.template for m in sent} == {
        "program_announcement"
    }
    assert [m.locale for m in sent] == ["ru", "ru", "en"]
    assert sent[0].body is not None and "Добрострой" in sent[0].body and "1001" not in sent[0].body
    assert sent[2].body is not None and sent[2].body.startswith("Dobrostroy")
    assert [m.message_key for m in sent] == [message_key("program-launch", m.phone_e164) for m in sent]
    assert all(m.not_before == DAY for m in sent)  # 13:00 in Moscow, 17:00 in Novosibirsk: at once


def test_a_rerun_queues_nothing_new_and_a_later_card_gets_only_its_phone(
    db: Engine, settings: Settings, an_import: Import
) -> None:
    notify_import(db, settings, PLAN, clock=FakeClock(DAY))
    again = notify_import(db, settings, PLAN, clock=FakeClock(DAY + timedelta(hours=1)))
    assert (again.queued, again.already_queued) == (0, 3)
    assert len(messages(db)) == 3
    # another import with a phone already told and a new one: only the new phone
    other = Import(db, "d" * 64)
    other.card("2001", "+79161110001")
    other.card("2002", "+79161110005")
    third = notify_import(db, settings, "d" * 64, clock=FakeClock(DAY))
    assert (third.queued, third.already_queued) == (1, 1)
    assert len(messages(db)) == 4
    # a campaign of its own is a new announcement
    assert notify_import(db, settings, PLAN, campaign="second-wave", clock=FakeClock(DAY)).queued == 3


def test_quiet_hours_hold_the_sms_until_morning_in_the_customers_zone(
    db: Engine, settings: Settings, an_import: Import
) -> None:
    late = datetime(2026, 1, 15, 19, 0, tzinfo=UTC)  # 22:00 in Moscow, 02:00 in Novosibirsk
    notify_import(db, settings, PLAN, clock=FakeClock(late))
    when = {m.phone_e164: m.not_before for m in messages(db)}
    assert when["+79161110001"] == datetime(2026, 1, 16, 6, 0, tzinfo=UTC)  # 09:00 Moscow
    assert when["+79161110004"] == datetime(2026, 1, 16, 2, 0, tzinfo=UTC)  # 09:00 Novosibirsk


def test_rate_spacing_and_resuming_after_the_last_queued(db: Engine, settings: Settings) -> None:
    imported = Import(db)
    for n in range(5):
        imported.card(f"30{n}", f"+7916222000{n}")
    result = notify_import(db, settings, PLAN, per_minute=2, clock=FakeClock(DAY))
    assert result.queued == 5
    minutes = [int((m.not_before - DAY).total_seconds() // 60) for m in messages(db) if m.not_before]
    assert minutes == [0, 0, 1, 1, 2]
    assert (result.first_at, result.last_at) == (DAY, DAY + timedelta(minutes=2))
    # two more cards later the same day: the spacing continues after the last one queued
    imported.card("310", "+79162220010")
    imported.card("311", "+79162220011")
    more = notify_import(db, settings, PLAN, per_minute=2, clock=FakeClock(DAY + timedelta(seconds=30)))
    assert (more.queued, more.already_queued) == (2, 5)
    assert more.first_at == more.last_at == DAY + timedelta(minutes=3)


def test_spacing_never_lands_in_quiet_hours(db: Engine, settings: Settings) -> None:
    imported = Import(db)
    for n in range(3):
        imported.card(f"40{n}", f"+7916333000{n}")
    start = datetime(2026, 1, 15, 17, 59, tzinfo=UTC)  # 20:59 in Moscow
    notify_import(db, settings, PLAN, per_minute=1, clock=FakeClock(start))
    morning = datetime(2026, 1, 16, 6, 0, tzinfo=UTC)
    assert [m.not_before for m in messages(db)] == [start, morning, morning + timedelta(minutes=1)]


def test_only_an_applied_import_is_announced(db: Engine, settings: Settings) -> None:
    Import(db, "e" * 64, finished=False)
    with pytest.raises(NotifyRefused, match="not fully applied"):
        notify_import(db, settings, "e" * 64)
    with pytest.raises(NotifyRefused, match="no import"):
        notify_import(db, settings, "f" * 64)
    with pytest.raises(NotifyRefused, match="8 characters"):
        notify_import(db, settings, "eee")


@pytest.fixture
def runner(db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_the_command(runner: CliRunner, db: Engine, an_import: Import) -> None:
    dry = runner.invoke(app, ["notify", PLAN[:16], "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would queue 3" in dry.output and messages(db) == []
    done = runner.invoke(app, ["notify", PLAN[:16], "--per-minute", "100"])
    assert done.exit_code == 0, done.output
    assert "queued 3, 0 queued before; 2 invalid phones (invalid_phone 1, landline_phone 1)" in done.output
    assert "1 cards without a phone" in done.output
    assert "queued 0, 3 queued before" in runner.invoke(app, ["notify", PLAN]).output
    refused = runner.invoke(app, ["notify", "f" * 64])
    assert refused.exit_code == 2 and "no import" in refused.output
