"""The mapping profiles and the 1C emulator must speak the same field names and enum values.

Both are written from shared/reference/onec.md; this test catches the day one of them drifts.
"""

from __future__ import annotations

import pytest

from connectors.onec.emulator.schema import load_config
from mapping.profile import EntityMap, load_profile


def _written_fields(entity: EntityMap) -> set[str]:
    return {name for rule in entity.rules if rule.writes for name in rule.onec}


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
