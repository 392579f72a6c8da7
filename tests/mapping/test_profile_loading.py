"""Profiles are validated when loaded: every mistake names the file and the key."""

from __future__ import annotations

from importlib import resources

import pytest

from mapping.errors import ProfileError
from mapping.profile import BonusesPer, available_profiles, load_profile, load_profile_file, parse_profile


def shipped(name: str) -> str:
    return (resources.files("mapping") / "profiles" / f"{name}.yaml").read_text(encoding="utf-8")


def broken(replace: str, by: str, *, name: str = "retail") -> str:
    text = shipped(name)
    assert replace in text, replace
    return text.replace(replace, by, 1)


def test_shipped_profiles_load():
    assert available_profiles() == ["retail", "ut11"]
    retail, ut11 = load_profile("retail"), load_profile("ut11")
    assert retail.bonuses_per is BonusesPer.CARD and retail.bonus_owner_field == "card_onec_ref"
    assert ut11.bonuses_per is BonusesPer.PARTNER and ut11.bonus_owner_field == "customer_onec_ref"
    assert retail.card.entity_set == "Catalog_ИнформационныеКарты"
    assert ut11.card.entity_set == "Catalog_КартыЛояльности"
    assert retail.balance.entity_set == ut11.balance.entity_set == "AccumulationRegister_БонусныеБаллы"
    assert retail.movement.entity_set == "Document_НачислениеИСписаниеБонусныхБаллов"
    assert retail.receipt.entity_set == ut11.receipt.entity_set == "Document_ЧекККМ"
    assert retail.receipt.rows_section == "БонусныеБаллы"
    assert retail.receipt.required == ("card_onec_ref",)
    assert ut11.receipt.required == ("card_onec_ref", "customer_onec_ref")
    assert ut11.contacts.entity_set == "Catalog_Партнеры_КонтактнаяИнформация"
    assert ut11.card.onec_fields == (
        "Ref_Key",
        "Штрихкод",
        "МагнитныйКод",
        "Статус",
        "Партнер_Key",
        "Owner_Key",
    )


def test_unknown_profile_name_lists_the_shipped_ones():
    with pytest.raises(ProfileError, match="retail, ut11"):
        load_profile("ut12")


def test_missing_file():
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile_file("/nonexistent/profile.yaml")


def test_a_profile_file_loads_from_disk(tmp_path):
    path = tmp_path / "custom.yaml"
    path.write_text(broken("profile: retail", "profile: custom"), encoding="utf-8")
    assert load_profile_file(path).name == "custom"


