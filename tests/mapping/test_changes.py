"""What the sync asks a profile about 1C's change feed: the kind, the partition key, the synced fields."""

from __future__ import annotations

import pytest

from connectors.onec.changefeed import message_to_change
from mapping.errors import InvalidReference, MissingField
from mapping.profile import HubKind, load_profile, parse_profile
from mapping.refs import EMPTY_REF
from tests.mapping.test_profile_loading import broken

PARTNER = "9a3c1f52-2b6e-11ef-8e3a-00155d012a01"
OTHER_PARTNER = "9a3c1f52-2b6e-11ef-8e3a-00155d012a99"
CARD = "1d2e3f40-2b6e-11ef-8e3a-00155d012a02"
OTHER_CARD = "1d2e3f40-2b6e-11ef-8e3a-00155d012a98"
DOCUMENT = "4c4c4c4c-2b6e-11ef-8e3a-00155d012a08"
PROGRAM = "0c0c0c0c-2b6e-11ef-8e3a-00155d012a04"

ENTITY_SETS = {
    "retail": {
        HubKind.CUSTOMER: "Catalog_Партнеры",
        HubKind.CARD: "Catalog_ИнформационныеКарты",
        HubKind.MOVEMENT: "Document_НачислениеИСписаниеБонусныхБаллов",
        HubKind.RECEIPT: "Document_ЧекККМ",
    },
    "ut11": {
        HubKind.CUSTOMER: "Catalog_Партнеры",
        HubKind.CARD: "Catalog_КартыЛояльности",
        HubKind.MOVEMENT: "Document_НачислениеИСписаниеБонусныхБаллов",
        HubKind.RECEIPT: "Document_ЧекККМ",
    },
}
#: Objects the hub does not sync, per profile (what else the emulator's exchange plan carries).
OTHERS = {
    "retail": ["Catalog_БонусныеПрограммыЛояльности", "Catalog_ВидыИнформационныхКарт"],
    "ut11": [
        "Catalog_БонусныеПрограммыЛояльности",
        "Catalog_ВидыКартЛояльности",
        "Catalog_ИнформационныеКарты",
    ],
}


@pytest.fixture(params=["retail", "ut11"])
def profile(request):
    return load_profile(request.param)


def change(entity_set, **fields):
    return {"odata.type": f"StandardODATA.{entity_set}", **fields}


# --- classify ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(HubKind))
def test_classify_every_kind(profile, kind):
    entity_set = ENTITY_SETS[profile.name][kind]
    assert profile.classify(change(entity_set, Ref_Key=DOCUMENT)) is kind
    assert profile.classify({"Ref_Key": DOCUMENT}, entity_set) is kind
    # A deletion as SelectChanges gives it, and a change message from RabbitMQ.
    assert profile.classify(change(entity_set, Ref_Key=DOCUMENT, **{"odata.deleted": True})) is kind
    message = {"entity_set": entity_set, "key": DOCUMENT, "kind": "changed", "object": {"Ref_Key": DOCUMENT}}
    assert profile.classify(message_to_change(message)) == kind.value


def test_classify_ignores_what_the_hub_does_not_sync(profile):
    for entity_set in OTHERS[profile.name]:
        assert profile.classify(change(entity_set, Ref_Key=DOCUMENT)) is None
    register = change(
        "AccumulationRegister_БонусныеБаллы",
        Recorder=DOCUMENT,
        Recorder_Type="StandardODATA.Document_ЧекККМ",
        RecordSet=[],
    )
    assert profile.classify(register) is None
    assert profile.classify(change("ExchangePlan_ОбменССайтом", Ref_Key=DOCUMENT)) is None
    assert profile.classify(change("Catalog_Партнеры_КонтактнаяИнформация")) is None
    assert profile.classify(change("Undefined")) is None


def test_classify_needs_the_type(profile):
    for bad in ({"Ref_Key": DOCUMENT}, {"odata.type": ""}, {"odata.type": None}):
        with pytest.raises(MissingField, match=r"odata\.type") as caught:
            profile.classify(bad)
        assert caught.value.field == "odata.type"


# --- partition_key -----------------------------------------------------------------------------


def test_partition_key_of_a_customer(profile):
    partner = change("Catalog_Партнеры", Ref_Key=PARTNER.upper(), Description="Демидова Анна")
    assert profile.partition_key("customer", partner) == PARTNER
    deleted = change("Catalog_Партнеры", Ref_Key=PARTNER, **{"odata.deleted": True})
    assert profile.partition_key(HubKind.CUSTOMER, deleted) == PARTNER


def test_partition_key_of_a_card_is_the_card(profile):
    card_set = ENTITY_SETS[profile.name][HubKind.CARD]
    owner = {"ВладелецКарты": PARTNER} if profile.name == "retail" else {"Партнер_Key": PARTNER}
    assert profile.partition_key("card", change(card_set, Ref_Key=CARD, **owner)) == CARD
    deleted = change(card_set, Ref_Key=CARD, **{"odata.deleted": True})
    assert profile.partition_key("card", deleted) == CARD


def bonus_document(owner_column, first, second):
    rows = [
        {"Ref_Key": DOCUMENT, "LineNumber": "2", owner_column: second, "СуммаБонусныхБаллов": 1},
        {"Ref_Key": DOCUMENT, "LineNumber": "1", owner_column: first, "СуммаБонусныхБаллов": 2},
    ]
    return change(
        "Document_НачислениеИСписаниеБонусныхБаллов",
        Ref_Key=DOCUMENT,
        ВидОперации="Начисление",
        БонуснаяПрограммаЛояльности_Key=PROGRAM,
        Начисление=rows,
    )


