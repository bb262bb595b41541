"""In-memory ModelStore (same contract as the StateTable adapter)."""

from __future__ import annotations

from chalicelib.predictions.models import FittedModels, TrainingReport
from chalicelib.predictions.propensity import PropensityModels


class InMemoryModelStore:
    def __init__(self) -> None:
        self.models: FittedModels | None = None
        self.reports: list[TrainingReport] = []

    def current(self) -> FittedModels | None:
        return self.models

    def save(self, models: FittedModels) -> None:
        self.models = models

    def record_run(self, report: TrainingReport) -> None:
        self.reports.append(report)

    def runs(self, limit: int = 20) -> list[TrainingReport]:
        return sorted(reversed(self.reports), key=lambda r: r.at, reverse=True)[:limit]  # stable: newest first


class InMemoryPropensityStore:
    def __init__(self, models: PropensityModels | None = None) -> None:
        self.models = models
        self.reports: list[TrainingReport] = []

    def current(self) -> PropensityModels | None:
        return self.models

    def save(self, models: PropensityModels) -> None:
        self.models = models

    def record_run(self, report: TrainingReport) -> None:
        self.reports.append(report)
