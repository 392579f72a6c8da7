"""Catalog edits (audited), voucher uploads, visibility and gating, in the member's language."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from bonusbridge import audit
from bonusbridge.rewards import catalog, errors
from bonusbridge.rewards.models import Reward
from tests.conftest import FakeClock
from tests.rewards.factories import Reward as RewardFactory


def test_every_edit_is_audited(db: Engine, clock: FakeClock, reward: RewardFactory) -> None:
    reward_id = reward(points_price="150.00")
    with db.begin() as conn:
        row = conn.execute(select(catalog.rewards).where(catalog.rewards.c.id == reward_id)).one()
        form = {"code": row.code, "kind": "physical", "category": "gifts", "name_en": "Thermos XL",
                "points_price": "175.50", "supplier_id": str(row.supplier_id)}  # fmt: skip
        version = catalog.update_reward(
            conn, reward_id, catalog.parse_draft(form), expected_version=1, actor="staff:mk",
            reason="new model", now=clock(),
        )  # fmt: skip
        assert version == 2
        with pytest.raises(errors.StaleReward):
            catalog.update_reward(
                conn, reward_id, catalog.parse_draft(form), expected_version=1, actor="staff:mk", reason=None,
                now=clock(),
            )  # fmt: skip
        found = audit.entries(conn, action_prefix="rewards.")
    actions = [entry.action for entry in found]
    assert actions[:2] == ["rewards.reward.update", "rewards.reward.create"]
    change = found[0].details["changed"]["points_price"]
    assert change == {"before": "150.00", "after": "175.50"} and found[0].reason == "new model"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("points_price", "1.001", "at most 2 decimals"),
        ("points_price", "abc", "must be a number"),
        ("kind", "ticket", "physical, e_voucher or coupon"),
        ("countries", "France", "two-letter codes"),
        ("active_from", "2026-01-01T00:00", "give the offset"),
    ],
)
def test_bad_forms_name_their_field(field: str, value: str, words: str) -> None:
    form = {"code": "X1", "kind": "coupon", "category": "c", "name_en": "X", "points_price": "1",
            "coupon_value": "5", field: value}  # fmt: skip
    with pytest.raises(errors.InvalidReward) as caught:
        catalog.parse_draft(form)
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert words in caught.value.user_message("en")
    assert caught.value.user_message("ru") != caught.value.user_message("en")


def test_voucher_file_with_duplicates_is_refused_whole(
    db: Engine, clock: FakeClock, reward: RewardFactory
) -> None:
    reward_id = reward(kind="e_voucher", supplier_id="")
    with db.begin() as conn:
        with pytest.raises(errors.DuplicateVoucherCodes) as caught:
            catalog.upload_voucher_codes(
                conn, reward_id, "A1\nA2\n\nA1\n", batch="b1", actor="staff:mk", now=clock()
            )
        assert "4" in caught.value.user_message("en") and "строках 4" in caught.value.user_message("ru")
    with db.begin() as conn:
        assert (
            catalog.upload_voucher_codes(conn, reward_id, "A1\nA2\n", batch="b1", actor="s", now=clock()) == 2
        )
    with db.begin() as conn, pytest.raises(errors.DuplicateVoucherCodes):
        catalog.upload_voucher_codes(conn, reward_id, "A3\nA2\n", batch="b2", actor="s", now=clock())
    with db.connect() as conn:
        assert conn.execute(select(Reward.stock).where(Reward.id == reward_id)).scalar_one() == 2


def test_visibility_activity_and_gating(db: Engine, clock: FakeClock, reward: RewardFactory) -> None:
    now = clock()
    soon = reward(code="SOON", visible_from=(now - timedelta(days=1)).isoformat(),
                  active_from=(now + timedelta(days=2)).isoformat())  # fmt: skip
    reward(code="HIDDEN", visible_from=(now + timedelta(days=1)).isoformat())
    reward(code="GOLD", min_tier="gold")
    reward(code="RICH", min_balance="5000")
    reward(code="VETERAN", min_lifetime_points="10000")
    reward(code="FR", countries="FR")
    reward(code="OPEN")
    facts = catalog.MemberFacts(tier="silver", tier_order=("silver", "gold"), available=Decimal("100"),
                                lifetime=Decimal("20000"), country="RU", language="en")  # fmt: skip
    with db.connect() as conn:
        items = {item.code: item for item in catalog.catalog(conn, facts, now)}
    assert set(items) == {"SOON", "GOLD", "RICH", "VETERAN", "OPEN"}
    assert (
        items["SOON"].reason == "not_active" and items[soon.__class__.__name__ and "SOON"].orderable is False
    )
    assert items["GOLD"].reason == "below_tier" and "gold" in (items["GOLD"].message or "")
    assert items["RICH"].reason == "below_balance"
    assert items["VETERAN"].orderable and items["OPEN"].orderable
    gold = replace_tier(facts, "gold")
    with db.connect() as conn:
        assert {i.code for i in catalog.catalog(conn, gold, now) if i.orderable} >= {"GOLD", "OPEN"}


def replace_tier(facts: catalog.MemberFacts, tier: str) -> catalog.MemberFacts:
    from dataclasses import replace

    return replace(facts, tier=tier)
