"""The cart's suggestion is exact: against brute force on small carts, and within its stated bounds."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bonusbridge.rewards import errors
from bonusbridge.rewards.cart import BITSET_LIMIT, suggest


def brute(lines: list[tuple[int, int, int]], budget: int) -> int:
    best = 0
    for counts in itertools.product(*(range(most + 1) for _, _, most in lines)):
        value = sum(c * price for c, (_, price, _) in zip(counts, lines, strict=True))
        if value <= budget:
            best = max(best, value)
    return best


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 4)), min_size=0, max_size=5),
    st.integers(0, 20000),
)
def test_suggestion_matches_brute_force(raw: list[tuple[int, int]], budget: int) -> None:
    lines = [(i, price, most) for i, (price, most) in enumerate(raw)]
    chosen = suggest(lines, budget)
    total = sum(chosen[key] * price for key, price, _ in lines)
    free = sum(most * 0 for _, _, most in lines)
    assert all(0 <= chosen[key] <= most for key, _, most in lines)
    assert total <= max(budget, free)
    assert total == brute([line for line in lines if line[1] > 0], budget)


def test_not_greedy() -> None:
    # greedy by price takes 6000 and stops at 6000; the exact answer is 4000 + 4000 = 8000
    assert suggest([("a", 6000, 1), ("b", 4000, 2)], 8000) == {"a": 0, "b": 2}


def test_whole_points_prices_use_their_common_divisor() -> None:
    # 20 lines × 10 of prices in whole points against a balance of a million points: exact and fast
    lines = [(i, (1000 + 37 * i) * 100, 10) for i in range(20)]
    chosen = suggest(lines, 100_000_000 - 1)
    assert sum(chosen[k] * p for k, p, _ in lines) <= 100_000_000 - 1


def test_beyond_the_bounds_is_refused_not_approximated() -> None:
    lines = [(i, 10_000_019 + 2 * i, 10) for i in range(20)]  # coprime prices, a huge budget
    assert BITSET_LIMIT < 10**9
    with pytest.raises(errors.SuggestionTooLarge):
        suggest(lines, 10**9)
