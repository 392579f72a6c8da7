"""``compare_hub_with_onec`` against the live 1C emulator (real HTTP) and the hub database.

The hub is set up to mirror the emulator's demo fixtures: Иванов (cards 2000000000011 with 650
points and 2000000000028 with 100) and Петрова (2000000000035 with 1200), linked by reference.
In Retail the points are per card; in УТ 11 the register holds 750 for Иванов, the sum of his two
cards, and 1200 for Петрова. Each test then makes one side disagree and looks at what is reported.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from bonusbridge.db import create_session_factory
from bonusbridge.models import Card, CardStatus, Customer, Gender, Origin
from bonusbridge.unit_of_work import UnitOfWork
from connectors.onec.odata import ENTITY_SETS, ODataClient
from mapping.profile import Profile, load_profile
from reconciliation.compare import (
    CHUNK_SIZE,
    Comparison,
    DifferenceKind,
    Missing,
    Unlinked,
    compare_hub_with_onec,
)
from tests.onec_live import CARD_1, CARD_2, PARTNER_IVANOV, PARTNER_PETROVA, PROGRAM, Base

CARD_3 = "40000000-0000-4000-8000-000000000003"
CARD_4 = "40000000-0000-4000-8000-000000000004"
CARD_5 = "40000000-0000-4000-8000-000000000005"
PARTNER_SIDOROV = "10000000-0000-4000-8000-000000000003"
PARTNER_KUZNETSOVA = "10000000-0000-4000-8000-000000000004"
NOT_IN_ONEC = "40000000-0000-4000-8000-0000000000ff"
DOCUMENT = "Document_НачислениеИСписаниеБонусныхБаллов"

IVANOV = {
    "last_name": "Иванов",
    "first_name": "Иван",
    "middle_name": "Иванович",
    "birth_date": date(1985, 7, 20),
    "gender": Gender.MALE,
    "phone_e164": "+79161234567",
    "email": "ivanov@example.ru",
}
# In 1C her phone is written "8-916-234-56-78": the same number.
PETROVA = {
    "last_name": "Петрова",
    "first_name": "Мария",
    "gender": Gender.FEMALE,
    "phone_e164": "+79162345678",
}


class Recorder(httpx.HTTPTransport):
    """A real HTTP transport that remembers every URL it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return super().handle_request(request)


@dataclass
class OneC:
    base: Base
    client: ODataClient
    profile: Profile
    transport: Recorder

    @property
    def per_partner(self) -> bool:
        return self.base.config == "ut11"


def _connect(base: Base) -> Iterator[OneC]:
    transport = Recorder()
    with ODataClient(
        f"{base.origin}/{base.base}", "Сайт", "сайт-пароль", timeout=10.0, transport=transport
    ) as client:
        yield OneC(base, client, load_profile(base.config), transport)


@pytest.fixture
def onec(any_base: Base) -> Iterator[OneC]:
    yield from _connect(any_base)


@pytest.fixture
def retail_onec(retail: Base) -> Iterator[OneC]:
    yield from _connect(retail)


@pytest.fixture
def ut11_onec(ut11: Base) -> Iterator[OneC]:
    yield from _connect(ut11)


@dataclass
class Hub:
    """The hub ids of the demo objects linked to 1C."""

    ivanov: int
    petrova: int
    card_1: int
    card_2: int
    card_3: int


def _customer(uow: UnitOfWork, onec_ref: str | None, fields: dict[str, Any]) -> int:
    return uow.customers.add(Customer(onec_ref=onec_ref, **fields)).id


def _card(
    uow: UnitOfWork, number: str, onec_ref: str | None, customer_id: int | None, points: str | None
) -> int:
    program = uow.programs.get_or_create("dobrostroy", "Добрострой")
    card = uow.cards.add(
        Card(program_id=program.id, number=number, onec_ref=onec_ref, customer_id=customer_id)
    )
    if points is not None:
        uow.ledger.accrue(card.id, Decimal(points), key=f"seed-{number}", origin=Origin.ONEC)
    return card.id


@pytest.fixture
def hub(db: Engine) -> Hub:
    with UnitOfWork(db) as uow:
        ivanov = _customer(uow, PARTNER_IVANOV, IVANOV)
        petrova = _customer(uow, PARTNER_PETROVA, PETROVA)
        linked = Hub(
            ivanov=ivanov,
            petrova=petrova,
            card_1=_card(uow, "2000000000011", CARD_1, ivanov, "650"),
            card_2=_card(uow, "2000000000028", CARD_2, ivanov, "100"),
            card_3=_card(uow, "2000000000035", CARD_3, petrova, "1200"),
        )
        uow.commit()
    return linked


