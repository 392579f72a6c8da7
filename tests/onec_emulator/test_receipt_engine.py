"""In process, no HTTP: the posting engine's ``row.`` conditions and their validation, the store's
keyed paths (field index, register totals, statements straight on SQLite), and ``post_receipt``
as a benchmark calls it (``emulator.loyalty``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.onec.emulator import registers
from connectors.onec.emulator.app import Emulator, create_app, store_for
from connectors.onec.emulator.exchange import ExchangeService
from connectors.onec.emulator.fixtures import load_fixtures, read_fixtures
from connectors.onec.emulator.loyalty import LoyaltyError, LoyaltyService
from connectors.onec.emulator.objects import ObjectWriter
from connectors.onec.emulator.schema import CONFIG_DIR, ConfigError, load_config
from connectors.onec.emulator.store import Store
from tests.onec_live import CARD_1, CARD_2, PARTNER_IVANOV, PROGRAM

REGISTER = "AccumulationRegister_БонусныеБаллы"
RECEIPTS = "Document_ЧекККМ"
MOVEMENTS = "Document_НачислениеИСписаниеБонусныхБаллов"


def emulator(config: str = "retail") -> Emulator:
    app = create_app(config, fixtures="demo")
    emu: Emulator = app.state.emulator
    return emu


def holder(emu: Emulator) -> tuple[str, str]:
    return ("ДисконтнаяКарта_Key", CARD_1) if emu.config.name == "retail" else ("Партнер_Key", PARTNER_IVANOV)


def balance_from_records(emu: Emulator, dimension: str, value: str) -> Decimal:
    """The slow, obviously right balance: every record of the register, summed in Python."""
    with emu.store.begin() as tx:
        rows = registers.balance(
            emu.config.registers[REGISTER],
            tx.records(REGISTER),
            condition=lambda r: r.get(dimension) == value,
        )
    return sum((Decimal(r["НачисленоBalance"]) for r in rows), Decimal(0))


# --- configuration: `when` on rows -----------------------------------------------------------------
def config_with(tmp_path: Path, change: Any) -> Path:
    raw = yaml.safe_load((CONFIG_DIR / "retail.yaml").read_text(encoding="utf-8"))
    change(raw["documents"][RECEIPTS]["posting"][0])
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(when={"row.НетТакого": "Начисление"}), "section БонусныеБаллы has no field"),
        (lambda r: r.update(when={"row.ВидОперации": "Подарок"}), "not a value of enum"),
        (lambda r: r.update(when={"ВидОперации": "Начисление"}), "the document has no field ВидОперации"),
        (lambda r: r["dimensions"].update(ДисконтнаяКарта="row.ДисконтнаяКарта_Key"), "has no field"),
        (lambda r: r["resources"].update(Остаток="row.СуммаБонусныхБаллов"), "no resource Остаток"),
        (lambda r: r.update(record_type="Приход"), "record_type"),
    ],
)
def test_posting_rules_are_checked_at_load(tmp_path: Path, change: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(config_with(tmp_path, change))


def test_when_splits_into_header_and_row_conditions() -> None:
    config = load_config("ut11")
    receipt = config.entity_sets[RECEIPTS].posting[1]
    assert (receipt.header_when, receipt.row_when) == ({}, {"ВидОперации": "Списание"})
    movement = config.entity_sets[MOVEMENTS].posting[1]
    assert (movement.header_when, movement.row_when) == ({"ВидОперации": "Списание"}, {})


def test_header_and_row_conditions_together(tmp_path: Path) -> None:
    def both(rule: dict[str, Any]) -> None:
        rule["when"] = {"КассаККМ": "Касса 1", "row.ВидОперации": "Начисление"}

    config = load_config(config_with(tmp_path, both))
    eset = config.entity_sets[RECEIPTS]
    rows = [
        {"LineNumber": 1, "ВидОперации": "Начисление", "СуммаБонусныхБаллов": "5.00"},
        {"LineNumber": 2, "ВидОперации": "Списание", "СуммаБонусныхБаллов": "2.00"},
    ]
    doc = {"Date": "2024-01-01T00:00:00", "ДисконтнаяКарта_Key": CARD_1, "БонусныеБаллы": rows}
    picked = registers.records_of(config, eset, {**doc, "КассаККМ": "Касса 1"})[REGISTER]
    assert [(r["RecordType"], r["Начислено"]) for r in picked] == [("Receipt", "5.00"), ("Expense", "2.00")]
    other_till = registers.records_of(config, eset, {**doc, "КассаККМ": "Касса 2"})[REGISTER]
    assert [r["RecordType"] for r in other_till] == ["Expense"]  # the header condition failed
    assert other_till[0]["КСписанию"] == "0"  # a resource the rule leaves out is zero


# --- post_receipt in process ---------------------------------------------------------------------------
@pytest.mark.parametrize("config", ["retail", "ut11"])
def test_post_receipt_in_process(config: str) -> None:
    emu = emulator(config)
    assert emu.loyalty is emu.loyalty  # one module per base, shared with the HTTP and web services
    start = Decimal(650) if config == "retail" else Decimal(750)
    receipt = emu.loyalty.post_receipt(CARD_1, "10", "0.5", amount=Decimal("99.99"), register="Касса 7")
    assert receipt.balance == start + Decimal("9.5")
    assert emu.loyalty.card_balance("2000000000011").accrued == receipt.balance
    dimension, value = holder(emu)
    assert balance_from_records(emu, dimension, value) == receipt.balance
    with emu.store.begin() as tx:
        doc = tx.get(RECEIPTS, receipt.ref)
        pending = emu.exchange.pending(tx, emu.exchange.plan.nodes[1].ref)  # type: ignore[union-attr]
    assert doc is not None and doc["Posted"] is True and doc["КассаККМ"] == "Касса 7"
    assert doc["СуммаДокумента"] == "99.99" and doc["DataVersion"] == "AAAAAAAAAAA="
    assert [(r.entity_set, r.key) for r in pending] == [(RECEIPTS, receipt.ref), (REGISTER, receipt.ref)]


def test_a_receipt_has_the_shape_of_an_odata_post() -> None:
    """``new_from_values`` (the till's fast path) builds what ``new`` builds from the same body."""
    emu = emulator()
    eset = emu.config.entity_sets[RECEIPTS]
    writer = ObjectWriter(emu.config)
    rows = [
        {"ВидОперации": "Списание", "БонуснаяПрограммаЛояльности_Key": PROGRAM, "СуммаБонусныхБаллов": "1.00"}
    ]
    values = {"ДисконтнаяКарта_Key": CARD_1, "СуммаДокумента": "5.00", "КассаККМ": "К", "БонусныеБаллы": rows}
    with emu.store.begin() as tx:
        fast = writer.new_from_values(tx, eset, values)
        body = {**values, "БонусныеБаллы": [{"LineNumber": 1, **rows[0]}]}
        slow = writer.new(tx, eset, body)
    for generated in ("Ref_Key", "Number", "Date"):
        assert fast.pop(generated) and slow.pop(generated)
    assert fast == slow


def test_receipt_refusals_in_process() -> None:
    emu = emulator()
    with pytest.raises(LoyaltyError) as refused:
        emu.loyalty.post_receipt(CARD_2, 0, "100.01")
    assert refused.value.code == "InsufficientBonuses"
    with pytest.raises(LoyaltyError) as read_only:
        emu.loyalty.post_receipt(CARD_2, 1, 0, read_only=True)
    assert read_only.value.code == "AccessDenied"
    emu.loyalty.block_card("2000000000028", "", origin_node=None, read_only=False)
    with pytest.raises(LoyaltyError) as blocked:
        emu.loyalty.post_receipt(CARD_2, 1, 0)
    assert blocked.value.code == "CardBlocked"
    with emu.store.begin() as tx:
        assert tx.all(RECEIPTS) == []


def test_ut11_card_without_partner_is_refused() -> None:
    emu = emulator("ut11")
    with emu.store.begin() as tx:
        card = tx.get("Catalog_КартыЛояльности", CARD_2)
        assert card is not None
        tx.replace("Catalog_КартыЛояльности", {**card, "Партнер_Key": "00000000-0000-0000-0000-000000000000"})
    with pytest.raises(LoyaltyError, match="не привязана к партнеру"):
        emu.loyalty.post_receipt(CARD_2, 1, 0)


# --- the store's keyed paths -------------------------------------------------------------------------
def test_register_totals_follow_every_kind_of_write() -> None:
    """Posting, re-posting, unposting, a deletion mark, a record set written or deleted directly and
    a physical deletion all keep the totals equal to the sum over the records."""
    emu = emulator()
    loyalty = emu.loyalty
    first = loyalty.post_receipt(CARD_1, "30", "20")
    loyalty.post_receipt("2000000000028", "5", "0")
    eset = emu.config.entity_sets[RECEIPTS]
    with emu.store.begin() as tx:
        doc = tx.get(RECEIPTS, first.ref)
        assert doc is not None
        registers.post(tx, emu.config, eset, doc)  # re-posting replaces
        registers.unpost(tx, eset, doc)
        registers.post(tx, emu.config, eset, doc)
        rows = [{**r, "Active": False} for r in tx.records(REGISTER, first.ref)]
        tx.replace_records(REGISTER, first.ref, f"StandardODATA.{RECEIPTS}", rows)  # inactive: no balance
    assert loyalty.card_balance("2000000000011").accrued == 650
    with emu.store.begin() as tx:
        registers.post(tx, emu.config, eset, doc)
        movement = tx.get(MOVEMENTS, "50000000-0000-4000-8000-000000000003")  # a demo write-off of 100
        assert movement is not None
        tx.delete(MOVEMENTS, movement["Ref_Key"])
        registers.clear_records(tx, emu.config.entity_sets[MOVEMENTS], movement["Ref_Key"])
    for card, expected in ((CARD_1, Decimal(760)), (CARD_2, Decimal(105))):
        with emu.store.begin() as tx:
            totals = tx.totals(REGISTER, "ДисконтнаяКарта_Key", card)
        assert totals["Начислено"] == expected == balance_from_records(emu, "ДисконтнаяКарта_Key", card)
    with emu.store.begin() as tx:
        program = tx.totals(REGISTER, "БонуснаяПрограммаЛояльности_Key", PROGRAM)["Начислено"]
    assert program == balance_from_records(emu, "БонуснаяПрограммаЛояльности_Key", PROGRAM)


@pytest.fixture(params=[True, False], ids=["sqlite-direct", "sqlalchemy"])
def any_store_config(request: pytest.FixtureRequest) -> Iterator[tuple[Store, LoyaltyService]]:
    """The same base on the store's two statement paths (SQLite direct, and SQLAlchemy as on other
    databases)."""
    config = load_config("ut11")
    store = Store(
        indexes={e.name: e.indexed for e in config.entity_sets.values() if e.indexed},
        totals={REGISTER: (tuple(config.registers[REGISTER].dimensions), ("Начислено", "КСписанию"))},
        fast=request.param,
    )
    assert store.runner.fast is request.param
    ExchangeService(store, config)
    load_fixtures(store, config, read_fixtures("demo", config))
    yield store, LoyaltyService(config, store)
    store.dispose()


def test_both_statement_paths_behave_alike(any_store_config: tuple[Store, LoyaltyService]) -> None:
    store, loyalty = any_store_config
    receipt = loyalty.post_receipt("2000000000028", "1.25", "50")  # Иванов's second card
    assert receipt.balance == Decimal("701.25")
    assert loyalty.card_balance("2000000000011").accrued == Decimal("701.25")
    assert loyalty.card_balance(";2000000000059?").accrued == 300  # by magnetic code
    with store.begin() as tx:
        assert len(tx.records(REGISTER, receipt.ref)) == 2
        assert tx.has_records(REGISTER, receipt.ref) and not tx.has_records(REGISTER, CARD_1)
        assert [d["Ref_Key"] for d in tx.find("Catalog_КартыЛояльности", "Штрихкод", "2000000000035")] == [
            "40000000-0000-4000-8000-000000000003"
        ]
        assert len(tx.find("Catalog_Партнеры", "Description", "Петрова Мария")) == 1  # not indexed: read all
        assert tx.next_counter("x") == 1 and tx.next_counter("x") == 2


def test_a_database_file_gets_its_indexes_and_totals_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'base.sqlite3'}"
    config = load_config("retail")
    first = store_for(config, url)
    load_fixtures(first, config, read_fixtures("demo", config))
    LoyaltyService(config, first).post_receipt(CARD_1, "1", "0")
    with first.engine.begin() as conn:  # as if written before the emulator kept them
        conn.exec_driver_sql("DELETE FROM emu_object_index")
        conn.exec_driver_sql("DELETE FROM emu_register_totals")
    first.dispose()
    reopened = store_for(config, url)
    assert LoyaltyService(config, reopened).card_balance("2000000000011").accrued == 651
    reopened.dispose()


def test_a_receipt_reads_nothing_by_scanning() -> None:
    """Every statement a till sale and a balance query run is a keyed search in SQLite's plan, so
    their cost does not grow with the receipts, cards and records the base already holds."""
    emu = emulator()
    for _ in range(20):
        emu.loyalty.post_receipt(CARD_1, "2", "1")
    statements: list[str] = []
    with emu.store.begin() as tx:
        driver: sqlite3.Connection = tx.conn.connection.dbapi_connection  # type: ignore[assignment]
    driver.set_trace_callback(statements.append)
    try:
        emu.loyalty.post_receipt("2000000000011", "3", "2")
        emu.loyalty.card_balance("2000000000011")
    finally:
        driver.set_trace_callback(None)
    reads = [s for s in statements if s.split()[0] in ("SELECT", "UPDATE", "DELETE")]
    assert len(reads) >= 5
    for statement in reads:
        plan = [row[3] for row in driver.execute("EXPLAIN QUERY PLAN " + statement)]
        assert all(not step.startswith("SCAN") for step in plan), (statement, plan)
