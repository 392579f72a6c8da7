"""``ODataClient`` and ``AsyncODataClient`` against the emulator over real HTTP."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from connectors.onec.errors import OneCAuthError, OneCConflict, OneCNotFound, OneCQueryError
from connectors.onec.filters import F, Guid
from connectors.onec.odata import ENTITY_SETS, AsyncODataClient, ODataClient, entity_set
from tests.onec_live import CARD_1, PARTNER_PETROVA, PROGRAM, Base

from .conftest import PLAN, SITE_NODE, SITE_PASSWORD, SITE_USER, client_for

PARTNERS = "Catalog_Партнеры"
REGISTER = "AccumulationRegister_БонусныеБаллы"
DOCUMENT = "Document_НачислениеИСписаниеБонусныхБаллов"
CARD_4 = "40000000-0000-4000-8000-000000000004"
HOSTILE = [
    "O'Brien",
    "' or 1 eq 1",
    "x' or 'a' eq 'a",
    "100%",
    "a&b=c",
    "#hash",
    "a+b",
    "Ёлкин (Палкин)",
    "a  b",
]


def test_utf8_basic_auth_with_cyrillic_login(client: ODataClient) -> None:
    assert PARTNERS in client.service_document()


def test_wrong_password_is_an_auth_error(retail: Base) -> None:
    with client_for(retail, password="wrong") as c, pytest.raises(OneCAuthError) as info:
        c.list(PARTNERS)
    assert info.value.status == 401 and not info.value.retryable
    assert "wrong" not in str(info.value)


def test_read_only_user_gets_403_with_1c_message(retail: Base) -> None:
    with client_for(retail, "Наблюдатель", "просмотр") as c, pytest.raises(OneCAuthError) as info:
        c.create(PARTNERS, {"Description": "x"})
    assert info.value.onec_code == "20" and info.value.onec_message == "Нарушение прав доступа!"


def test_list_get_select_and_count(any_base: Base) -> None:
    sets = ENTITY_SETS[any_base.config]
    with client_for(any_base) as c:
        cards = c.list(sets.cards, select=["Ref_Key", "Description"], orderby="Description")
        assert cards and set(cards[0]) == {"Ref_Key", "Description"}
        page = c.list_page(sets.cards, top=1, count=True)
        assert len(page.values) == 1 and page.count == len(cards)  # odata.count arrives as a string
        one = c.get(PARTNERS, PARTNER_PETROVA)
        assert one["Description"] == "Петрова Мария" and one["DataVersion"]


def test_missing_object_is_not_found(client: ODataClient) -> None:
    with pytest.raises(OneCNotFound) as info:
        client.get(PARTNERS, "10000000-0000-4000-8000-0000000000ff")
    assert info.value.onec_code == "9" and info.value.onec_message == "Экземпляр сущности не найден"


def test_unknown_field_is_a_query_error_with_1c_code(client: ODataClient) -> None:
    with pytest.raises(OneCQueryError) as info:
        client.list(PARTNERS, select=["НетТакогоПоля"])
    assert info.value.onec_code == "6" and "НетТакогоПоля" in (info.value.onec_message or "")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_find_exactly_their_object(client: ODataClient, hostile: str) -> None:
    created = client.create(PARTNERS, {"Description": hostile})
    client.create(PARTNERS, {"Description": hostile + " другой"})
    found = client.list(PARTNERS, F.eq("Description", hostile), select=["Ref_Key"])
    assert found == [{"Ref_Key": created["Ref_Key"]}]
    contains = client.list(PARTNERS, F.substringof(hostile, "Description"), select=["Ref_Key"])
    assert len(contains) == 2


def test_any_of_chains_or(client: ODataClient) -> None:
    refs = [Guid(PARTNER_PETROVA), Guid("10000000-0000-4000-8000-000000000001")]
    assert len(client.list(PARTNERS, F.any_of("Ref_Key", refs))) == 2


def test_create_decimal_and_int64_and_patch(client: ODataClient) -> None:
    program = client.create(
        "Catalog_БонусныеПрограммыЛояльности",
        {"Description": "Тест", "КурсКонвертацииБонусовВВалюту": Decimal("0.1250")},
    )
    assert program["КурсКонвертацииБонусовВВалюту"] == Decimal("0.125")  # JSON floats parsed as Decimal
    assert program["DataVersion"] == "AAAAAAAAAAA="
    patched = client.patch(
        "Catalog_БонусныеПрограммыЛояльности", program["Ref_Key"], {"Description": "Тест 2"}
    )
    assert patched["Description"] == "Тест 2" and patched["DataVersion"] != program["DataVersion"]


def test_paging_through_more_than_a_page(client: ODataClient) -> None:
    before = len(client.list(PARTNERS))
    for i in range(23):
        client.create(PARTNERS, {"Description": f"Покупатель {i:02d}"})
    everything = list(client.iter_all(PARTNERS, page_size=5, select=["Ref_Key"]))
    keys = [p["Ref_Key"] for p in everything]
    assert len(keys) == before + 23 == len(set(keys))
    some = list(client.iter_all(PARTNERS, page_size=4, filter=F.substringof("Покупатель", "Description")))
    assert len(some) == 23


def test_stale_data_version_is_refused_before_writing(client: ODataClient) -> None:
    first = client.get(PARTNERS, PARTNER_PETROVA)
    client.patch(PARTNERS, PARTNER_PETROVA, {"Комментарий": "кассир"})  # someone else's edit
    with pytest.raises(OneCConflict):
        client.patch(
            PARTNERS, PARTNER_PETROVA, {"Комментарий": "сайт"}, expected_data_version=first["DataVersion"]
        )
    assert client.get(PARTNERS, PARTNER_PETROVA)["Комментарий"] == "кассир"  # nothing overwritten
    current = client.get(PARTNERS, PARTNER_PETROVA)["DataVersion"]
    done = client.patch(PARTNERS, PARTNER_PETROVA, {"Комментарий": "сайт"}, expected_data_version=current)
    assert done["Комментарий"] == "сайт"


def test_strict_server_accepts_the_if_match_the_client_sends(strict: Base) -> None:
    with client_for(strict) as c:
        version = c.get(PARTNERS, PARTNER_PETROVA)["DataVersion"]
        assert c.patch(PARTNERS, PARTNER_PETROVA, {"Комментарий": "ok"}, expected_data_version=version)


def test_post_unpost_document_and_balance(client: ODataClient) -> None:
    condition = F.eq("ДисконтнаяКарта_Key", Guid(CARD_4))
    assert client.balance(REGISTER, condition=condition) == []
    document = client.create(
        DOCUMENT,
        {
            "ВидОперации": "Начисление",
            "БонуснаяПрограммаЛояльности_Key": PROGRAM,
            "Начисление": [
                {"LineNumber": 1, "ДисконтнаяКарта_Key": CARD_4, "СуммаБонусныхБаллов": Decimal("10.50")}
            ],
        },
    )
    client.post_document(DOCUMENT, document["Ref_Key"])
    assert client.get(DOCUMENT, document["Ref_Key"])["Posted"] is True
    rows = client.balance(REGISTER, condition=condition)
    assert [r["НачисленоBalance"] for r in rows] == [Decimal("10.5")]
    client.unpost_document(DOCUMENT, document["Ref_Key"])
    assert client.balance(REGISTER, condition=condition) == []
    whole = client.balance(REGISTER, filter=F.eq("ДисконтнаяКарта_Key", Guid(CARD_1)))
    assert whole[0]["НачисленоBalance"] == Decimal(650)


def test_exchange_nodes_with_int64_counters(client: ODataClient) -> None:
    node = client.exchange_node(PLAN, "САЙТ")
    assert node is not None and node.ref == SITE_NODE and node.sent_no == 0 and not node.this_node


def test_entity_set_helper(any_base: Base) -> None:
    sets = ENTITY_SETS[any_base.config]
    with client_for(any_base) as c:
        cards = entity_set(c, sets.cards)
        first = cards.list(top=1)[0]
        assert cards.get(first["Ref_Key"])["Ref_Key"] == first["Ref_Key"]
        assert cards.find(F.eq("Ref_Key", Guid(first["Ref_Key"]))) is not None


def test_async_client(retail: Base) -> None:
    async def scenario() -> None:
        async with AsyncODataClient(
            f"{retail.origin}/{retail.base}", SITE_USER, SITE_PASSWORD, timeout=10
        ) as c:
            created = await c.create(PARTNERS, {"Description": "O'Brien async"})
            got = await c.get(PARTNERS, created["Ref_Key"])
            assert got["Description"] == "O'Brien async"
            found = await c.list(PARTNERS, F.eq("Description", "O'Brien async"))
            assert [p["Ref_Key"] for p in found] == [created["Ref_Key"]]
            everything = [p async for p in c.iter_all(PARTNERS, page_size=2)]
            assert created["Ref_Key"] in {p["Ref_Key"] for p in everything}
            with pytest.raises(OneCConflict):
                await c.patch(
                    PARTNERS, created["Ref_Key"], {"Комментарий": "x"}, expected_data_version="AAAAAQAAAAA="
                )
            assert (await c.balance(REGISTER, filter=F.eq("ДисконтнаяКарта_Key", Guid(CARD_1))))[0][
                "НачисленоBalance"
            ] == Decimal(650)

    asyncio.run(scenario())
