"""The mapping profiles and the 1C emulator must speak the same field names and enum values.

Both are written from shared/reference/onec.md; this test catches the day one of them drifts. The
receipt checks skip, saying so, for an emulator configuration without ``Document_ЧекККМ``; the last
test runs a receipt through the live emulator (tests/onec_live.py).
"""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest

from connectors.onec.emulator.schema import Config, load_config
from mapping.amounts import dumps_onec_json, loads_onec_json
from mapping.profile import LINE_NUMBER, EntityMap, HubKind, Profile, load_profile
from tests.onec_live import CARD_1, PARTNER_IVANOV, PROGRAM, Base, odata_query


def _written_fields(entity: EntityMap) -> set[str]:
    return {name for rule in entity.rules if rule.writes for name in rule.onec}


def _read_fields(entity: EntityMap) -> set[str]:
    return {name for rule in entity.rules if rule.reads for name in rule.onec}


def _skip_without_receipts(name: str, config: Config, profile: Profile) -> None:
    if profile.receipt.entity_set not in config.entity_sets:
        pytest.skip(f"{name}: the emulator has no {profile.receipt.entity_set} yet")


@pytest.mark.parametrize("name", ["retail", "ut11"])
def test_every_field_the_profile_writes_exists_in_the_emulator(name):
    config = load_config(name)
    profile = load_profile(name)
    for entity in (profile.customer, profile.card):
        published = set(config.entity_sets[entity.entity_set].fields)
        missing = _written_fields(entity) - published
        assert not missing, f"{name}: {entity.entity_set} lacks {sorted(missing)}"
    owner = config.section_owner(profile.contacts.entity_set)
    assert owner is not None, f"{name}: no tabular section {profile.contacts.entity_set}"
    partners, section = owner
    contacts = partners.row_fields(section)
    assert profile.contacts.type_field in contacts
    for kind in profile.contacts.kinds:
        missing = _written_fields(kind.fields) - set(contacts)
        assert not missing, f"{name}: contact rows lack {sorted(missing)}"


@pytest.mark.parametrize("name", ["retail", "ut11"])
def test_card_statuses_written_by_the_profile_are_known_to_the_emulator(name):
    config = load_config(name)
    profile = load_profile(name)
    card_set = config.entity_sets[profile.card.entity_set]
    status_field = card_set.fields["Статус"]
    assert status_field.enum is not None
    assert set(profile.enums["card_status"].to_onec.values()) <= set(config.enums[status_field.enum])


@pytest.mark.parametrize("name", ["retail", "ut11"])
def test_every_receipt_field_the_profile_reads_exists_in_the_emulator(name):
    config = load_config(name)
    profile = load_profile(name)
    _skip_without_receipts(name, config, profile)
    receipt = profile.receipt
    document = config.entity_sets[receipt.entity_set]
    assert document.kind == "document"
    missing = _read_fields(receipt.header) - set(document.fields)
    assert not missing, f"{name}: {receipt.entity_set} lacks {sorted(missing)}"
    assert receipt.rows_section in document.sections, f"{name}: no section {receipt.rows_section}"
    row_fields = document.row_fields(receipt.rows_section)
    missing = (_read_fields(receipt.rows) | {LINE_NUMBER, receipt.operation_field}) - set(row_fields)
    assert not missing, f"{name}: {receipt.rows_section} rows lack {sorted(missing)}"
    operation = row_fields[receipt.operation_field]
    assert operation.enum is not None
    assert {receipt.credit, receipt.debit} <= set(config.enums[operation.enum])


@pytest.mark.parametrize("name", ["retail", "ut11"])
def test_the_exchange_plan_carries_every_kind_the_profile_classifies(name):
    config = load_config(name)
    profile = load_profile(name)
    _skip_without_receipts(name, config, profile)
    assert config.exchange_plan is not None
    entity_sets = {
        HubKind.CUSTOMER: profile.customer.entity_set,
        HubKind.CARD: profile.card.entity_set,
        HubKind.MOVEMENT: profile.movement.entity_set,
        HubKind.RECEIPT: profile.receipt.entity_set,
    }
    for kind, entity_set in entity_sets.items():
        assert entity_set in config.exchange_plan.content, f"{name}: {entity_set} is not exchanged"
        assert profile.classify({"odata.type": f"StandardODATA.{entity_set}"}) is kind


def test_a_receipt_from_the_emulator_maps_to_what_its_posting_moved(any_base: Base):
    """End to end: a receipt created in the emulator, read over OData and mapped, gives movements
    whose signed sum is exactly what posting it added to the owner's balance."""
    name = any_base.config
    profile = load_profile(name, tz=ZoneInfo("Europe/Moscow"))
    _skip_without_receipts(name, load_config(name), profile)
    receipts = profile.receipt.entity_set
    if name == "retail":
        owner, holder = {"ДисконтнаяКарта_Key": CARD_1}, CARD_1
    else:
        owner, holder = {"КартаЛояльности_Key": CARD_1, "Партнер_Key": PARTNER_IVANOV}, PARTNER_IVANOV
    body = {
        "Date": "2024-04-01T12:00:00",
        **owner,
        "СуммаДокумента": Decimal("1234.50"),
        "КассаККМ": "Касса 2",
        "БонусныеБаллы": [
            _bonus_row(1, "Начисление", Decimal("61.73")),
            _bonus_row(2, "Списание", Decimal("50")),
            _bonus_row(3, "Начисление", Decimal("0")),
        ],
    }
    with any_base.client(headers={"Content-Type": "application/json"}) as client:
        response = client.post(f"{receipts}?$format=json", content=dumps_onec_json(body).encode())
        assert response.status_code == 201, response.text
        ref = loads_onec_json(response.text)["Ref_Key"]
        before = _balance(client, profile, holder)
        document = loads_onec_json(client.get(f"{receipts}(guid'{ref}')?$format=json").text)
        movements = profile.receipt_from_onec(document)
        assert client.post(f"{receipts}(guid'{ref}')/Post").status_code == 200
        after = _balance(client, profile, holder)
    assert [(m["line_number"], m["amount"]) for m in movements] == [
        (1, Decimal("61.73")),
        (2, Decimal("-50.00")),
    ]
    assert {m["card_onec_ref"] for m in movements} == {CARD_1}
    assert {(m["onec_ref"], m["document"], m["till"]) for m in movements} == {
        (ref, document["Number"].strip(), "Касса 2")
    }
    assert after - before == sum(m["amount"] for m in movements) == Decimal("11.73")
    assert profile.classify(document, receipts) is HubKind.RECEIPT
    assert profile.partition_key("receipt", document) == holder


def _bonus_row(line: int, operation: str, amount: Decimal) -> dict[str, object]:
    return {
        "LineNumber": str(line),
        "ВидОперации": operation,
        "БонуснаяПрограммаЛояльности_Key": PROGRAM,
        "СуммаБонусныхБаллов": amount,
    }


def _balance(client: httpx.Client, profile: Profile, holder: str) -> Decimal:
    """The owner's spendable points in the program, as the profile reads the register."""
    column = profile.balance.fields.onec_field(profile.bonus_owner_field)
    condition = "Condition='" + f"{column} eq guid''{holder}''" + "'"
    response = client.get(f"{profile.balance.entity_set}/Balance({condition})" + odata_query(format="json"))
    assert response.status_code == 200, response.text
    rows = [profile.balance_from_onec(row) for row in loads_onec_json(response.text)["value"]]
    return sum((row["total"] for row in rows if row["program_onec_ref"] == PROGRAM), Decimal(0))
