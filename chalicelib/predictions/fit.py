"""Fit BG/NBD and Gamma-Gamma by maximum likelihood with scipy's optimiser over a customer population.

Used by the scheduled fitting job and the `python -m chalicelib.predictions` command; never by the fold (which only
evaluates `predictions.clv` from the stored parameters). numpy and scipy are imported here, lazily by callers.

Parameters are optimised on the log scale (all four BG/NBD and three Gamma-Gamma parameters are positive), starting
from 1.0 each; L-BFGS-B with a small L2 penalty of 0 by default, like the reference implementations.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

from chalicelib.predictions.clv import BgNbdParams, CustomerHistory, GammaGammaParams

__all__ = ["FitReport", "fit_bgnbd", "fit_gamma_gamma", "sample_population"]

_FLOOR = 1e-300


@dataclass(frozen=True)
class FitReport:
    """One model's fit: its parameters and the diagnostics stored beside them."""

    model: str
    params: dict[str, float]
    log_likelihood: float
    customers: int
    converged: bool
    iterations: int
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "params": {k: round(v, 6) for k, v in self.params.items()},
            "log_likelihood": round(self.log_likelihood, 4),
            "customers": self.customers,
            "converged": self.converged,
            "iterations": self.iterations,
            "message": self.message,
            **self.extra,
        }


def sample_population(histories: Sequence[CustomerHistory], limit: int, seed: int = 0) -> list[CustomerHistory]:
    """A uniform sample of at most `limit` customers (the likelihood of 100k customers fits as well as 10M's)."""
    if len(histories) <= limit:
        return list(histories)
    return random.Random(seed).sample(list(histories), limit)  # noqa: S311 - sampling, not security


def _bgnbd_negative_ll(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
    r, alpha, a, b = np.exp(log_params)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.where(repeat, np.log(a) - np.log(np.maximum(b + x - 1, _FLOOR)) - (r + x) * np.log(alpha + t_x), -np.inf)
    ll = a1 + a2 + np.logaddexp(a3, a4)
    return float(-ll.sum())


def fit_bgnbd(histories: Sequence[CustomerHistory]) -> tuple[BgNbdParams, FitReport]:
    """Maximum-likelihood BG/NBD over `histories` (frequency, recency, age)."""
    if not histories:
        raise ValueError("no customers to fit")
    x = np.array([h.x for h in histories], dtype=float)
    t_x = np.array([h.t_x for h in histories], dtype=float)
    T = np.array([h.T for h in histories], dtype=float)
    if (x < 0).any() or (t_x < 0).any() or (t_x > T).any():
        raise ValueError("each customer needs frequency >= 0 and 0 <= recency <= T")
    result = minimize(_bgnbd_negative_ll, np.zeros(4), args=(x, t_x, T), method="L-BFGS-B")
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    params = BgNbdParams(r=r, alpha=alpha, a=a, b=b)
    report = FitReport(
        model="bgnbd",
        params={"r": r, "alpha": alpha, "a": a, "b": b},
        log_likelihood=-float(result.fun),
        customers=len(histories),
        converged=bool(result.success),
        iterations=int(result.nit),
        message=str(result.message),
        extra={"repeat_customers": int((x > 0).sum())},
    )
    return params, report


def _gamma_gamma_negative_ll(log_params: np.ndarray, x: np.ndarray, m: np.ndarray) -> float:
    p, q, v = np.exp(log_params)
    ll = (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + (p * x) * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )
    return float(-ll.sum())


def fit_gamma_gamma(histories: Sequence[CustomerHistory]) -> tuple[GammaGammaParams, FitReport]:
    """Maximum-likelihood Gamma-Gamma over the customers with at least one repeat order of positive value (the model
    assumes spend is independent of frequency; the report carries their correlation so an operator can check)."""
    repeaters = [h for h in histories if h.x > 0 and h.mean_order_value > 0]
    if not repeaters:
        raise ValueError("no repeat customers with a positive order value to fit")
    x = np.array([h.x for h in repeaters], dtype=float)
    m = np.array([h.mean_order_value for h in repeaters], dtype=float)
    result = minimize(_gamma_gamma_negative_ll, np.zeros(3), args=(x, m), method="L-BFGS-B")
    p, q, v = (float(val) for val in np.exp(result.x))
    correlation = float(np.corrcoef(x, m)[0, 1]) if len(repeaters) > 2 else 0.0
    report = FitReport(
        model="gamma_gamma",
        params={"p": p, "q": q, "v": v},
        log_likelihood=-float(result.fun),
        customers=len(repeaters),
        converged=bool(result.success),
        iterations=int(result.nit),
        message=str(result.message),
        extra={"frequency_value_correlation": round(correlation, 4)},
    )
    return GammaGammaParams(p=p, q=q, v=v), report
