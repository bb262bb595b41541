"""The fitted CLV models as stored: both parameter sets, when they were fitted, and their fit diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.predictions.clv import BgNbdParams, GammaGammaParams

__all__ = ["FittedModels", "TrainingReport"]

TIME_UNIT = "days"


@dataclass(frozen=True)
class FittedModels:
    """What the fold evaluates: BG/NBD (required) and Gamma-Gamma (None when too few repeat buyers to fit it, then
    the customer's own mean order value stands in), fitted at `fitted_at` on `customers` buyers, in days."""

    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams | None
    fitted_at: str
    customers: int
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bgnbd": vars(self.bgnbd),
            "gamma_gamma": vars(self.gamma_gamma) if self.gamma_gamma else None,
            "fitted_at": self.fitted_at,
            "customers": self.customers,
            "time_unit": TIME_UNIT,
            "diagnostics": self.diagnostics,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FittedModels:
        gamma_gamma = data.get("gamma_gamma")
        return cls(
            bgnbd=BgNbdParams(**{k: float(v) for k, v in data["bgnbd"].items()}),
            gamma_gamma=GammaGammaParams(**{k: float(v) for k, v in gamma_gamma.items()}) if gamma_gamma else None,
            fitted_at=str(data["fitted_at"]),
            customers=int(data["customers"]),
            diagnostics=dict(data.get("diagnostics") or {}),
        )


@dataclass
class TrainingReport:
    """One run of the fitting job. `outcome`: `fitted` (stored), `insufficient_data` or `not_converged` (the
    previous models are kept and `reason` says why)."""

    outcome: str
    at: str
    customers: int = 0
    repeat_customers: int = 0
    sampled: int = 0
    reason: str = ""
    diagnostics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))
