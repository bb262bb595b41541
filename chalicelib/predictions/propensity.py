"""Propensity and uplift: profile features as of a date, and logistic models evaluated from stored coefficients.

Pure Python like `clv`: the fold evaluates these on every refresh, so nothing here imports numpy or scikit-learn.
Fitting is `propensity_fit` (scikit-learn, the fitting function's layer only). A model is a standardised logistic
regression: p = sigmoid(intercept + sum(coef_i * (x_i - mean_i) / scale_i)); `explain` ranks the terms
coef_i * standardised x_i, which is exactly how much each feature moved the log-odds away from the average person.

Features are built from what a stored profile keeps (`activity`: order times, sessions, daily event counts, cart
lines) as of any instant `as_of` at or before now, so the training job can rebuild "the profile 30 days ago" and
the fold "the profile now" with the same function. See `features_as_of` for what cannot be rebuilt exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.predictions.clv import DAY_SECONDS, BgNbdParams, CustomerHistory, probability_alive

if TYPE_CHECKING:
    from chalicelib.profiles.model import Profile

__all__ = [
    "FEATURES",
    "HORIZON_DAYS",
    "LogisticModel",
    "PropensityModels",
    "UpliftModel",
    "explain",
    "features_as_of",
    "score",
]

HORIZON_DAYS = 30  # churn and purchase propensity look 30 days ahead
RECENCY_CAP_DAYS = 365.0  # "never" and "over a year ago" are the same signal: a finite value keeps the scale sane
OPEN_EVENTS = ("Email Opened",)  # human opens only: machine opens (Apple MPP, scanners) are another event name
CLICK_EVENTS = ("Email Link Clicked",)
FEATURES = (
    "has_ordered",
    "days_since_order",
    "log_orders",
    "log_revenue",
    "days_since_visit",
    "sessions_30d",
    "sessions_90d",
    "events_30d",
    "email_opens_30d",
    "email_clicks_30d",
    "cart_value",
    "tenure_days",
    "p_alive",
)


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _daily_sum(daily: Mapping[str, Mapping[str, int]], names: Sequence[str] | None, start: str, end: str) -> int:
    """Counts of `names` (all names when None) on days in [start, end] (ISO days compare as strings)."""
    total = 0
    for name, days in daily.items():
        if names is not None and name not in names:
            continue
        total += sum(n for day, n in days.items() if start <= day <= end)
    return total


def features_as_of(p: Profile, as_of: float, now: float, bgnbd: BgNbdParams | None = None) -> dict[str, float]:
    """The features of `FEATURES` for profile `p` (stored at `now`) as they were at `as_of` (epoch seconds).

    With `as_of == now` this is exact. For an earlier `as_of` the profile is rolled back from what it keeps:
    orders after `as_of` are taken off using `activity.order_ids` (the last 100 order times: exact unless someone
    ordered more than 100 times since), revenue in proportion (per-order values are not kept), sessions and daily
    counts are exact within their kept windows (100 sessions, 90 days of daily counts), and a cart line counts when it
    was last changed before `as_of` and is still open (a line emptied since is lost). P(alive) is evaluated from the
    CLV parameters on the rolled-back order history."""
    a = p.activity
    later_orders = sum(1 for ts in a.order_ids.values() if ts > as_of)
    orders = max(p.computed.orders - later_orders, 0)
    revenue = p.computed.revenue * (orders / p.computed.orders) if p.computed.orders else 0.0
    order_times = sorted(ts for ts in a.order_ids.values() if ts <= as_of)
    first_order = a.first_order_ts if a.first_order_ts is not None and a.first_order_ts <= as_of else None
    if orders and first_order is None and order_times:
        first_order = order_times[0]
    last_order = order_times[-1] if order_times else (a.last_order_ts if orders and later_orders == 0 else None)
    if orders and last_order is None:
        last_order = first_order
    sessions = [s for s in a.sessions if s and s[0] <= as_of]
    last_visit = max((min(s[-1], as_of) for s in sessions), default=None)
    first_seen = a.first_ts if a.first_ts is not None else (sessions[0][0] if sessions else as_of)
    day_end = _day(as_of)
    day_30 = _day(as_of - 29 * DAY_SECONDS)
    cart_value = sum(
        max(line.q, 0.0) * (line.price or 0.0) for line in a.cart.values() if line.at <= as_of and line.q > 0
    )
    p_alive = 0.0
    if bgnbd is not None and orders and first_order is not None and last_order is not None:
        history = CustomerHistory(
            x=orders - 1,
            t_x=max(last_order - first_order, 0.0) / DAY_SECONDS,
            T=max(as_of - first_order, last_order - first_order, 0.0) / DAY_SECONDS,
        )
        try:
            p_alive = probability_alive(bgnbd, history)
        except (ValueError, OverflowError):
            p_alive = 0.0

    def days_since(ts: float | None) -> float:
        return RECENCY_CAP_DAYS if ts is None else min(max(as_of - ts, 0.0) / DAY_SECONDS, RECENCY_CAP_DAYS)

    return {
        "has_ordered": 1.0 if orders else 0.0,
        "days_since_order": days_since(last_order if orders else None),
        "log_orders": math.log1p(orders),
        "log_revenue": math.log1p(max(revenue, 0.0)),
        "days_since_visit": days_since(last_visit),
        "sessions_30d": float(sum(1 for s in sessions if s[-1] >= as_of - 30 * DAY_SECONDS)),
        "sessions_90d": float(sum(1 for s in sessions if s[-1] >= as_of - 90 * DAY_SECONDS)),
        "events_30d": float(_daily_sum(a.daily, None, day_30, day_end)),
        "email_opens_30d": float(_daily_sum(a.daily, OPEN_EVENTS, day_30, day_end)),
        "email_clicks_30d": float(_daily_sum(a.daily, CLICK_EVENTS, day_30, day_end)),
        "cart_value": math.log1p(cart_value),
        "tenure_days": min(max(as_of - first_seen, 0.0) / DAY_SECONDS, RECENCY_CAP_DAYS),
        "p_alive": p_alive,
    }


@dataclass(frozen=True)
class LogisticModel:
    """A standardised logistic regression as stored, with its held-out metrics (`auc`, `brier`, `reliability`,
    `positives`, `rows`) so a reader can tell how far to trust it."""

    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    coefs: tuple[float, ...]
    intercept: float
    metrics: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "means": [round(v, 8) for v in self.means],
            "scales": [round(v, 8) for v in self.scales],
            "coefs": [round(v, 8) for v in self.coefs],
            "intercept": round(self.intercept, 8),
            "metrics": self.metrics,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogisticModel:
        return cls(
            features=tuple(str(f) for f in data["features"]),
            means=tuple(float(v) for v in data["means"]),
            scales=tuple(float(v) for v in data["scales"]),
            coefs=tuple(float(v) for v in data["coefs"]),
            intercept=float(data["intercept"]),
            metrics=dict(data.get("metrics") or {}),
        )

    def terms(self, x: Mapping[str, float]) -> list[tuple[str, float]]:
        """Each feature's contribution to the log-odds: coefficient x standardised value (missing features: 0, the
        population mean)."""
        out = []
        for name, mean, scale, coef in zip(self.features, self.means, self.scales, self.coefs, strict=True):
            value = x.get(name)
            out.append((name, 0.0 if value is None else coef * (float(value) - mean) / (scale or 1.0)))
        return out


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def score(model: LogisticModel, x: Mapping[str, float]) -> float:
    """P(label = 1 | features `x`): what scikit-learn's `predict_proba(...)[:, 1]` gives for the same pipeline."""
    return _sigmoid(model.intercept + sum(t for _, t in model.terms(x)))


