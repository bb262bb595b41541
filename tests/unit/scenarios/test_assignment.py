"""Deterministic holdout and weighted A/B assignment."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.scenarios.assignment import assign, bucket, choose_variant, in_holdout, pick_weighted

N = 20_000


@dataclass(frozen=True)
class V:
    id: str
    weight: float


def test_bucket_is_the_documented_sha256_prefix() -> None:
    # A known value pins the algorithm: changing it would silently reshuffle every running experiment.
    digest = hashlib.sha256(b"cart\x1fp1\x1fholdout").digest()
    assert bucket("cart", "p1", "holdout") == int.from_bytes(digest[:8], "big") / 2**64


@given(st.text(max_size=30), st.text(max_size=30))
def test_bucket_is_in_unit_interval_and_deterministic(scenario_id: str, profile_id: str) -> None:
    u = bucket(scenario_id, profile_id)
    assert 0 <= u < 1
    assert u == bucket(scenario_id, profile_id)


@given(
    st.text(min_size=1, max_size=20),
    st.text(min_size=1, max_size=20),
    st.floats(min_value=0, max_value=99.9),
    st.lists(st.floats(min_value=0.1, max_value=100), min_size=1, max_size=5),
)
def test_assignment_is_stable_across_calls(
    scenario_id: str, profile_id: str, holdout: float, weights: list[float]
) -> None:
    variants = [V(f"v{i}", w) for i, w in enumerate(weights)]
    first = assign(scenario_id, profile_id, holdout, variants)
    assert first == assign(scenario_id, profile_id, holdout, variants)
    assert first.holdout or first.variant in {v.id for v in variants}
    assert not first.holdout or first.variant is None


@settings(max_examples=12, deadline=None, derandomize=True)
@given(st.integers(min_value=1, max_value=50), st.text(min_size=1, max_size=8))
def test_holdout_share_matches_percent(percent: int, scenario_id: str) -> None:
    held = sum(in_holdout(scenario_id, f"p{n}", percent) for n in range(N))
    # 5 standard deviations of a binomial proportion; derandomized examples keep the test deterministic
    sd = (percent / 100 * (1 - percent / 100) / N) ** 0.5
    assert abs(held / N - percent / 100) < 5 * sd + 1e-9


@settings(max_examples=12, deadline=None, derandomize=True)
@given(st.lists(st.integers(min_value=1, max_value=10), min_size=2, max_size=4))
def test_variant_shares_follow_weights(weights: list[int]) -> None:
    variants = [V(f"v{i}", w) for i, w in enumerate(weights)]
    counts = Counter(choose_variant("exp", f"p{n}", variants) for n in range(N))
    total = sum(weights)
    for v in variants:
        p = v.weight / total
        sd = (p * (1 - p) / N) ** 0.5
        assert abs(counts[v.id] / N - p) < 5 * sd


def test_changing_holdout_does_not_move_treated_people_between_variants() -> None:
    variants = [V("a", 1), V("b", 1)]
    for n in range(2000):
        before, after = assign("exp", f"p{n}", 5, variants), assign("exp", f"p{n}", 20, variants)
        if not before.holdout and not after.holdout:
            assert before.variant == after.variant


def test_different_scenarios_assign_independently() -> None:
    variants = [V("a", 1), V("b", 1)]
    same = sum(choose_variant("s1", f"p{n}", variants) == choose_variant("s2", f"p{n}", variants) for n in range(N))
    assert 0.48 < same / N < 0.52


def test_zero_holdout_holds_nobody_and_zero_weight_variant_is_never_chosen() -> None:
    assert not any(in_holdout("s", f"p{n}", 0) for n in range(1000))
    variants = [V("never", 0), V("always", 1)]
    assert {choose_variant("s", f"p{n}", variants) for n in range(1000)} == {"always"}


@pytest.mark.parametrize(("u", "expected"), [(0.0, "a"), (0.2499, "a"), (0.25, "b"), (0.9999999, "b")])
def test_pick_weighted_slices_cumulatively(u: float, expected: str) -> None:
    assert pick_weighted(u, [V("a", 1), V("b", 3)]) == expected


def test_pick_weighted_needs_options() -> None:
    with pytest.raises(ValueError):
        pick_weighted(0.5, [])
