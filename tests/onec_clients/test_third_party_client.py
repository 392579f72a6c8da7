"""Issue 19 item 3: a public, maintained 1C OData client from PyPI — ``python-1c-odata`` (MIT,
aiohttp; a test-only dependency in the ``test`` extra) — against the emulator over real HTTP, as an
integrator's own tool would call it: catalogs with filters and presentations, a document created
and posted, the register's record rows and its Balance / Turnovers / BalanceAndTurnovers virtual
tables (the library sends ``Condition='…guid'…''`` without doubling the inner quotes)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from tests.onec_live import CARD_1, PROGRAM, SITE, Base

p1c = pytest.importorskip("python_1c_odata")

CONDITION = f"ДисконтнаяКарта_Key eq guid'{CARD_1}'"


def _run(base: Base, body: Any) -> Any:
    async def main() -> Any:
        async with p1c.Infobase(base.origin, base.base, *SITE, timeout=10) as ib:
            return await body(ib)

    return asyncio.run(main())


def test_catalogs_with_filters_and_presentations(retail: Base) -> None:
    async def body(ib: Any) -> Any:
        partners = p1c.Catalog(ib, "Партнеры")
        found = await partners.query(odata_filter=p1c.startswith("Description", "Петр"), inlinecount=True)
        cards = await p1c.Catalog(ib, "ИнформационныеКарты").query(
            select="Ref_Key,Description", presentations=True, top=1, orderby="Code"
        )
        one = await partners.get(found.value[0]["Ref_Key"])
        everyone = [p async for p in partners.iterate(page_size=2)]
        return found, cards, one, everyone

    found, cards, one, everyone = _run(retail, body)
    assert [p["Description"] for p in found.value] == ["Петрова Мария"] and found.count == 1
    assert cards.value[0]["ВладелецКарты____Presentation"] == "Иванов Иван Иванович"
    assert one["Description"] == "Петрова Мария"
    assert len(everyone) == 4


def test_a_document_created_and_posted_moves_the_register(retail: Base) -> None:
    async def body(ib: Any) -> Any:
        register = p1c.AccumulationRegister(ib, "БонусныеБаллы")
        before = await register.balance(condition=CONDITION)
        document = p1c.Document(ib, "НачислениеИСписаниеБонусныхБаллов")
        created = await document.create(
            {
                "Date": "2030-01-01T10:00:00",
                "ВидОперации": "Начисление",
                "БонуснаяПрограммаЛояльности_Key": PROGRAM,
                "Начисление": [{"LineNumber": 1, "ДисконтнаяКарта_Key": CARD_1, "СуммаБонусныхБаллов": 25}],
            },
            posting_mode=p1c.PostingMode.POST,
        )
        after = await register.balance(condition=CONDITION)
        turnovers = await register.turnovers(
            start_period="2030-01-01T00:00:00", end_period="2030-12-31T23:59:59", condition=CONDITION
        )
        both = await register.balance_and_turnovers(
            start_period="2030-01-01T00:00:00", end_period="2030-12-31T23:59:59", condition=CONDITION
        )
        rows = await ib.get(
            "AccumulationRegister_БонусныеБаллы_RecordType",
            odata_filter=f"Recorder eq guid'{created['Ref_Key']}'",
        )
        return before, after, turnovers, both, rows

    before, after, turnovers, both, rows = _run(retail, body)
    was = Decimal(str(before["value"][0]["НачисленоBalance"]))
    assert Decimal(str(after["value"][0]["НачисленоBalance"])) == was + 25
    [turnover] = turnovers["value"]
    assert (
        Decimal(str(turnover["НачисленоReceipt"])) == 25 and Decimal(str(turnover["НачисленоExpense"])) == 0
    )
    [row] = both["value"]
    assert Decimal(str(row["НачисленоOpeningBalance"])) == was
    assert Decimal(str(row["НачисленоClosingBalance"])) == was + 25
    assert [(r["RecordType"], r["Начислено"]) for r in rows["value"]] == [("Receipt", 25)]


def test_its_atom_mode_reads_the_emulators_feeds(retail: Base) -> None:
    async def main() -> Any:
        async with p1c.Infobase(retail.origin, retail.base, *SITE, timeout=10, format="atom") as ib:
            return await p1c.Catalog(ib, "Партнеры").query(odata_filter="Code eq '000000001'")

    page = asyncio.run(main())
    assert [p["Description"] for p in page.value] == ["Иванов Иван Иванович"]


def test_its_errors_come_typed(retail: Base) -> None:
    async def body(ib: Any) -> Any:
        return await p1c.Catalog(ib, "Партнеры").get("10000000-0000-4000-8000-00000000ffff")

    with pytest.raises(p1c.EntityNotFound):
        _run(retail, body)
