"""Predictions: customer lifetime value (BG/NBD + Gamma-Gamma) from fitted parameters, and the fitting itself.

`clv` holds the closed forms the fold evaluates (pure Python); `fit` the maximum-likelihood fitting with scipy, used
by the scheduled job and by `python -m chalicelib.predictions` (never imported by the fold: scipy is heavy).
"""

from chalicelib.predictions.clv import (
    BgNbdParams,
    CustomerHistory,
    GammaGammaParams,
    Prediction,
    expected_purchases,
    expected_spend,
    predict,
    probability_alive,
)

__all__ = [
    "BgNbdParams",
    "CustomerHistory",
    "GammaGammaParams",
    "Prediction",
    "expected_purchases",
    "expected_spend",
    "predict",
    "probability_alive",
]