def explain(model: LogisticModel, x: Mapping[str, float], top: int = 3) -> list[dict[str, Any]]:
    """The `top` features that moved this person's log-odds most (either way), with their value and contribution."""
    ranked = sorted(model.terms(x), key=lambda t: abs(t[1]), reverse=True)[:top]
    return [
        {"feature": name, "value": round(float(x.get(name, 0.0)), 4), "log_odds": round(t, 4)} for name, t in ranked
    ]


@dataclass(frozen=True)
class UpliftModel:
    """A T-learner for one scenario: P(convert | treated, x) and P(convert | holdout, x), fitted on the scenario's
    own treated and holdout runs. Uplift = the difference. `cuts` are the uplift percentiles (0..100) of the
    training population, so the fold can store each person's rank and a step can take "the top 30 %" without ranking
    the whole audience at send time."""

    treated: LogisticModel
    control: LogisticModel
    cuts: tuple[float, ...]
    metrics: dict[str, Any] = field(default_factory=dict)

    def uplift(self, x: Mapping[str, float]) -> float:
        return score(self.treated, x) - score(self.control, x)

    def rank(self, uplift: float) -> float:
        """The share (0..1) of the training population with a lower uplift than `uplift`, in percentiles."""
        if not self.cuts:
            return 0.5
        below = sum(1 for c in self.cuts if c < uplift)
        return below / (len(self.cuts) + 1)  # 99 percentile cuts: ranks 0.00 .. 0.99

    def as_dict(self) -> dict[str, Any]:
        return {
            "treated": self.treated.as_dict(),
            "control": self.control.as_dict(),
            "cuts": [round(c, 6) for c in self.cuts],
            "metrics": self.metrics,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UpliftModel:
        return cls(
            treated=LogisticModel.from_dict(data["treated"]),
            control=LogisticModel.from_dict(data["control"]),
            cuts=tuple(float(c) for c in data.get("cuts") or ()),
            metrics=dict(data.get("metrics") or {}),
        )


@dataclass(frozen=True)
class PropensityModels:
    """Everything the fold evaluates beside CLV, fitted together at `fitted_at`. Each model is optional: one the
    data could not support stays out (the previous fit's is carried over by the training job)."""

    fitted_at: str
    churn: LogisticModel | None = None
    purchase_30d: LogisticModel | None = None
    response: dict[str, LogisticModel] = field(default_factory=dict)  # channel -> P(open or click | sent)
    uplift: dict[str, UpliftModel] = field(default_factory=dict)  # scenario id -> T-learner
    fitted: dict[str, str] = field(default_factory=dict)  # model name -> when that model was fitted

    def as_dict(self) -> dict[str, Any]:
        return {
            "fitted_at": self.fitted_at,
            "churn": self.churn.as_dict() if self.churn else None,
            "purchase_30d": self.purchase_30d.as_dict() if self.purchase_30d else None,
            "response": {k: m.as_dict() for k, m in self.response.items()},
            "uplift": {k: m.as_dict() for k, m in self.uplift.items()},
            "fitted": dict(self.fitted),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PropensityModels:
        churn, purchase = data.get("churn"), data.get("purchase_30d")
        return cls(
            fitted_at=str(data["fitted_at"]),
            churn=LogisticModel.from_dict(churn) if churn else None,
            purchase_30d=LogisticModel.from_dict(purchase) if purchase else None,
            response={k: LogisticModel.from_dict(v) for k, v in (data.get("response") or {}).items()},
            uplift={k: UpliftModel.from_dict(v) for k, v in (data.get("uplift") or {}).items()},
            fitted={str(k): str(v) for k, v in (data.get("fitted") or {}).items()},
        )

    def named(self) -> dict[str, LogisticModel]:
        """Every single-label model by the name its prediction carries on the profile."""
        out: dict[str, LogisticModel] = {}
        if self.churn:
            out["churn_risk"] = self.churn
        if self.purchase_30d:
            out["purchase_30d"] = self.purchase_30d
        for channel, model in self.response.items():
            out[f"response.{channel}"] = model
        return out