@pytest.mark.parametrize(
    ("replace", "by", "key", "problem"),
    [
        (
            "converter: date}",
            "converter: datum}",
            "customer.fields[2].converter",
            "unknown converter 'datum'",
        ),
        ("{hub: birth_date,", "{hub: birthday,", "customer.fields[2].hub", "unknown hub field 'birthday'"),
        (
            "{hub: gender, onec: Пол, converter: enum, enum: gender}",
            "{hub: gender, onec: Пол, converter: enum}",
            "customer.fields[3]",
            "needs 'enum:",
        ),
        ("enum: gender}", "enum: sex}", "customer.fields[3].enum", "unknown enum map 'sex'"),
        (
            "converter: ref, omit_empty: true}",
            "converter: ref, omit_empty: yes please}",
            "customer.fields[0].omit_empty",
            "true or false",
        ),
        ("bonuses_per: card", "bonuses_per: shop", "bonuses_per", "card, partner"),
        ("title:", "titel:", "(top level)", "unknown key 'titel'"),
        ("      НеДействует: blocked\n", "", "enums.card_status.values", "without a 1C value: blocked"),
        ("      Женский: female", "      Женский: woman", "enums.gender.values.Женский", "not a Gender"),
        ("    hub: Gender", "    hub: Sex", "enums.gender.hub", "unknown hub enum 'Sex'"),
        (
            "onec: Представление, converter: phone_display, direction: to_onec}",
            "onec: Представление, converter: phone_display}",
            "customer.contacts.kinds[0].fields[2]",
            "only works one way: set direction",
        ),
        (
            "onec: Представление, converter: phone_display, direction: to_onec}",
            "onec: Представление, converter: phone_display, direction: both}",
            "customer.contacts.kinds[0].fields[2].direction",
            "works to_onec only",
        ),
        (
            "[last_name, first_name, middle_name]",
            "[last_name, first_name]",
            "customer.fields[1].hub",
            "fills 3 hub field(s), 2 given",
        ),
        ("onec: ДатаРождения,", "onec: Дата Рождения,", "customer.fields[2].onec", "not a 1C field name"),
        (
            "entity_set: Catalog_ИнформационныеКарты",
            "entity_set: ИнформационныеКарты",
            "card.entity_set",
            "not a 1C entity set",
        ),
        (
            "{hub: number, onec: [Штрихкод, Description], converter: card_number, direction: to_onec}",
            "{hub: number, onec: [Штрихкод, Статус], converter: card_number, direction: to_onec}",
            "card.fields",
            "'Статус' is written by both",
        ),
        (
            "{hub: card_onec_ref, onec: ДисконтнаяКарта_Key, converter: ref}\n      - {hub: points",
            "{hub: customer_onec_ref, onec: ДисконтнаяКарта_Key, converter: ref}\n      - {hub: points",
            "movement.rows.fields",
            "must map card_onec_ref (bonuses_per: card)",
        ),
        (
            "    credit: Начисление",
            "    credit: Списание",
            "movement.operation.debit",
            "must differ",
        ),
        ("  virtual_table: Balance\n", "", "balance", "missing key 'virtual_table'"),
        (
            "{hub: points, onec: СуммаБонусныхБаллов, converter: decimal}",
            "{hub: points, onec: СуммаБонусныхБаллов, converter: text}",
            "movement.rows.fields",
            "points must use converter decimal",
        ),
        (
            "    ЮрФизЛицо: ЧастноеЛицо",
            "    НаименованиеПолное: x",
            "customer.create_defaults.НаименованиеПолное",
            "already write",
        ),
        (
            "converter: composite_ref, target: Catalog_Партнеры}",
            "converter: composite_ref}",
            "card.fields[4]",
            "needs 'target:",
        ),
        (
            "converter: composite_ref, target: Catalog_Партнеры}",
            "converter: composite_ref, target: Партнеры}",
            "card.fields[4].target",
            "not a 1C entity set",
        ),
        (
            "{hub: kind_onec_ref, onec: ВидКарты_Key, converter: ref}",
            "{hub: kind_onec_ref, onec: ВидКарты_Key, converter: ref, target: Catalog_X}",
            "card.fields[5].target",
            "only converter composite_ref",
        ),
        (
            "prefer_mobile: true",
            "prefer_mobile: true\n        bogus: 1",
            "customer.contacts.kinds[0]",
            "unknown key 'bogus'",
        ),
        # --- the receipt ---
        (
            "{hub: till, onec: КассаККМ, converter: code}",
            "{hub: till, onec: КассаККМ, converter: kode}",
            "receipt.fields[3].converter",
            "unknown converter 'kode'",
        ),
        (
            "{hub: till, onec: КассаККМ,",
            "{hub: register, onec: КассаККМ,",
            "receipt.fields[3].hub",
            "unknown hub field 'register'",
        ),
        (
            "{hub: document, onec: Number, converter: code}",
            "{hub: document, onec: Number, converter: code, direction: to_onec}",
            "receipt",
            "receipt.fields[2]: receipt rules are read from 1C",
        ),
        (
            "\n    - {hub: card_onec_ref, onec: ДисконтнаяКарта_Key, converter: ref}\n",
            "\n",
            "receipt.fields",
            "must map card_onec_ref (bonuses_per: card)",
        ),
        (
            "      - {hub: points, onec: СуммаБонусныхБаллов, converter: decimal}\n\nbalance:",
            "      - {hub: points, onec: СуммаБонусныхБаллов, converter: int64}\n\nbalance:",
            "receipt.rows.fields",
            "points must use converter decimal",
        ),
        (
            "      - {hub: points, onec: СуммаБонусныхБаллов, converter: decimal}\n\nbalance:",
            "\nbalance:",
            "receipt.rows.fields",
            "rows must map points",
        ),
        ("      credit: Начисление", "      credit: Списание", "receipt.rows.operation.debit", "must differ"),
        (
            "    operation:\n      field: ВидОперации\n",
            "    operation:\n",
            "receipt.rows.operation",
            "'field'",
        ),
        ("    section: БонусныеБаллы\n", "", "receipt.rows", "missing key 'section'"),
        (
            "entity_set: Document_ЧекККМ",
            "entity_set: Document_НачислениеИСписаниеБонусныхБаллов",
            "receipt.entity_set",
            "already the movement's",
        ),
    ],
)
def test_mistakes_name_the_file_and_the_key(replace, by, key, problem):
    text = broken(replace, by)
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, source="broken.yaml")
    message = str(caught.value)
    assert message.startswith(f"broken.yaml: {key}"), message
    assert problem in message, message
    assert caught.value.code == "invalid_profile"


def test_yaml_syntax_errors_name_the_line():
    with pytest.raises(ProfileError, match=r"broken.yaml: line \d+: not valid YAML"):
        parse_profile("profile: retail\ncustomer: [unclosed\n", source="broken.yaml")


def test_an_empty_file():
    with pytest.raises(ProfileError, match=r"empty\.yaml: \(top level\): expected a mapping"):
        parse_profile("", source="empty.yaml")


def test_ut11_must_keep_points_per_partner():
    text = broken(
        "{hub: customer_onec_ref, onec: Партнер_Key, converter: ref}\n      - {hub: points",
        "{hub: card_onec_ref, onec: ДисконтнаяКарта_Key, converter: ref}\n      - {hub: points",
        name="ut11",
    )
    with pytest.raises(ProfileError, match="must map customer_onec_ref \\(bonuses_per: partner\\)"):
        parse_profile(text, source="ut11.yaml")


def test_ut11_receipts_must_name_the_partner():
    text = broken(
        "    # The points' owner: the sync partitions this partner's changes by it.\n"
        "    - {hub: customer_onec_ref, onec: Партнер_Key, converter: ref}\n",
        "",
        name="ut11",
    )
    with pytest.raises(
        ProfileError, match=r"receipt\.fields: must map customer_onec_ref \(bonuses_per: partner\)"
    ):
        parse_profile(text, source="ut11.yaml")


def test_a_profile_without_a_receipt_section_is_refused():
    text = shipped("retail")
    start, end = text.index("receipt:\n"), text.index("\nbalance:\n")
    with pytest.raises(ProfileError, match=r"\(top level\): missing key 'receipt'"):
        parse_profile(text[:start] + text[end:], source="old.yaml")


@pytest.mark.parametrize("name", ["retail", "ut11"])
def test_enum_aliases_read_but_are_never_written(name):
    profile = load_profile(name)
    assert profile.card_from_onec({"Статус": "Заблокирована"}) == {"status": "blocked"}
    assert profile.card_to_onec({"status": "blocked"}) == {"Статус": "НеДействует"}


def test_an_alias_must_name_a_hub_value():
    text = broken("      Заблокирована: blocked", "      Заблокирована: lost")
    with pytest.raises(
        ProfileError, match=r"enums\.card_status\.aliases\.Заблокирована: 'lost' is not a CardStatus"
    ):
        parse_profile(text, source="broken.yaml")
