"""Fit the propensity and uplift models with scikit-learn and measure them on held-out rows (AUC, Brier, reliability).

Only the fitting job, the bench and tests import this (scikit-learn rides in the fitting function's layer). What is
stored is plain numbers (`propensity.LogisticModel`) that the fold evaluates in pure Python.

A standardised L2 logistic regression rather than gradient boosting: its stored form is a vector the fold evaluates in
microseconds, its explanation (coefficient x standardised value) is exact rather than approximate, and with a few
hundred positives a boosted model overfits what a linear one cannot.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from chalicelib.predictions.propensity import FEATURES, LogisticModel, UpliftModel, score

__all__ = ["Example", "fit_logistic", "fit_uplift", "reliability", "split", "targeted_uplift"]

RELIABILITY_BINS = 10
TEST_SHARE = 0.25


@dataclass(frozen=True)
class Example:
    """One training row: features as of a cut-off, the outcome after it, and (uplift rows) whether it was treated."""

    x: Mapping[str, float]
    y: int
    treated: bool = True
    key: str = ""  # stable id (profile, message or run): the train/test split hashes it, so reruns agree


def split(
    rows: Sequence[Example], test_share: float = TEST_SHARE, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """A seeded random train/held-out split (by row order when keys are missing)."""
    rng = random.Random(seed)  # noqa: S311 - a sample, not a secret
    train: list[Example] = []
    test: list[Example] = []
    for row in rows:
        (test if rng.random() < test_share else train).append(row)
    return train, test


def _matrix(rows: Sequence[Example], features: Sequence[str]) -> np.ndarray:
    return np.array([[float(r.x.get(f, 0.0)) for f in features] for r in rows], dtype=float)


def reliability(y: Sequence[int], p: Sequence[float], bins: int = RELIABILITY_BINS) -> list[dict[str, float]]:
    """Calibration by predicted-probability decile: mean predicted vs observed rate and the count in each bin."""
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [(yi, pi) for yi, pi in zip(y, p, strict=True) if lo <= pi < hi or (b == bins - 1 and pi == 1.0)]
        if members:
            out.append(
                {
                    "bin": round(lo, 2),
                    "n": len(members),
                    "predicted": round(sum(m[1] for m in members) / len(members), 4),
                    "observed": round(sum(m[0] for m in members) / len(members), 4),
                }
            )
    return out


def _metrics(model: LogisticModel, rows: Sequence[Example], train_rows: int) -> dict[str, Any]:
    y = [r.y for r in rows]
    p = [score(model, r.x) for r in rows]
    both = 0 < sum(y) < len(y)
    return {
        "rows": train_rows + len(rows),
        "train_rows": train_rows,
        "test_rows": len(rows),
        "positives": sum(y),
        "base_rate": round(sum(y) / len(y), 4) if y else None,
        "auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "brier": round(float(brier_score_loss(y, p)), 4) if y else None,
        "reliability": reliability(y, p),
    }


def fit_logistic(
    rows: Sequence[Example], features: Sequence[str] = FEATURES, *, c: float = 1.0, seed: int = 0
) -> LogisticModel:
    """A standardised L2 logistic regression on 75 % of `rows`, measured on the other 25 % (then stored with the
    model). Raises ValueError when either split lacks a class."""
    train, test = split(rows, seed=seed)
    if len({r.y for r in train}) < 2:
        raise ValueError("the training rows need both outcomes")
    x = _matrix(train, features)
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales == 0] = 1.0  # a constant feature carries nothing; 1 keeps the standardisation defined
    clf = LogisticRegression(C=c, max_iter=1000)
    clf.fit((x - means) / scales, np.array([r.y for r in train]))
    model = LogisticModel(
        features=tuple(features),
        means=tuple(float(v) for v in means),
        scales=tuple(float(v) for v in scales),
        coefs=tuple(float(v) for v in clf.coef_[0]),
        intercept=float(clf.intercept_[0]),
    )
    metrics = _metrics(model, test, len(train)) if test else {"rows": len(train), "train_rows": len(train)}
    return LogisticModel(model.features, model.means, model.scales, model.coefs, model.intercept, metrics)


def targeted_uplift(model: UpliftModel, rows: Sequence[Example], share: float) -> dict[str, Any]:
    """Measured (not predicted) uplift on `rows`: treated minus holdout conversion rate among everyone, and among the
    top `share` by predicted uplift. A targeting that works shows a larger uplift in the top share."""

    def rate(group: Sequence[Example], treated: bool) -> float | None:
        picked = [r.y for r in group if r.treated is treated]
        return sum(picked) / len(picked) if picked else None

    def uplift_of(group: Sequence[Example]) -> float | None:
        t, c = rate(group, True), rate(group, False)
        return None if t is None or c is None else round(t - c, 4)

    ranked = sorted(rows, key=lambda r: model.uplift(r.x), reverse=True)
    top = ranked[: max(1, round(len(ranked) * share))] if ranked else []
    return {
        "share": share,
        "rows": len(rows),
        "uplift_all": uplift_of(rows),
        "uplift_top": uplift_of(top),
        "uplift_rest": uplift_of(ranked[len(top) :]),
    }


def fit_uplift(
    rows: Sequence[Example], features: Sequence[str] = FEATURES, *, share: float = 0.3, seed: int = 0
) -> UpliftModel:
    """A T-learner: one logistic model on the treated runs, one on the holdout runs; uplift ranks the difference.
    The measured uplift of the top `share` vs everyone on held-out runs is stored in `metrics`."""
    train, test = split(rows, seed=seed + 1)
    treated = [r for r in train if r.treated]
    control = [r for r in train if not r.treated]
    treated_model = fit_logistic(treated, features, seed=seed)
    control_model = fit_logistic(control, features, seed=seed)
    model = UpliftModel(treated=treated_model, control=control_model, cuts=())
    uplifts = sorted(model.uplift(r.x) for r in train)
    cuts = tuple(uplifts[min(len(uplifts) - 1, int(q / 100 * len(uplifts)))] for q in range(1, 100)) if uplifts else ()
    metrics = {"treated_rows": len(treated), "control_rows": len(control), **targeted_uplift(model, test, share)}
    return UpliftModel(treated=treated_model, control=control_model, cuts=cuts, metrics=metrics)
