"""Prediction ports: where the fitted models are kept, and the buyer population they are fitted on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.predictions.models import FittedModels, TrainingReport
from chalicelib.predictions.propensity import PropensityModels

if TYPE_CHECKING:
    from chalicelib.profiles.model import Profile


class BuyerFigures(Protocol):
    """One buyer as the fitting job reads them (the segments wing's population row fits)."""

    @property
    def first_order_ts(self) -> float | None: ...
    @property
    def last_order_ts(self) -> float: ...
    @property
    def orders(self) -> int: ...
    @property
    def revenue(self) -> float: ...


class BuyerPopulation(Protocol):
    def customers(self) -> Iterator[BuyerFigures]: ...


@dataclass(frozen=True)
class CustomerSummary:
    """One buyer's order history as the CLV models read it, in days (the `customers` query of the event archive):
    repeat orders, first to last order, first order to the end of the observation, mean value of the repeat orders."""

    customer_id: str
    frequency: int
    recency: float
    T: float
    monetary_value: float


class CustomerSummarySource(Protocol):
    """Every buyer's summary computed from the event archive's orders up to `end` (Athena in AWS, the archive's
    objects read directly on the local stack and small installs)."""

    def summaries(self, end: datetime) -> Iterable[CustomerSummary]: ...


class ModelStore(Protocol):
    """The current fitted models and the log of fitting runs."""

    def current(self) -> FittedModels | None:
        """The models the fold evaluates, or None before the first successful fit."""
        ...

    def save(self, models: FittedModels) -> None:
        """Make `models` the current ones (a failed fit never calls this: the previous ones stay)."""
        ...

    def record_run(self, report: TrainingReport) -> None:
        """Keep the report of one fitting run, successful or not."""
        ...

    def runs(self, limit: int = 20) -> list[TrainingReport]:
        """The latest fitting runs, newest first."""
        ...


class PropensityStore(Protocol):
    """The current propensity and uplift models (StateTable, beside the CLV models) and the log of their runs."""

    def current(self) -> PropensityModels | None: ...

    def save(self, models: PropensityModels) -> None: ...

    def record_run(self, report: TrainingReport) -> None: ...


class TrainingSource(Protocol):
    """What the propensity job learns from: a sample of stored profiles and, per profile, its message records and
    scenario runs (as plain mappings: `channel`, `status`, `sent_at`; `scenario_id`, `holdout`, `entered_at`)."""

    def profiles(self) -> Iterator[Profile]: ...

    def messages(self, profile_id: str) -> list[Mapping[str, Any]]: ...

    def runs(self, profile_id: str) -> list[Mapping[str, Any]]: ...
