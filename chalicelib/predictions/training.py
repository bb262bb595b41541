"""The fitting job: BG/NBD and Gamma-Gamma refitted on the buyer population, stored only when the fit is sound.

Runs on a schedule (weekly is plenty: the parameters describe the population, not a person) in its own function
with scipy in a layer, so no other function carries scipy. Too few buyers, or a fit that does not converge, keeps
the previous models (and, before the first fit, the budget guard falls back to historical value); every run is
recorded with its diagnostics either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from chalicelib.predictions.clv import CustomerHistory, history_of
from chalicelib.predictions.models import FittedModels, TrainingReport
from chalicelib.predictions.ports import BuyerFigures, BuyerPopulation, CustomerSummarySource, ModelStore
from chalicelib.shared.clock import Clock

__all__ = ["TrainingService", "history_of"]  # history_of: re-exported for callers of the job

log = logging.getLogger("one2one")

MIN_CUSTOMERS = 100  # BG/NBD's four parameters need a population, not a handful of buyers
MIN_REPEAT_CUSTOMERS = 20  # ...and enough of them coming back to say anything about drop-out and spend
DEFAULT_SAMPLE = 200_000


class TrainingService:
    def __init__(
        self,
        population: BuyerPopulation,
        store: ModelStore,
        clock: Clock,
        *,
        min_customers: int = MIN_CUSTOMERS,
        min_repeat_customers: int = MIN_REPEAT_CUSTOMERS,
        sample: int = DEFAULT_SAMPLE,
        summaries: CustomerSummarySource | None = None,
    ) -> None:
        self.population = population
        # The event archive's order history, when configured (ONE2ONE_CUSTOMER_HISTORY): each order's own value
        # and time, kept beyond the events table's TTL; else the population rows the fold keeps.
        self.summaries = summaries
        self.store = store
        self.clock = clock
        self.min_customers = min_customers
        self.min_repeat_customers = min_repeat_customers
        self.sample = sample

    def _histories(self, rows: Iterable[BuyerFigures], now_ts: float) -> list[CustomerHistory]:
        return [h for row in rows if (h := history_of(row, now_ts)) is not None]

    def run(self) -> TrainingReport:
        from chalicelib.predictions.fit import fit_bgnbd, fit_gamma_gamma, sample_population  # scipy: this job only

        started = time.monotonic()
        now = self.clock.now()
        at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.summaries is not None:
            histories = [
                CustomerHistory(s.frequency, s.recency, s.T, s.monetary_value)
                for s in self.summaries.summaries(now)
                if s.frequency >= 0 and 0 <= s.recency <= s.T
            ]
        else:
            histories = self._histories(self.population.customers(), now.timestamp())
        repeaters = sum(1 for h in histories if h.x > 0)
        report = TrainingReport(
            outcome="insufficient_data", at=at, customers=len(histories), repeat_customers=repeaters
        )
        if len(histories) < self.min_customers or repeaters < self.min_repeat_customers:
            report.reason = (
                f"{len(histories)} buyers ({repeaters} repeat) < the {self.min_customers} ({self.min_repeat_customers} "
                "repeat) a fit needs; previous models kept"
            )
        else:
            sample = sample_population(histories, self.sample, seed=int(now.timestamp()) // 86400)
            report.sampled = len(sample)
            bgnbd, bgnbd_fit = fit_bgnbd(sample)
            report.diagnostics["bgnbd"] = bgnbd_fit.as_dict()
            gamma_gamma = None
            try:
                gamma_gamma, spend_fit = fit_gamma_gamma(sample)
                report.diagnostics["gamma_gamma"] = spend_fit.as_dict()
                if not spend_fit.converged or gamma_gamma.q <= 1:
                    gamma_gamma = None  # the customer's own mean order value stands in
            except ValueError as exc:
                report.diagnostics["gamma_gamma"] = {"error": str(exc)}
            if not bgnbd_fit.converged:
                report.outcome = "not_converged"
                report.reason = f"BG/NBD did not converge ({bgnbd_fit.message}); previous models kept"
            else:
                report.outcome = "fitted"
                self.store.save(
                    FittedModels(
                        bgnbd=bgnbd,
                        gamma_gamma=gamma_gamma,
                        fitted_at=at,
                        customers=len(sample),
                        diagnostics=report.diagnostics,
                    )
                )
        report.seconds = round(time.monotonic() - started, 3)
        self.store.record_run(report)
        log.info("predictions: %s", report.as_dict())
        return report
