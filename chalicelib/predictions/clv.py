"""Customer lifetime value from fitted BG/NBD and Gamma-Gamma parameters: closed forms, pure Python, no numpy.

The fold refreshes a customer's predictions from the stored parameters on every order and every sweep, so what runs
there must cost microseconds and import nothing heavy: `math.lgamma` and a Gauss hypergeometric series. Fitting the
parameters (scipy's optimiser over the whole population) is `predictions.fit`, run in a scheduled job.

Time is in days throughout (recency `t_x` and age `T` since the first order; frequency `x` = repeat orders).

References: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the Pareto/NBD
Model", Marketing Science 24(2) — P(alive) eq. (12), conditional expectation eq. (10); Fader & Hardie (2013), "The
Gamma-Gamma Model of Monetary Value" — the conditional expected spend per order.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "BgNbdParams",
    "CustomerHistory",
    "GammaGammaParams",
    "Prediction",
    "expected_purchases",
    "expected_spend",
    "history_of",
    "hyp2f1",
    "predict",
    "probability_alive",
]

_SERIES_MAX_TERMS = 100_000
_SERIES_TOLERANCE = 1e-7  # relative, tail included: a CLV estimate means nothing past its third digit
_RESCALE_ABOVE = 1e200


@dataclass(frozen=True)
class BgNbdParams:
    """Purchase rate ~ Gamma(r, alpha); drop-out probability after each purchase ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    """Spend per order ~ Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers."""

    p: float
    q: float
    v: float


@dataclass(frozen=True)
class CustomerHistory:
    """The RFM summary the models read: repeat orders `x`, days from first to last order `t_x`, days from first order
    to now `T`, and the mean value of the repeat orders (`mean_order_value`, 0 when x == 0)."""

    x: int
    t_x: float
    T: float
    mean_order_value: float = 0.0


@dataclass(frozen=True)
class Prediction:
    p_alive: float
    purchases_90d: float
    purchases_365d: float
    expected_order_value: float
    clv_12m: float

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 6) for k, v in asdict(self).items()}


def hyp2f1(a: float, b: float, c: float, z: float) -> float:
    """Gauss's hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1, by its power series (see `_log_hyp2f1`)."""
    return math.exp(_log_hyp2f1(a, b, c, z))


def _log_hyp2f1(a: float, b: float, c: float, z: float) -> float:
    """ln 2F1(a, b; c; z) for 0 <= z < 1 and c > 0, where the function is positive (all the models need).

    Summed after Euler's transformation 2F1(a, b; c; z) = (1 - z)^(c - a - b) 2F1(c - a, c - b; c; z): in BG/NBD's
    expectation a, b and c all grow with the customer's repeat orders x while c - a and c - b do not, so the
    transformed terms shrink from the first one instead of rising for ~x z / (1 - z) terms first (a customer with 30
    orders needs ~15x fewer terms). The sum stops once the remaining tail, bounded by a geometric series of ratio z,
    is below the tolerance. Terms are rescaled so a long series neither overflows nor loses its tail.
    Raises ValueError outside that domain or when the series does not converge."""
    if not 0.0 <= z < 1.0 or c <= 0:
        raise ValueError(f"hyp2f1 needs 0 <= z < 1 and c > 0 (z={z}, c={c})")
    log_prefactor = (c - a - b) * math.log1p(-z) if z else 0.0
    a, b = c - a, c - b
    tail_factor = _SERIES_TOLERANCE * (1.0 - z)
    term, total, log_scale = 1.0, 1.0, 0.0
    ak, bk, ck, k1 = a, b, c, 1.0  # a + k, b + k, c + k, k + 1: additions, not multiplications, per term
    for _ in range(_SERIES_MAX_TERMS):
        ratio = ak * bk / (ck * k1) * z
        term *= ratio
        total += term
        ak += 1.0
        bk += 1.0
        ck += 1.0
        k1 += 1.0
        if -1.0 < ratio < 1.0 and abs(term) <= tail_factor * abs(total):
            if total <= 0:
                break
            return log_prefactor + log_scale + math.log(total)
        if abs(total) > _RESCALE_ABOVE:
            term /= _RESCALE_ABOVE
            total /= _RESCALE_ABOVE
            log_scale += math.log(_RESCALE_ABOVE)
    raise ValueError(f"hyp2f1({c - a}, {c - b}; {c}; {z}) did not converge")


