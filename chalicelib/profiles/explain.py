"""Why a profile's predictions are what they are: per prediction, the model's date, its held-out quality and the
features that drove it (for the admin profile view; pure, no I/O).

For a logistic model the drivers are exact: coefficient x standardised value is each feature's share of the
log-odds away from the average person. For an uplift (T-learner) the drivers are the treated model's terms minus the
control model's, i.e. what makes the message matter more (or less) for this person.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.predictions import propensity

if TYPE_CHECKING:
    from chalicelib.predictions.models import FittedModels
    from chalicelib.predictions.propensity import LogisticModel, PropensityModels
    from chalicelib.profiles.model import Profile

__all__ = ["explain_predictions"]

TOP_FEATURES = 3


def _quality(model: LogisticModel) -> dict[str, Any]:
    m = model.metrics
    return {k: m.get(k) for k in ("auc", "brier", "positives", "rows")}


def explain_predictions(
    p: Profile, clv_models: FittedModels | None, models: PropensityModels | None, now: datetime
) -> dict[str, Any]:
    """Each stored prediction with `value`, `model_fitted_at`, quality and (propensity) `top_features`."""
    out: dict[str, Any] = {}
    stored = p.predictions
    if stored is None:
        return out
    if stored.clv_12m is not None:
        out["clv_12m"] = {
            "value": stored.clv_12m,
            "p_alive": stored.p_alive,
            "model_fitted_at": stored.model_fitted_at,
            "computed_at": stored.computed_at,
            # BG/NBD reads only these: how many orders, over how long, how recently
            "top_features": [
                {"feature": "orders", "value": stored.orders},
                {"feature": "revenue", "value": stored.revenue},
            ],
        }
    if models is None:
        return out
    now_ts = now.timestamp()
    x = propensity.features_as_of(p, now_ts, now_ts, clv_models.bgnbd if clv_models else None)
    values: dict[str, Any] = {"churn_risk": stored.churn_risk, "purchase_30d": stored.purchase_30d}
    values.update({f"response.{c}": v for c, v in stored.response.items()})
    for name, model in models.named().items():
        if values.get(name) is None:
            continue
        out[name] = {
            "value": values[name],
            "model_fitted_at": models.fitted.get(name, models.fitted_at),
            "computed_at": stored.propensity_at,
            **_quality(model),
            "top_features": propensity.explain(model, x, TOP_FEATURES),
        }
    for scenario, uplift in models.uplift.items():
        if scenario not in stored.uplift:
            continue
        treated = dict(uplift.treated.terms(x))
        diff = sorted(
            ((f, t - c) for f, c in uplift.control.terms(x) if (t := treated.get(f)) is not None),
            key=lambda ft: abs(ft[1]),
            reverse=True,
        )[:TOP_FEATURES]
        out[f"uplift.{scenario}"] = {
            "value": stored.uplift[scenario],
            "rank": stored.uplift_rank.get(scenario),
            "model_fitted_at": models.fitted.get(f"uplift.{scenario}", models.fitted_at),
            "computed_at": stored.propensity_at,
            "measured": {k: uplift.metrics.get(k) for k in ("share", "uplift_all", "uplift_top", "rows")},
            "top_features": [
                {"feature": f, "value": round(float(x.get(f, 0.0)), 4), "log_odds": round(d, 4)} for f, d in diff
            ],
        }
    return out
