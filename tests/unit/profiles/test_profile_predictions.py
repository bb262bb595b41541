"""The fold keeps a buyer's CLV predictions fresh from the fitted models; the budget guard spends by them."""

from __future__ import annotations

import pytest

from chalicelib.delivery.guards import Budget, customer_budget_with_basis
from chalicelib.predictions.clv import BgNbdParams, CustomerHistory, GammaGammaParams, predict
from chalicelib.predictions.models import FittedModels
from chalicelib.profiles import codec
from chalicelib.profiles.fold import fold
from tests.unit.profiles.support import NOW, PROFILE_ID, at, config, make_event, page

MODELS = FittedModels(
    bgnbd=BgNbdParams(r=0.5, alpha=20.0, a=1.5, b=6.0),
    gamma_gamma=GammaGammaParams(p=6.25, q=3.74, v=15.44),
    fitted_at="2026-11-23T03:00:00Z",
    customers=5000,
)


def order(days_ago: float, revenue: float, order_id: str) -> object:
    return make_event(event="Order Completed", when=at(days_ago), properties={"revenue": revenue, "order_id": order_id})


def test_a_buyers_fold_computes_predictions_from_the_models_in_days() -> None:
    events = [order(100, 40.0, "o1"), order(60, 60.0, "o2"), order(10, 50.0, "o3")]
    profile = fold(None, PROFILE_ID, events, config(), NOW, clv_models=MODELS).profile

    assert profile.predictions is not None
    expected = predict(MODELS.bgnbd, MODELS.gamma_gamma, CustomerHistory(x=2, t_x=90.0, T=100.0, mean_order_value=50.0))
    assert profile.predictions.clv_12m == pytest.approx(expected.clv_12m, abs=0.01)
    assert profile.predictions.p_alive == pytest.approx(expected.p_alive, abs=1e-4)
    assert profile.predictions.purchases_90d < profile.predictions.purchases_365d
    assert profile.predictions.model_fitted_at == "2026-11-23T03:00:00Z"
    assert profile.predictions.computed_at.startswith("2026-11-24T12:00")


def test_a_visitor_who_never_bought_gets_no_prediction() -> None:
    profile = fold(None, PROFILE_ID, [page(at(1))], config(), NOW, clv_models=MODELS).profile
    assert profile.predictions is None


def test_without_fitted_models_the_previous_predictions_are_kept() -> None:
    first = fold(None, PROFILE_ID, [order(30, 20.0, "o1")], config(), NOW, clv_models=MODELS).profile
    kept = first.predictions
    again = fold(first, PROFILE_ID, [page(at(0))], config(), NOW).profile
    assert again.predictions == kept


def test_predictions_survive_the_stored_body_round_trip() -> None:
    profile = fold(None, PROFILE_ID, [order(30, 20.0, "o1"), order(5, 30.0, "o2")], config(), NOW, clv_models=MODELS)
    stored = codec.read_item(codec.to_item(profile.profile))
    assert codec.decoded(stored).predictions == profile.profile.predictions
    assert (
        codec.body_dict(codec.to_item(profile.profile))["predictions"]["clv_12m"] == profile.profile.predictions.clv_12m
    )


def test_the_budget_follows_predicted_clv_and_names_the_historical_fallback() -> None:
    budget = Budget(min_budget=50.0, ltv_share=0.1)
    assert customer_budget_with_basis({"predictions": {"clv_12m": 4000}, "computed": {"revenue": 100}}, budget) == (
        400.0,
        "predicted_clv",
    )
    assert customer_budget_with_basis({"computed": {"revenue": 1000}}, budget) == (100.0, "historical_value")
    assert customer_budget_with_basis({}, budget) == (50.0, "historical_value")