def accrue(db: Engine, card_id: int, points: str) -> None:
    with UnitOfWork(db) as uow:
        uow.ledger.accrue(card_id, Decimal(points), key=f"test-{uuid.uuid4()}", origin=Origin.WEBSITE)
        uow.commit()


def redeem(db: Engine, card_id: int, points: str) -> None:
    with UnitOfWork(db) as uow:
        uow.ledger.redeem(card_id, Decimal(points), key=f"test-{uuid.uuid4()}", origin=Origin.WEBSITE)
        uow.commit()


def update(db: Engine, model: type[Card] | type[Customer], hub_id: int, **values: Any) -> None:
    with UnitOfWork(db) as uow:
        row = uow.session.get(model, hub_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        uow.commit()


def compare(db: Engine, onec: OneC, **kwargs: Any) -> Comparison:
    return compare_hub_with_onec(db, onec.client, onec.profile, **kwargs)


# --- agreement -------------------------------------------------------------------------------------


def test_the_fields_compared_are_the_profiles_synced_fields(db: Engine, hub: Hub, onec: OneC) -> None:
    assert onec.profile.synced_fields("customer") == (
        "last_name",
        "first_name",
        "middle_name",
        "birth_date",
        "gender",
        "phone_e164",
        "email",
    )
    assert onec.profile.synced_fields("card") == ("number", "status")
    compare(db, onec, card_ids=[hub.card_1], customer_ids=[hub.ivanov])
    partners = ENTITY_SETS[onec.base.config].partners
    [read] = [url for url in onec.transport.urls if url.path.endswith(partners)]
    selected = set(read.params["$select"].split(","))
    assert selected == {
        "Ref_Key",
        "НаименованиеПолное",
        "Description",
        "ДатаРождения",
        "Пол",
        "КонтактнаяИнформация",
    }


def test_equal_is_ok(db: Engine, hub: Hub, onec: OneC) -> None:
    result = compare(db, onec)
    assert result.ok, result.summary()
    assert result.differences == [] and result.missing_in_onec == [] and result.errors == []
    assert (result.checked_cards, result.checked_customers) == (3, 2)
    assert result.summary().startswith(f"hub vs 1C ({onec.base.config}): 3 card(s) and 2 customer(s)")
    assert "all agree" in result.summary()


def test_a_hub_with_nothing_linked_asks_1c_nothing(db: Engine, onec: OneC) -> None:
    with UnitOfWork(db) as uow:
        _card(uow, "2000000000011", None, _customer(uow, None, IVANOV), "650")
        uow.commit()
    result = compare(db, onec)
    assert result.ok and (result.checked_cards, result.checked_customers) == (0, 0)
    assert onec.transport.urls == []


def test_a_session_factory_works_as_well_as_an_engine(db: Engine, hub: Hub, onec: OneC) -> None:
    result = compare_hub_with_onec(create_session_factory(db), onec.client, onec.profile)
    assert result.ok, result.summary()


def test_a_phone_written_another_way_is_the_same_phone(db: Engine, hub: Hub, onec: OneC) -> None:
    """1C holds Петрова's phone as "8-916-234-56-78", the hub as +79162345678: both are E.164 the same."""
    onec.client.patch(
        ENTITY_SETS[onec.base.config].partners,
        PARTNER_IVANOV,
        {
            "КонтактнаяИнформация": [
                {"LineNumber": 1, "Тип": "Телефон", "Представление": "8 916 123 45 67", "НомерТелефона": ""},
                {"LineNumber": 2, "Тип": "АдресЭлектроннойПочты", "АдресЭП": "ivanov@EXAMPLE.ru"},
            ]
        },
    )
    result = compare(db, onec, customer_ids=[hub.ivanov, hub.petrova])
    assert result.ok, result.summary()
    assert result.checked_customers == 2


def test_in_ut11_only_the_sum_of_the_partners_cards_counts(db: Engine, hub: Hub, ut11_onec: OneC) -> None:
    """1C knows 750 for Иванов, not per card: 650 + 100 and 700 + 50 agree with it alike."""
    redeem(db, hub.card_1, "50")
    accrue(db, hub.card_2, "50")
    result = compare(db, ut11_onec)
    assert result.ok, result.summary()


# --- points ----------------------------------------------------------------------------------------


def test_a_balance_off_by_a_cent_is_one_difference_with_both_values(db: Engine, hub: Hub, onec: OneC) -> None:
    accrue(db, hub.card_2, "0.01")
    result = compare(db, onec)
    assert not result.ok
    assert result.customer_differences == [] and result.missing_in_onec == []
    [difference] = result.card_differences
    assert difference.field == "total"
    if onec.per_partner:
        assert difference.kind is DifferenceKind.PARTNER_BALANCE
        assert (difference.hub_id, difference.onec_ref) == (hub.ivanov, PARTNER_IVANOV)
        assert (difference.hub_value, difference.onec_value) == (Decimal("750.01"), Decimal("750"))
    else:
        assert difference.kind is DifferenceKind.CARD_BALANCE
        assert (difference.hub_id, difference.onec_ref) == (hub.card_2, CARD_2)
        assert (difference.hub_value, difference.onec_value) == (Decimal("100.01"), Decimal("100"))
    assert isinstance(difference.hub_value, Decimal) and isinstance(difference.onec_value, Decimal)
    assert "hub 750.01, 1C 750.00" in result.summary() or "hub 100.01, 1C 100.00" in result.summary()


def test_points_moved_in_1c_only_are_a_difference(db: Engine, hub: Hub, onec: OneC) -> None:
    owner = "Партнер_Key" if onec.per_partner else "ДисконтнаяКарта_Key"
    owner_ref = PARTNER_PETROVA if onec.per_partner else CARD_3
    document = onec.client.create(
        DOCUMENT,
        {
            "ВидОперации": "Списание",
            "БонуснаяПрограммаЛояльности_Key": PROGRAM,
            "Начисление": [{"LineNumber": 1, owner: owner_ref, "СуммаБонусныхБаллов": Decimal("199.99")}],
        },
    )
    onec.client.post_document(DOCUMENT, document["Ref_Key"])
    result = compare(db, onec, card_ids=[hub.card_3])
    [difference] = result.card_differences
    assert (difference.hub_value, difference.onec_value) == (Decimal("1200.00"), Decimal("1000.01"))
    assert difference.onec_ref == owner_ref


def test_a_card_without_points_in_1c_has_zero_there(db: Engine, hub: Hub, retail_onec: OneC) -> None:
    """Сидоров's card has no row in 1C's Balance (its only document is unposted): that is 0."""
    with UnitOfWork(db) as uow:
        sidorov = _customer(uow, PARTNER_SIDOROV, {"last_name": "Сидоров", "first_name": "П."})
        card_4 = _card(uow, "2000000000042", CARD_4, sidorov, None)
        uow.commit()
    assert compare(db, retail_onec, card_ids=[card_4]).ok
    accrue(db, card_4, "5")
    [difference] = compare(db, retail_onec, card_ids=[card_4]).card_differences
    assert (difference.hub_value, difference.onec_value) == (Decimal("5.00"), Decimal("0"))


# --- card fields -----------------------------------------------------------------------------------


def test_a_status_that_differs_is_a_difference(db: Engine, hub: Hub, onec: OneC) -> None:
    update(db, Card, hub.card_1, status=CardStatus.BLOCKED)
    onec.client.patch(ENTITY_SETS[onec.base.config].cards, CARD_3, {"Статус": "ТолькоНакопление"})
    result = compare(db, onec)
    found = {(d.kind, d.hub_id, d.field, d.hub_value, d.onec_value) for d in result.card_differences}
    assert found == {
        (DifferenceKind.CARD_FIELD, hub.card_1, "status", CardStatus.BLOCKED, CardStatus.ACTIVE),
        (DifferenceKind.CARD_FIELD, hub.card_3, "status", CardStatus.ACTIVE, CardStatus.ACCUMULATION_ONLY),
    }
    assert f"card {hub.card_1} (1C {CARD_1}) status: hub blocked, 1C active" in result.summary()


def test_a_status_alias_in_1c_maps_to_the_hub_status(db: Engine, hub: Hub, onec: OneC) -> None:
    onec.client.patch(ENTITY_SETS[onec.base.config].cards, CARD_1, {"Статус": "НеДействует"})
    update(db, Card, hub.card_1, status=CardStatus.BLOCKED)
    assert compare(db, onec, card_ids=[hub.card_1]).ok


def test_a_card_number_that_differs_is_a_difference(db: Engine, hub: Hub, onec: OneC) -> None:
    update(db, Card, hub.card_2, number="2000000000097")
    [difference] = compare(db, onec).card_differences
    assert (difference.kind, difference.hub_id, difference.field) == (
        DifferenceKind.CARD_FIELD,
        hub.card_2,
        "number",
    )
    assert (difference.hub_value, difference.onec_value) == ("2000000000097", "2000000000028")


# --- customer fields -------------------------------------------------------------------------------


def test_a_profile_field_that_differs_is_a_difference(db: Engine, hub: Hub, onec: OneC) -> None:
    update(db, Customer, hub.ivanov, birth_date=date(1985, 7, 21), phone_e164="+79160000001")
    result = compare(db, onec)
    assert result.card_differences == []
    found = {(d.hub_id, d.onec_ref, d.field, d.hub_value, d.onec_value) for d in result.customer_differences}
    assert found == {
        (hub.ivanov, PARTNER_IVANOV, "birth_date", date(1985, 7, 21), date(1985, 7, 20)),
        (hub.ivanov, PARTNER_IVANOV, "phone_e164", "+79160000001", "+79161234567"),
    }
    assert {d.kind for d in result.customer_differences} == {DifferenceKind.CUSTOMER_FIELD}


def test_a_name_missing_on_one_side_is_a_difference(db: Engine, hub: Hub, onec: OneC) -> None:
    update(db, Customer, hub.petrova, middle_name="Сергеевна", email="maria@example.ru")
    result = compare(db, onec, customer_ids=[hub.petrova])
    found = {(d.field, d.hub_value, d.onec_value) for d in result.customer_differences}
    # Each 1C name field the mapping reads is compared on its own (Петрова has only Description).
    assert found == {("middle_name (Description)", "Сергеевна", None), ("email", "maria@example.ru", None)}


def test_the_summary_and_repr_mask_personal_data(db: Engine, hub: Hub, onec: OneC) -> None:
    update(db, Customer, hub.ivanov, last_name="Смирнов", phone_e164="+79160000001", email="x.y@example.ru")
    result = compare(db, onec)
    text = result.summary() + "\n" + repr(result)
    for secret in ("Смирнов", "Иванов", "+79160000001", "9160000001", "1234567", "x.y@example.ru", "ivanov@"):
        assert secret not in text
    assert "last_name (Description): hub С***, 1C И***" in text
    assert "last_name (НаименованиеПолное): hub С***, 1C И***" in text
    assert "phone_e164: hub +7***01, 1C +7***67" in text


# --- missing and unlinked ----------------------------------------------------------------------------


def test_a_hub_object_linked_to_a_ref_1c_lacks_is_missing(db: Engine, hub: Hub, onec: OneC) -> None:
    with UnitOfWork(db) as uow:
        ghost = _customer(uow, "10000000-0000-4000-8000-0000000000ff", {"last_name": "Призрак"})
        card = _card(uow, "2000000009999", NOT_IN_ONEC.upper(), hub.petrova, "5")
        uow.commit()
    for result in (compare(db, onec), compare(db, onec, card_ids=[card], customer_ids=[ghost])):
        assert not result.ok
        assert set(result.missing_in_onec) == {
            Missing("card", card, NOT_IN_ONEC),
            Missing("customer", ghost, "10000000-0000-4000-8000-0000000000ff"),
        }
        assert f"linked to 1C {NOT_IN_ONEC}, which 1C does not have" in result.summary()
    if onec.per_partner:  # Петрова's linked cards now hold 1205 points, 1C 1200
        [difference] = compare(db, onec).card_differences
        assert (difference.hub_value, difference.onec_value) == (Decimal("1205.00"), Decimal("1200"))


def test_a_hub_reference_that_is_no_guid_is_not_comparable(db: Engine, hub: Hub, onec: OneC) -> None:
    with UnitOfWork(db) as uow:
        card = _card(uow, "2000000008888", "not-a-guid", None, None)
        uow.commit()
    result = compare(db, onec)
    assert not result.ok and result.errors == [f"card {card}: its onec_ref is not a 1C reference"]


def test_unlinked_1c_cards_and_their_partners_are_listed_on_request(db: Engine, hub: Hub, onec: OneC) -> None:
    expected = [
        Unlinked("card", CARD_4),
        Unlinked("card", CARD_5),
        Unlinked("partner", PARTNER_SIDOROV),
        Unlinked("partner", PARTNER_KUZNETSOVA),
    ]
    assert compare(db, onec).unlinked_in_onec == []
    whole = compare(db, onec, include_unlinked=True)
    subset = compare(db, onec, card_ids=[hub.card_1], include_unlinked=True)
    assert whole.unlinked_in_onec == subset.unlinked_in_onec == expected
    assert whole.ok and subset.ok  # not linked yet is no disagreement
    assert "4 1C object(s) not linked in the hub" in whole.summary()
    onec.client.mark_deleted(ENTITY_SETS[onec.base.config].cards, CARD_5)
    after = compare(db, onec, include_unlinked=True).unlinked_in_onec
    assert after == [Unlinked("card", CARD_4), Unlinked("partner", PARTNER_SIDOROV)]


def test_an_ut11_card_of_no_customer_cannot_be_compared_for_points(
    db: Engine, hub: Hub, ut11_onec: OneC
) -> None:
    with UnitOfWork(db) as uow:
        card = _card(uow, "2000000000042", CARD_4, None, None)
        uow.commit()
    result = compare(db, ut11_onec, card_ids=[card])
    assert result.checked_cards == 1 and result.differences == []
    assert result.errors == [
        f"card {card}: belongs to no customer, so its points have no partner to compare with"
    ]
    assert not result.ok


def test_an_ut11_customer_not_linked_to_a_partner_cannot_be_compared_for_points(
    db: Engine, hub: Hub, ut11_onec: OneC
) -> None:
    update(db, Customer, hub.petrova, onec_ref=None)
    result = compare(db, ut11_onec)
    assert result.checked_customers == 1
    assert result.errors == [
        f"customer {hub.petrova}: has cards linked to 1C but is not linked to a 1C partner, "
        "so their points cannot be compared"
    ]


# --- subsets, chunks and pages -------------------------------------------------------------------


def test_a_subset_compares_only_what_is_given(db: Engine, hub: Hub, onec: OneC) -> None:
    accrue(db, hub.card_3, "1")  # Петрова's card disagrees; only Иванов's objects are asked for
    update(db, Customer, hub.petrova, birth_date=date(2000, 1, 1))
    by_card = compare(db, onec, card_ids=[hub.card_1])
    assert by_card.ok and (by_card.checked_cards, by_card.checked_customers) == (1, 0)
    by_customer = compare(db, onec, customer_ids=[hub.ivanov])
    assert by_customer.ok and (by_customer.checked_cards, by_customer.checked_customers) == (2, 1)
    both = compare(db, onec, card_ids=[hub.card_3], customer_ids=[hub.petrova])
    assert {d.field for d in both.differences} == {"total", "birth_date"}
    assert compare(db, onec, card_ids=[], customer_ids=[]).checked_cards == 0


def test_a_subset_is_read_by_reference_in_short_or_chains(db: Engine, hub: Hub, onec: OneC) -> None:
    """45 references: several requests of at most CHUNK_SIZE, each query string under IIS's limit."""
    refs = [f"40000000-0000-4000-8000-{n:012x}" for n in range(0x100, 0x100 + 42)]
    with UnitOfWork(db) as uow:
        ids = [_card(uow, f"3000{n:09d}", ref, hub.ivanov, None) for n, ref in enumerate(refs)]
        uow.commit()
    result = compare(db, onec, card_ids=[hub.card_1, hub.card_2, hub.card_3, *ids])
    assert result.checked_cards == 3
    assert [m.onec_ref for m in result.missing_in_onec] == refs
    cards = ENTITY_SETS[onec.base.config].cards
    card_reads = [url for url in onec.transport.urls if url.path.endswith(cards)]
    assert len(card_reads) >= 3
    for url in onec.transport.urls:
        assert len(url.query) < 2048
        filter_text = httpx.QueryParams(url.query.decode()).get("$filter", "")
        assert filter_text.count(" or ") < CHUNK_SIZE
    assert all("$skip" not in url.params for url in card_reads)


def test_the_whole_comparison_pages_through_1c(db: Engine, hub: Hub, onec: OneC) -> None:
    accrue(db, hub.card_3, "0.5")
    paged = compare(db, onec, page_size=2)
    assert paged.card_differences == compare(db, onec).card_differences
    assert len(paged.card_differences) == 1
    skips = {url.params.get("$skip") for url in onec.transport.urls}
    assert {"2", "4"} <= skips  # 5 cards, 4 partners, 3 or 4 balance rows: two pages and more
    assert not any("$filter" in url.params for url in onec.transport.urls)
