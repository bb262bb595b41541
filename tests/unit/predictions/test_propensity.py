"""Propensity features rebuilt as of a date, pure-Python scoring equal to scikit-learn's, held-out metrics, uplift."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from chalicelib.predictions.clv import BgNbdParams
from chalicelib.predictions.propensity import (
    FEATURES,
    LogisticModel,
    PropensityModels,
    UpliftModel,
    explain,
    features_as_of,
    score,
)
from chalicelib.predictions.propensity_fit import Example, fit_logistic, fit_uplift, reliability, targeted_uplift
from chalicelib.predictions.synthetic import TRUE_COEFS, population
from chalicelib.profiles.fold import fold
from tests.unit.profiles.support import NOW, PROFILE_ID, at, config, make_event, page

DAY = 86400.0


def order(days_ago: float, revenue: float, order_id: str):
    return make_event(event="Order Completed", when=at(days_ago), properties={"revenue": revenue, "order_id": order_id})


def test_features_rolled_back_30_days_forget_what_happened_since() -> None:
    # GIVEN a buyer with orders 100 and 60 days ago, one 10 days ago, and visits then and 5 days ago
    events = [order(100, 40.0, "o1"), order(60, 60.0, "o2"), order(10, 50.0, "o3"), page(at(5)), page(at(40))]
    p = fold(None, PROFILE_ID, events, config(), NOW).profile
    now = NOW.timestamp()

    # WHEN features are built now and as of 30 days ago
    today = features_as_of(p, now, now)
    month_ago = features_as_of(p, now - 30 * DAY, now)

    # THEN the later order and visit count now but not 30 days ago
    assert today["log_orders"] == pytest.approx(math.log1p(3))
    assert month_ago["log_orders"] == pytest.approx(math.log1p(2))
    assert today["days_since_order"] == pytest.approx(10, abs=0.01)
    assert month_ago["days_since_order"] == pytest.approx(30, abs=0.01)  # the order 60 days ago, seen 30 days ago
    assert month_ago["log_revenue"] == pytest.approx(math.log1p(150 * 2 / 3))  # in proportion: values not kept
    assert today["days_since_visit"] == pytest.approx(5, abs=0.01)
    assert month_ago["days_since_visit"] == pytest.approx(10, abs=0.01)
    assert set(today) == set(FEATURES)


def test_p_alive_feature_comes_from_the_clv_parameters() -> None:
    p = fold(None, PROFILE_ID, [order(200, 40.0, "o1"), order(190, 40.0, "o2")], config(), NOW).profile
    now = NOW.timestamp()
    x = features_as_of(p, now, now, BgNbdParams(r=0.5, alpha=20.0, a=1.5, b=6.0))
    assert 0.0 < x["p_alive"] < 1.0
    assert features_as_of(p, now, now)["p_alive"] == 0.0  # no CLV models: no P(alive)


def test_a_visitor_who_never_bought_has_capped_order_recency() -> None:
    p = fold(None, PROFILE_ID, [page(at(3))], config(), NOW).profile
    x = features_as_of(p, NOW.timestamp(), NOW.timestamp())
    assert x["has_ordered"] == 0.0 and x["days_since_order"] == 365.0 and x["log_orders"] == 0.0


def test_pure_python_score_equals_sklearn_predict_proba_on_the_same_coefficients() -> None:
    # GIVEN a scikit-learn pipeline (standardise, then logistic) fitted on random data
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 4)) * [1, 5, 0.1, 30] + [0, 10, 2, 100]
    y = (x[:, 0] + 0.2 * x[:, 1] - rng.normal(size=500) > 2).astype(int)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    scaler, clf = pipe[0], pipe[1]
    names = ("a", "b", "c", "d")
    model = LogisticModel(
        features=names,
        means=tuple(scaler.mean_),
        scales=tuple(scaler.scale_),
        coefs=tuple(clf.coef_[0]),
        intercept=float(clf.intercept_[0]),
    )
    # WHEN the stored coefficients are evaluated in pure Python, THEN they give sklearn's probabilities
    expected = pipe.predict_proba(x[:50])[:, 1]
    got = [score(model, dict(zip(names, row, strict=True))) for row in x[:50]]
    assert got == pytest.approx(list(expected), abs=1e-12)


def test_explain_ranks_features_by_their_share_of_the_log_odds() -> None:
    model = LogisticModel(("a", "b", "c"), (0.0, 0.0, 10.0), (1.0, 2.0, 5.0), (0.5, -2.0, 1.0), -1.0)
    top = explain(model, {"a": 1.0, "b": 3.0, "c": 10.0}, top=2)
    assert [t["feature"] for t in top] == ["b", "a"]
    assert top[0]["log_odds"] == pytest.approx(-3.0)
    assert sum(t for _, t in model.terms({"a": 1.0, "b": 3.0, "c": 10.0})) - 1.0 == pytest.approx(
        math.log(score(model, {"a": 1.0, "b": 3.0, "c": 10.0}) / (1 - score(model, {"a": 1.0, "b": 3.0, "c": 10.0})))
    )


def _labelled(n: int, seed: int = 1) -> list[Example]:
    rng = random.Random(seed)
    return [Example(x=p.x, y=int(rng.random() < p.p_control), key=str(i)) for i, p in enumerate(population(n, seed))]


def test_fit_on_synthetic_data_recovers_the_signs_and_reports_auc_and_calibration() -> None:
    model = fit_logistic(_labelled(6000))
    coefs = dict(zip(model.features, model.coefs, strict=True))
    for feature, truth in TRUE_COEFS.items():
        assert math.copysign(1, coefs[feature]) == math.copysign(1, truth), feature
    m = model.metrics
    assert m["auc"] > 0.7  # the synthetic law is learnable; a coin would be 0.5
    base = m["base_rate"]
    assert m["brier"] < base * (1 - base)  # better than predicting the base rate to everyone
    assert sum(b["n"] for b in m["reliability"]) == m["test_rows"]
    big = [b for b in m["reliability"] if b["n"] >= 200]
    assert all(abs(b["predicted"] - b["observed"]) < 0.05 for b in big)  # calibrated where there is data


def test_a_stored_model_round_trips_through_its_dict() -> None:
    model = fit_logistic(_labelled(2000))
    models = PropensityModels(fitted_at="2026-11-23T03:00:00Z", purchase_30d=model, response={"email": model})
    again = PropensityModels.from_dict(models.as_dict())
    x = population(1)[0].x
    assert score(again.purchase_30d, x) == pytest.approx(score(model, x), abs=1e-6)  # type: ignore[arg-type]
    assert again.named().keys() == {"purchase_30d", "response.email"}


def test_reliability_bins_compare_predicted_and_observed_rates() -> None:
    bins = reliability([0, 1, 1, 0], [0.05, 0.95, 0.91, 0.15])
    assert bins == [
        {"bin": 0.0, "n": 1, "predicted": 0.05, "observed": 0.0},
        {"bin": 0.1, "n": 1, "predicted": 0.15, "observed": 0.0},
        {"bin": 0.9, "n": 2, "predicted": 0.93, "observed": 1.0},
    ]


def _experiment(n: int, seed: int = 5) -> tuple[list[Example], list]:
    rng = random.Random(seed)
    people = population(n, seed)
    rows = []
    for i, p in enumerate(people):
        treated = rng.random() < 0.5
        y = int(rng.random() < (p.p_treated if treated else p.p_control))
        rows.append(Example(x=p.x, y=y, treated=treated, key=str(i)))
    return rows, people


def test_uplift_ranking_finds_the_persuadables_and_their_measured_uplift_beats_sending_to_all() -> None:
    # GIVEN a randomised coupon experiment where only "persuadables" (known) respond to the coupon
    rows, _ = _experiment(16000)
    model = fit_uplift(rows, share=0.3)

    # THEN on fresh people the top 30 % by predicted uplift are mostly persuadables
    fresh = population(3000, seed=99)
    ranked = sorted(fresh, key=lambda p: model.uplift(p.x), reverse=True)
    top = ranked[:900]
    share_persuadable = sum(p.persuadable for p in top) / len(top)
    base_share = sum(p.persuadable for p in fresh) / len(fresh)
    assert share_persuadable > 2 * base_share
    # ...and the true effect in the targeted group beats the effect of sending to everyone
    assert sum(p.effect for p in top) / len(top) > 2 * sum(p.effect for p in fresh) / len(fresh)
    # AND the measured (treated - holdout) uplift on held-out runs is larger in the top share than overall
    assert model.metrics["uplift_top"] > model.metrics["uplift_all"]
    held_out, _ = _experiment(8000, seed=11)
    measured = targeted_uplift(model, held_out, 0.3)
    assert measured["uplift_top"] > measured["uplift_all"] > measured["uplift_rest"]


def test_uplift_rank_is_the_percentile_of_the_training_population() -> None:
    dummy = LogisticModel(("a",), (0.0,), (1.0,), (0.0,), 0.0)
    model = UpliftModel(treated=dummy, control=dummy, cuts=tuple(q / 100 for q in range(1, 100)))
    assert model.rank(-1.0) == 0.0
    assert model.rank(0.705) == pytest.approx(0.70)
    assert model.rank(2.0) == pytest.approx(0.99)
