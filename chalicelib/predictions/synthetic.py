"""Synthetic customers with a known structure, for the tests and the bench: features, outcomes drawn from a known
logistic law, and a known heterogeneous treatment effect (who a coupon moves).

Pure standard library. The structure: purchase log-odds rise with orders, sessions, email clicks and the cart and
fall with days since the last visit; the coupon's effect (in probability) is large for recent visitors with a cart
who have not bought much ("persuadables"), zero for loyal buyers who buy anyway ("sure things") and for the long
gone ("lost causes"). A targeting model that works finds the persuadables.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from chalicelib.predictions.propensity import FEATURES

__all__ = ["SyntheticPerson", "TRUE_COEFS", "population"]

# Log-odds per unit of each raw feature (the truth a fit should recover in sign and order).
TRUE_COEFS = {
    "log_orders": 0.9,
    "sessions_30d": 0.12,
    "email_clicks_30d": 0.25,
    "cart_value": 0.35,
    "days_since_visit": -0.02,
}
TRUE_INTERCEPT = -2.6


@dataclass(frozen=True)
class SyntheticPerson:
    x: dict[str, float]
    p_control: float  # P(purchase in 30 days) without the coupon
    p_treated: float  # ...with it
    persuadable: bool

    @property
    def effect(self) -> float:
        return self.p_treated - self.p_control


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def population(n: int, seed: int = 7) -> list[SyntheticPerson]:
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    out = []
    for _ in range(n):
        orders = min(int(rng.expovariate(0.6)), 30)
        sessions_30 = min(int(rng.expovariate(0.3)), 40)
        days_visit = min(rng.expovariate(1 / 40), 365.0)
        clicks = min(int(rng.expovariate(1.2)), 10)
        cart = math.log1p(rng.uniform(20, 200)) if rng.random() < 0.25 else 0.0
        x = dict.fromkeys(FEATURES, 0.0)
        x.update(
            has_ordered=1.0 if orders else 0.0,
            days_since_order=min(days_visit + rng.uniform(0, 60), 365.0) if orders else 365.0,
            log_orders=math.log1p(orders),
            log_revenue=math.log1p(orders * rng.uniform(20, 80)),
            days_since_visit=days_visit,
            sessions_30d=float(sessions_30),
            sessions_90d=float(sessions_30 + min(int(rng.expovariate(0.2)), 60)),
            events_30d=float(sessions_30 * rng.randint(2, 8)),
            email_opens_30d=float(clicks + min(int(rng.expovariate(0.5)), 10)),
            email_clicks_30d=float(clicks),
            cart_value=cart,
            tenure_days=rng.uniform(1, 365),
            p_alive=rng.uniform(0.5, 1.0) if orders else 0.0,
        )
        z = TRUE_INTERCEPT + sum(c * x[f] for f, c in TRUE_COEFS.items())
        p0 = _sigmoid(z)
        persuadable = days_visit < 30 and orders <= 1 and (cart > 0 or clicks > 0)
        p1 = min(p0 + (0.25 if persuadable else 0.0), 1.0)
        out.append(SyntheticPerson(x=x, p_control=p0, p_treated=p1, persuadable=persuadable))
    return out
