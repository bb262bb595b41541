"""Report rates, A/B significance with a sample-size gate, holdout uplift and the winner rule."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.engagement.reports import (
    Arm,
    Counters,
    ReportKey,
    arms_from_counters,
    build_report,
    compare_arms,
    holdout_uplift,
    min_sample_per_arm,
    pick_winner,
    rates,
    two_proportion_z_test,
)

EMAIL = Counters(
    sent=1000,
    delivered=980,
    bounced=20,
    human_opens=392,
    machine_opens=196,
    clicks=98,
    unsubscribes=4,
    complaints=1,
    conversions=49,
    revenue=4900.0,
)


# ------------------------------------------------------------------------------------------------ rates


def test_email_rates_follow_the_esp_definitions() -> None:
    r = rates(EMAIL, "email")
    assert r.delivery_rate == pytest.approx(0.98)
    assert r.human_open_rate == pytest.approx(0.4)  # 392 / 980: machine opens never count
    assert r.machine_open_share == pytest.approx(196 / 588)
    assert r.click_rate == pytest.approx(0.1)
    assert r.click_to_open == pytest.approx(0.25)
    assert r.unsubscribe_rate == pytest.approx(4 / 980)
    assert r.complaint_rate == pytest.approx(1 / 980)
    assert r.bounce_rate == pytest.approx(0.02)
    assert r.conversion_rate == pytest.approx(0.05)
    assert r.revenue_per_recipient == pytest.approx(5.0)


def test_sms_has_no_open_rates_rather_than_zero() -> None:
    r = rates(Counters(sent=500, delivered=490, clicks=49, conversions=10, revenue=300.0), "sms")
    assert r.human_open_rate is None and r.click_to_open is None and r.machine_open_share is None
    assert r.click_rate == pytest.approx(0.1)
    assert r.conversion_rate == pytest.approx(10 / 490)


def test_empty_row_has_no_rates() -> None:
    r = rates(Counters(), "email")
    assert all(value is None for value in vars(r).values())


def test_report_rolls_steps_up_per_variant() -> None:
    # GIVEN two steps of variant a and one of b  WHEN rolled up by variant  THEN the counters of a are summed
    counters = {
        ReportKey("cart", "r1", "a", "email"): Counters(sent=100, delivered=100, conversions=5),
        ReportKey("cart", "r2", "a", "email"): Counters(sent=50, delivered=50, conversions=1),
        ReportKey("cart", "r1", "b", "email"): Counters(sent=100, delivered=100, conversions=9),
    }
    rows = build_report(counters, by=("scenario_id", "variant", "channel"))
    assert [(row.key.variant, row.key.step, row.counters.sent) for row in rows] == [("a", "*", 150), ("b", "*", 100)]
    assert rows[0].rates.conversion_rate == pytest.approx(6 / 150)
    assert len(build_report(counters)) == 3
    with pytest.raises(ValueError):
        build_report(counters, by=("colour",))


# ------------------------------------------------------------------------------------------------ z-test


def test_z_test_matches_the_hand_computed_example() -> None:
    # 250/1000 vs 200/1000: pooled p = 0.225, se = sqrt(0.225 * 0.775 * (2 / 1000)) = 0.0186748,
    # z = 0.05 / 0.0186748 = 2.6774, two-sided p = 2 * (1 - Phi(2.6774)) = 0.00742.
    result = two_proportion_z_test(Arm(250, 1000), Arm(200, 1000))
    assert result.z == pytest.approx(2.6774, abs=1e-4)
    assert result.p_value == pytest.approx(0.00742, abs=1e-5)
    assert result.diff == pytest.approx(0.05)


def test_z_test_at_the_textbook_critical_value() -> None:
    # GIVEN arms whose z is exactly 1.96 by construction  THEN p is the familiar 0.05
    n, pooled = 10_000, 0.5
    delta = 1.959964 * math.sqrt(pooled * (1 - pooled) * 2 / n)
    a, b = Arm(round(n * (pooled + delta / 2)), n), Arm(round(n * (pooled - delta / 2)), n)
    assert two_proportion_z_test(a, b).p_value == pytest.approx(0.05, abs=0.002)


def test_degenerate_arms_give_no_evidence() -> None:
    assert two_proportion_z_test(Arm(0, 0), Arm(5, 10)).p_value == 1.0
    assert two_proportion_z_test(Arm(0, 100), Arm(0, 100)).p_value == 1.0
    assert two_proportion_z_test(Arm(100, 100), Arm(50, 50)).p_value == 1.0


def test_arm_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        Arm(5, 4)


arms = st.integers(min_value=0, max_value=5000).flatmap(
    lambda n: st.builds(Arm, st.integers(min_value=0, max_value=n), st.just(n))
)


@given(arms, arms)
def test_p_value_is_a_probability_and_symmetric(a: Arm, b: Arm) -> None:
    ab, ba = two_proportion_z_test(a, b), two_proportion_z_test(b, a)
    assert 0.0 <= ab.p_value <= 1.0
    assert ab.p_value == pytest.approx(ba.p_value)
    assert ab.z == pytest.approx(-ba.z)


# ------------------------------------------------------------------------------------------------ sample size


def test_min_sample_matches_the_hand_computed_example() -> None:
    # p1 = 0.10, p2 = 0.12, p_bar = 0.11:
    # (1.959964 * sqrt(2 * 0.11 * 0.89) + 0.841621 * sqrt(0.09 + 0.1056))^2 / 0.02^2
    # = (0.867271 + 0.372222)^2 / 0.0004 = 3840.9 -> 3841 per arm.
    assert min_sample_per_arm(0.10, 0.02) == 3841


def test_smaller_effects_and_more_power_need_more_recipients() -> None:
    assert min_sample_per_arm(0.05, 0.01) > min_sample_per_arm(0.05, 0.02)
    assert min_sample_per_arm(0.05, 0.01, power=0.9) > min_sample_per_arm(0.05, 0.01)
    assert min_sample_per_arm(0.05, 0.01, alpha=0.01) > min_sample_per_arm(0.05, 0.01)


@pytest.mark.parametrize(("baseline", "mde"), [(0.99, 0.02), (0.1, 0.0), (-0.1, 0.05)])
def test_impossible_plans_are_refused(baseline: float, mde: float) -> None:
    with pytest.raises(ValueError):
        min_sample_per_arm(baseline, mde)


def test_significant_only_once_both_arms_reach_the_planned_sample() -> None:
    # GIVEN a large observed difference  WHEN an arm is below the planned size  THEN not significant yet
    small = compare_arms(Arm(40, 200), Arm(20, 200), mde=0.02, baseline=0.10)
    assert small.test.p_value < 0.05
    assert not small.enough_data and not small.significant and small.min_sample == 3841
    large = compare_arms(Arm(480, 4000), Arm(400, 4000), mde=0.02, baseline=0.10)
    assert large.enough_data and large.significant


# ------------------------------------------------------------------------------------------------ winner


def test_winner_must_beat_every_other_arm() -> None:
    clear = {"a": Arm(400, 4000), "b": Arm(520, 4000), "c": Arm(410, 4000)}
    assert pick_winner(clear, mde=0.02, baseline=0.10) == "b"
    close_second = {"a": Arm(400, 4000), "b": Arm(520, 4000), "c": Arm(500, 4000)}
    assert pick_winner(close_second, mde=0.02, baseline=0.10) is None


def test_no_winner_without_enough_data_or_with_a_tie() -> None:
    assert pick_winner({"a": Arm(10, 100), "b": Arm(30, 100)}, mde=0.02, baseline=0.10) is None
    assert pick_winner({"a": Arm(500, 4000), "b": Arm(500, 4000)}, mde=0.02) is None
    assert pick_winner({"a": Arm(500, 4000)}, mde=0.02) is None
    assert pick_winner({"a": Arm(500, 4000), "b": Arm(0, 0)}, mde=0.02) is None


def test_arms_from_counters_sums_steps_of_a_variant() -> None:
    arms_ = arms_from_counters([("a", Counters(delivered=10, conversions=1)), ("a", Counters(delivered=5))])
    assert arms_ == {"a": Arm(1, 15)}


# ------------------------------------------------------------------------------------------------ holdout uplift


def test_holdout_uplift_matches_the_hand_computed_wald_interval() -> None:
    # treated 600/5000 = 12 %, holdout 50/500 = 10 %: se = sqrt(.12*.88/5000 + .1*.9/500) = 0.0141817,
    # half width = 1.959964 * 0.0141817 = 0.0277956 -> 0.02 +- 0.0278 = [-0.0078, 0.0478]: not proven.
    uplift = holdout_uplift(Arm(600, 5000), Arm(50, 500))
    assert uplift is not None
    assert uplift.diff == pytest.approx(0.02)
    assert uplift.low == pytest.approx(-0.0077956, abs=1e-6)
    assert uplift.high == pytest.approx(0.0477956, abs=1e-6)
    assert uplift.relative == pytest.approx(0.2)


def test_holdout_uplift_needs_both_groups() -> None:
    assert holdout_uplift(Arm(5, 10), Arm(0, 0)) is None
    assert holdout_uplift(Arm(5, 10), Arm(0, 10)).relative is None  # type: ignore[union-attr]


@given(arms, arms, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_uplift_interval_contains_the_estimate(treated: Arm, holdout: Arm, confidence: float) -> None:
    uplift = holdout_uplift(treated, holdout, confidence=confidence)
    if uplift is not None:
        assert uplift.low <= uplift.diff <= uplift.high
        assert -1.0 <= uplift.diff <= 1.0