def test_partition_key_of_a_retail_bonus_document_is_its_first_rows_card():
    retail = load_profile("retail")
    document = bonus_document("ДисконтнаяКарта_Key", CARD, OTHER_CARD)
    assert retail.partition_key("movement", document) == CARD


def test_partition_key_of_a_ut11_bonus_document_is_its_first_rows_partner():
    ut11 = load_profile("ut11")
    document = bonus_document("Партнер_Key", PARTNER, OTHER_PARTNER)
    assert ut11.partition_key("movement", document) == PARTNER


def receipt(**owner):
    rows = [{"Ref_Key": DOCUMENT, "LineNumber": "1", "ВидОперации": "Начисление", "СуммаБонусныхБаллов": 1}]
    return change("Document_ЧекККМ", Ref_Key=DOCUMENT, Number="РЗ-00000017", БонусныеБаллы=rows, **owner)


def test_partition_key_of_a_receipt():
    retail, ut11 = load_profile("retail"), load_profile("ut11")
    assert retail.partition_key("receipt", receipt(ДисконтнаяКарта_Key=CARD)) == CARD
    assert ut11.partition_key("receipt", receipt(КартаЛояльности_Key=CARD, Партнер_Key=PARTNER)) == PARTNER


@pytest.mark.parametrize("kind", [HubKind.MOVEMENT, HubKind.RECEIPT])
def test_a_deleted_document_has_no_partition_key(profile, kind):
    """A deletion carries only its Ref_Key: the sync takes the key from what it stored."""
    deleted = change(ENTITY_SETS[profile.name][kind], Ref_Key=DOCUMENT, **{"odata.deleted": True})
    owner_column = "ДисконтнаяКарта_Key" if profile.name == "retail" else "Партнер_Key"
    with pytest.raises(MissingField, match=owner_column) as caught:
        profile.partition_key(kind, deleted)
    assert caught.value.field == owner_column


def test_missing_and_empty_references_are_missing_fields():
    retail, ut11 = load_profile("retail"), load_profile("ut11")
    cases = [
        (retail, "customer", change("Catalog_Партнеры", Description="x"), "Ref_Key"),
        (retail, "card", change("Catalog_ИнформационныеКарты", Ref_Key=EMPTY_REF), "Ref_Key"),
        (retail, "movement", bonus_document("ДисконтнаяКарта_Key", EMPTY_REF, CARD), "ДисконтнаяКарта_Key"),
        (ut11, "movement", bonus_document("Партнер_Key", "", PARTNER), "Партнер_Key"),
        (retail, "receipt", receipt(ДисконтнаяКарта_Key=EMPTY_REF), "ДисконтнаяКарта_Key"),
        (ut11, "receipt", receipt(КартаЛояльности_Key=CARD), "Партнер_Key"),
    ]
    for profile, kind, source, column in cases:
        with pytest.raises(MissingField, match=column) as caught:
            profile.partition_key(kind, source)
        assert caught.value.field == column, (profile.name, kind)
    empty_section = {**bonus_document("ДисконтнаяКарта_Key", CARD, CARD), "Начисление": []}
    with pytest.raises(MissingField, match="no Начисление rows"):
        retail.partition_key("movement", empty_section)


def test_a_reference_that_is_not_a_guid(profile):
    with pytest.raises(InvalidReference, match="Ref_Key"):
        profile.partition_key("customer", change("Catalog_Партнеры", Ref_Key="партнер-17"))


def test_an_unknown_kind(profile):
    with pytest.raises(ValueError, match="program"):
        profile.partition_key("program", change("Catalog_БонусныеПрограммыЛояльности", Ref_Key=PROGRAM))


# --- synced_fields -----------------------------------------------------------------------------


def test_synced_fields(profile):
    assert profile.synced_fields("customer") == (
        "last_name",
        "first_name",
        "middle_name",
        "birth_date",
        "gender",
        "phone_e164",
        "email",
    )
    assert profile.synced_fields(HubKind.CARD) == ("number", "status")
    for kind in ("movement", "receipt"):
        with pytest.raises(ValueError, match="customers and cards"):
            profile.synced_fields(kind)


def test_synced_fields_are_read_and_written_and_never_references(profile):
    customer_rules = [
        *profile.customer.rules,
        *(rule for kind in profile.contacts.kinds for rule in kind.fields.rules),
    ]
    for kind, rules in (("customer", customer_rules), ("card", list(profile.card.rules))):
        synced = profile.synced_fields(kind)
        read = {name for rule in rules if rule.reads for name in rule.hub}
        written = {name for rule in rules if rule.writes for name in rule.hub}
        assert set(synced) == {name for name in read & written if not name.endswith("onec_ref")}
        assert not {"onec_ref", "customer_onec_ref", "kind_onec_ref"} & set(synced)


def test_a_field_read_but_never_written_is_not_synced():
    text = broken(
        "{hub: status, onec: Статус, converter: enum, enum: card_status}",
        "{hub: status, onec: Статус, converter: enum, enum: card_status, direction: from_onec}",
    )
    assert parse_profile(text, source="custom.yaml").synced_fields("card") == ("number",)