def _dropout_odds(params: BgNbdParams, h: CustomerHistory) -> float:
    """a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) for a repeat customer, 0 for one who never came back (who cannot
    have dropped out after a repeat purchase they never made)."""
    if h.x <= 0:
        return 0.0
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_odds = math.log(a) - math.log(b + h.x - 1) + (r + h.x) * (math.log(alpha + h.T) - math.log(alpha + h.t_x))
    return math.exp(min(log_odds, 700.0))


def probability_alive(params: BgNbdParams, h: CustomerHistory) -> float:
    """P(the customer is still active | x, t_x, T), eq. (12) of Fader, Hardie & Lee (2005)."""
    return 1.0 / (1.0 + _dropout_odds(params, h))


def expected_purchases(params: BgNbdParams, h: CustomerHistory, days: float) -> float:
    """E[purchases in the next `days` | x, t_x, T], eq. (10) of Fader, Hardie & Lee (2005)."""
    if days <= 0:
        return 0.0
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if a == 1:  # the closed form's (a - 1) is singular there (a < 1 is fine: both factors change sign)
        a = 1.0 + 1e-9
    x = h.x
    z = days / (alpha + h.T + days)
    log_tail = (r + x) * (math.log(alpha + h.T) - math.log(alpha + h.T + days))
    log_hyp = _log_hyp2f1(r + x, b + x, a + b + x - 1, z)
    bracket = -math.expm1(log_tail + log_hyp)
    return (a + b + x - 1) / (a - 1) * bracket / (1.0 + _dropout_odds(params, h))


def expected_spend(params: GammaGammaParams, h: CustomerHistory) -> float:
    """E[value of an order | x repeat orders of mean value m] = p(v + x m) / (p x + q - 1): a weighted mean of the
    population's mean order value p v / (q - 1) and the customer's own (Fader & Hardie 2013). A customer with no
    repeat order gets the population's mean."""
    p, q, v = params.p, params.q, params.v
    if q <= 1:
        raise ValueError(f"Gamma-Gamma parameter q must exceed 1 for a finite mean (q={q})")
    x = max(h.x, 0)
    return p * (v + x * h.mean_order_value) / (p * x + q - 1)


DAY_SECONDS = 86400.0


def history_of(row: Any, now_ts: float) -> CustomerHistory | None:
    """The RFM summary of one buyer in days, from anything with `first_order_ts`, `last_order_ts` (epoch seconds),
    `orders` and `revenue` (a population row, a profile's activity): repeat orders, first-to-last order, first order
    to now, and the mean order value (over all orders: per-order values are not kept). None for a non-buyer, a row
    written before `first_order_ts` was kept, or impossible values."""
    first_ts, last_ts = getattr(row, "first_order_ts", None), getattr(row, "last_order_ts", None)
    orders = int(getattr(row, "orders", 0) or 0)
    if first_ts is None or last_ts is None or orders < 1:
        return None
    first, last = float(first_ts), float(last_ts)
    if not (first <= last <= now_ts + DAY_SECONDS):
        return None
    return CustomerHistory(
        x=orders - 1,
        t_x=(last - first) / DAY_SECONDS,
        T=max((now_ts - first) / DAY_SECONDS, (last - first) / DAY_SECONDS),
        mean_order_value=max(float(getattr(row, "revenue", 0.0) or 0.0), 0.0) / orders,
    )


def predict(
    bgnbd: BgNbdParams, gamma_gamma: GammaGammaParams | None, h: CustomerHistory, margin: float = 1.0
) -> Prediction:
    """Everything the profile keeps: P(alive), expected purchases in 90 and 365 days, expected order value and the
    12-month CLV (expected purchases x expected order value x margin; undiscounted over one year)."""
    purchases_365 = expected_purchases(bgnbd, h, 365.0)
    order_value = expected_spend(gamma_gamma, h) if gamma_gamma is not None else h.mean_order_value
    return Prediction(
        p_alive=probability_alive(bgnbd, h),
        purchases_90d=expected_purchases(bgnbd, h, 90.0),
        purchases_365d=purchases_365,
        expected_order_value=order_value,
        clv_12m=purchases_365 * order_value * margin,
    )
