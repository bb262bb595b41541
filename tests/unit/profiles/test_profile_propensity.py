"""The fold evaluates the stored propensity and uplift models into `predictions`; segments, the uplift guard and the
admin explanation read them."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from chalicelib.delivery.guards import LOW_UPLIFT, SendContext, check_uplift_target, default_delivery_config
from chalicelib.predictions.propensity import (
    FEATURES,
    LogisticModel,
    PropensityModels,
    UpliftModel,
    features_as_of,
    score,
)
from chalicelib.profiles import codec
from chalicelib.profiles.explain import explain_predictions
from chalicelib.profiles.fold import fold
from chalicelib.rules import FieldCondition, evaluate
from chalicelib.scenarios.definitions import UpliftTarget
from tests.unit.profiles.support import NOW, PROFILE_ID, at, config, make_event, page

N = len(FEATURES)


def model(**coefs: float) -> LogisticModel:
    return LogisticModel(FEATURES, (0.0,) * N, (1.0,) * N, tuple(coefs.get(f, 0.0) for f in FEATURES), -2.0)


MODELS = PropensityModels(
    fitted_at="2026-11-23T03:00:00Z",
    churn=model(days_since_visit=0.02),
    purchase_30d=model(sessions_30d=0.5, log_orders=0.8),
    response={"email": model(email_opens_30d=0.7)},
    uplift={"winback": UpliftModel(model(sessions_30d=0.6), model(), tuple(q / 1000 for q in range(1, 100)))},
    fitted={"purchase_30d": "2026-11-23T03:00:00Z"},
)


def order(days_ago: float, order_id: str):
    return make_event(event="Order Completed", when=at(days_ago), properties={"revenue": 30.0, "order_id": order_id})


def test_a_visitor_gets_purchase_and_response_propensity_but_no_churn_risk() -> None:
    events = [page(at(2)), page(at(1)), make_event(event="Email Opened", when=at(1))]
    p = fold(None, PROFILE_ID, events, config(), NOW, propensity_models=MODELS).profile
    assert p.predictions is not None
    x = features_as_of(p, NOW.timestamp(), NOW.timestamp())
    assert p.predictions.purchase_30d == pytest.approx(score(MODELS.purchase_30d, x), abs=1e-4)  # type: ignore[arg-type]
    assert p.predictions.response["email"] == pytest.approx(score(MODELS.response["email"], x), abs=1e-4)
    assert p.predictions.churn_risk is None  # never bought: nothing to churn from
    assert p.predictions.clv_12m is None
    assert p.predictions.propensity_fitted_at == MODELS.fitted_at
    assert p.predictions.uplift["winback"] > 0


def test_a_buyer_gets_churn_risk_and_a_segment_can_select_on_it() -> None:
    p = fold(None, PROFILE_ID, [order(50, "o1"), page(at(40))], config(), NOW, propensity_models=MODELS).profile
    assert p.predictions is not None and p.predictions.churn_risk is not None
    rule = FieldCondition(field="predictions.churn_risk", op="gt", value=0.05)
    assert evaluate(rule, p, NOW)
    stored = codec.read_item(codec.to_item(p))  # it survives the stored form
    assert stored.predictions is not None and stored.predictions.churn_risk == p.predictions.churn_risk


def test_without_models_the_previous_propensities_are_kept_and_a_new_day_refreshes_them() -> None:
    first = fold(None, PROFILE_ID, [page(at(1))], config(), NOW, propensity_models=MODELS).profile
    kept = fold(first, PROFILE_ID, [page(at(0))], config(), NOW).profile
    assert kept.predictions == first.predictions
    later = fold(first, PROFILE_ID, [], config(), NOW + timedelta(days=1), propensity_models=MODELS).profile
    assert later.predictions is not None and later.predictions.propensity_at != first.predictions.propensity_at  # type: ignore[union-attr]


def _ctx(profile: dict, target: UpliftTarget | None) -> SendContext:
    scenario = SimpleNamespace(id="winback")  # the guard reads only the scenario's id
    return SendContext(
        channel="email",
        marketing=True,
        profile=profile,
        now=NOW,
        scenario=scenario,
        target=target,  # type: ignore[arg-type]
    )


def test_the_uplift_target_skips_people_outside_the_top_share_or_below_the_minimum() -> None:
    cfg = default_delivery_config()
    low = {"predictions": {"uplift": {"winback": 0.01}, "uplift_rank": {"winback": 0.4}}}
    high = {"predictions": {"uplift": {"winback": 0.08}, "uplift_rank": {"winback": 0.85}}}
    top30 = UpliftTarget(uplift_top_share=0.3)
    at_least = UpliftTarget(uplift_min=0.02)
    assert check_uplift_target(_ctx(low, top30), cfg).reason == LOW_UPLIFT
    assert check_uplift_target(_ctx(high, top30), cfg).allowed
    assert check_uplift_target(_ctx(low, at_least), cfg).reason == LOW_UPLIFT
    assert check_uplift_target(_ctx(high, at_least), cfg).allowed
    # no uplift model for the scenario yet: everyone is sent to, as without a target
    assert check_uplift_target(_ctx({"predictions": {}}, top30), cfg).allowed
    assert check_uplift_target(_ctx(low, None), cfg).allowed


def test_an_uplift_target_needs_exactly_one_rule() -> None:
    with pytest.raises(ValueError):
        UpliftTarget()
    with pytest.raises(ValueError):
        UpliftTarget(uplift_top_share=0.3, uplift_min=0.01)


def test_the_admin_explanation_names_each_models_date_and_top_features() -> None:
    events = [page(at(2)), page(at(1)), make_event(event="Email Opened", when=at(1)), order(3, "o1")]
    p = fold(None, PROFILE_ID, events, config(), NOW, propensity_models=MODELS).profile
    out = explain_predictions(p, None, MODELS, NOW)
    assert out["purchase_30d"]["model_fitted_at"] == "2026-11-23T03:00:00Z"
    assert out["purchase_30d"]["value"] == p.predictions.purchase_30d  # type: ignore[union-attr]
    assert out["purchase_30d"]["top_features"][0]["feature"] in {"sessions_30d", "log_orders"}
    assert out["response.email"]["top_features"][0]["feature"] == "email_opens_30d"
    assert out["uplift.winback"]["top_features"][0]["feature"] == "sessions_30d"
    assert {"churn_risk", "purchase_30d", "response.email", "uplift.winback"} <= out.keys()
