"""`python -m bench.propensity`: propensity and uplift models on synthetic customers with a known structure.

Prints held-out AUC, Brier score and reliability bins of a purchase model, the measured uplift of the top 30 % by
predicted uplift against sending to everyone (and the true effects, known by construction), and what one
pure-Python evaluation costs the fold.
"""

from __future__ import annotations

import json
import random
import sys
import time

from chalicelib.predictions.propensity import score
from chalicelib.predictions.propensity_fit import Example, fit_logistic, fit_uplift, targeted_uplift
from chalicelib.predictions.synthetic import population


def main(n: int = 40_000, share: float = 0.3) -> dict:
    rng = random.Random(1)
    people = population(n, seed=3)
    started = time.perf_counter()
    purchase = fit_logistic([Example(x=p.x, y=int(rng.random() < p.p_control)) for p in people])
    fit_seconds = time.perf_counter() - started
    rows = []
    for p in people:
        treated = rng.random() < 0.5
        rows.append(Example(x=p.x, y=int(rng.random() < (p.p_treated if treated else p.p_control)), treated=treated))
    uplift = fit_uplift(rows, share=share)
    fresh = population(n // 2, seed=17)
    fresh_rows = []
    for p in fresh:
        treated = rng.random() < 0.5
        fresh_rows.append(
            Example(x=p.x, y=int(rng.random() < (p.p_treated if treated else p.p_control)), treated=treated)
        )
    ranked = sorted(fresh, key=lambda p: uplift.uplift(p.x), reverse=True)
    top = ranked[: round(len(ranked) * share)]
    x = fresh[0].x
    loops = 20_000
    t = time.perf_counter()
    for _ in range(loops):
        score(purchase, x)
    per_score_us = (time.perf_counter() - t) / loops * 1e6
    return {
        "customers": n,
        "purchase_30d": {k: v for k, v in purchase.metrics.items()},
        "fit_seconds": round(fit_seconds, 2),
        "uplift_measured_held_out": targeted_uplift(uplift, fresh_rows, share),
        "uplift_true": {
            "all": round(sum(p.effect for p in fresh) / len(fresh), 4),
            "top": round(sum(p.effect for p in top) / len(top), 4),
        },
        "conversions_per_1000_sends": {
            "everyone": round(1000 * sum(p.effect for p in fresh) / len(fresh), 1),
            "top_share": round(1000 * sum(p.effect for p in top) / len(top), 1),
        },
        "fold_score_microseconds": round(per_score_us, 2),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 40_000), indent=2))
