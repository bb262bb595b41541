"""Prediction ports: where the fitted models are kept, and the buyer population they are fitted on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from chalicelib.predictions.models import FittedModels, TrainingReport


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
