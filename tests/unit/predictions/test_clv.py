"""CLV closed forms against the published CDNOW figures and scipy's hypergeometric function."""

from __future__ import annotations

import math

import pytest
import scipy.special

from chalicelib.predictions.clv import (
    BgNbdParams,
    CustomerHistory,
    GammaGammaParams,
    expected_purchases,
    expected_spend,
    hyp2f1,
    predict,
    probability_alive,
)

# Fader, Hardie & Lee (2005), table/figures for the CDNOW sample (weeks).
CDNOW = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
CDNOW_SPEND = GammaGammaParams(p=6.25, q=3.74, v=15.44)


def test_expected_purchases_match_the_papers_worked_example() -> None:
    # The paper's example: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks.
    customer = CustomerHistory(x=2, t_x=30.43, T=38.86)
    assert expected_purchases(CDNOW, customer, 39) == pytest.approx(1.226, abs=0.001)


@pytest.mark.parametrize(
    ("a", "b", "c", "z"), [(1.2, 3.4, 5.6, 0.3), (0.24, 2.4, 3.2, 0.99), (50.2, 52.4, 53.2, 0.9), (3.0, 4.0, 5.0, 0.0)]
)
def test_hypergeometric_series_agrees_with_scipy(a: float, b: float, c: float, z: float) -> None:
    assert hyp2f1(a, b, c, z) == pytest.approx(float(scipy.special.hyp2f1(a, b, c, z)), rel=1e-6)


def test_hypergeometric_series_refuses_what_it_cannot_sum() -> None:
    with pytest.raises(ValueError, match="z < 1"):
        hyp2f1(1, 1, 2, 1.0)


def test_a_customer_who_never_came_back_is_certainly_alive_and_a_lapsed_repeater_is_not() -> None:
    assert probability_alive(CDNOW, CustomerHistory(x=0, t_x=0, T=38.86)) == 1.0
    lapsed = probability_alive(CDNOW, CustomerHistory(x=5, t_x=2.0, T=38.86))
    recent = probability_alive(CDNOW, CustomerHistory(x=5, t_x=38.0, T=38.86))
    assert 0 < lapsed < 0.01 < 0.85 < recent < 1


def test_expectations_grow_with_the_horizon_and_with_frequency() -> None:
    customer = CustomerHistory(x=3, t_x=30, T=38.86)
    assert 0 < expected_purchases(CDNOW, customer, 13) < expected_purchases(CDNOW, customer, 52)
    busier = CustomerHistory(x=8, t_x=30, T=38.86)
    assert expected_purchases(CDNOW, busier, 52) > expected_purchases(CDNOW, customer, 52)
    assert expected_purchases(CDNOW, customer, 0) == 0.0


def test_many_repeat_orders_over_a_long_horizon_stay_finite_and_agree_with_mpmath() -> None:
    # 400 orders in 309 weeks, the last one a week ago; 5 years ahead (terms of the series reach ~1e300).
    # mpmath's arbitrary-precision 2F1 in the same formula gives 255.34104695.
    heavy = CustomerHistory(x=400, t_x=309, T=310)
    value = expected_purchases(CDNOW, heavy, 5 * 52)
    assert math.isfinite(value) and value == pytest.approx(255.34104695, rel=1e-6)


def test_expected_spend_shrinks_a_customers_mean_towards_the_population() -> None:
    population_mean = CDNOW_SPEND.p * CDNOW_SPEND.v / (CDNOW_SPEND.q - 1)
    assert expected_spend(CDNOW_SPEND, CustomerHistory(0, 0, 30)) == pytest.approx(population_mean)
    one_big_order = expected_spend(CDNOW_SPEND, CustomerHistory(1, 10, 30, mean_order_value=200.0))
    many_big_orders = expected_spend(CDNOW_SPEND, CustomerHistory(20, 29, 30, mean_order_value=200.0))
    assert population_mean < one_big_order < many_big_orders < 200.0


def test_prediction_is_expected_purchases_times_expected_order_value() -> None:
    customer = CustomerHistory(x=2, t_x=30.43, T=38.86, mean_order_value=22.35)
    prediction = predict(CDNOW, CDNOW_SPEND, customer, margin=0.5)
    assert prediction.clv_12m == pytest.approx(prediction.purchases_365d * prediction.expected_order_value * 0.5)
    assert prediction.purchases_90d < prediction.purchases_365d
