"""The fitting job on the buyer population: fits and stores sound models, keeps the previous ones otherwise."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from chalicelib.predictions.models import FittedModels
from chalicelib.predictions.training import TrainingService, history_of
from chalicelib.shared.clock import FakeClock
from tests.fakes.predictions import InMemoryModelStore

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
DAY = 86400.0


@dataclass(frozen=True)
class Buyer:
    first_order_ts: float | None
    last_order_ts: float
    orders: int
    revenue: float


class Population:
    def __init__(self, buyers: list[Buyer]) -> None:
        self.buyers = buyers

    def customers(self):
        return iter(self.buyers)


def simulate(n: int, seed: int = 1, r: float = 0.5, alpha: float = 20.0, a: float = 1.5, b: float = 6.0) -> list[Buyer]:
    """Buyers drawn from a BG/NBD process (rates per day), first orders spread over the last 400 days."""
    rng = random.Random(seed)
    now_ts = NOW.timestamp()
    buyers = []
    for _ in range(n):
        rate = rng.gammavariate(r, 1 / alpha)
        dropout = rng.betavariate(a, b)
        first = now_ts - rng.uniform(30, 400) * DAY
        t, last, orders = first, first, 1
        while True:
            if rng.random() < dropout:
                break
            t += rng.expovariate(rate) * DAY if rate > 0 else now_ts
            if t > now_ts:
                break
            last, orders = t, orders + 1
        buyers.append(Buyer(first, last, orders, revenue=orders * rng.uniform(20, 60)))
    return buyers


def service(buyers: list[Buyer], store: InMemoryModelStore, **kwargs) -> TrainingService:
    return TrainingService(Population(buyers), store, FakeClock(NOW), **kwargs)


def test_a_population_drawn_from_bgnbd_is_fitted_near_its_true_parameters_and_stored() -> None:
    store = InMemoryModelStore()
    report = service(simulate(4000), store).run()
    assert report.outcome == "fitted" and report.customers == 4000
    models = store.current()
    assert models is not None and models.fitted_at == "2026-12-07T03:00:00Z"
    # the mean purchase rate r/alpha and the mean drop-out a/(a+b) are what the data pins down best
    assert models.bgnbd.r / models.bgnbd.alpha == pytest.approx(0.5 / 20.0, rel=0.25)
    assert models.bgnbd.a / (models.bgnbd.a + models.bgnbd.b) == pytest.approx(1.5 / 7.5, rel=0.35)
    assert store.runs()[0].diagnostics["bgnbd"]["converged"] is True


def test_too_few_buyers_keeps_the_previous_models_and_says_why() -> None:
    store = InMemoryModelStore()
    service(simulate(4000), store).run()
    previous = store.current()
    report = service(simulate(30, seed=2), store).run()
    assert report.outcome == "insufficient_data" and "previous models kept" in report.reason
    assert store.current() is previous and len(store.runs()) == 2


def test_a_fit_that_does_not_converge_is_recorded_and_the_previous_models_kept(monkeypatch) -> None:
    from chalicelib.predictions import fit

    store = InMemoryModelStore()
    service(simulate(2000), store).run()
    previous = store.current()
    real = fit.fit_bgnbd

    def not_converged(histories):
        params, report = real(histories)
        return params, type(report)(**{**vars(report), "converged": False, "message": "ABNORMAL"})

    monkeypatch.setattr(fit, "fit_bgnbd", not_converged)
    report = service(simulate(2000, seed=3), store).run()
    assert report.outcome == "not_converged" and "ABNORMAL" in report.reason
    assert store.current() is previous
    assert sorted(r.outcome for r in store.runs()) == ["fitted", "not_converged"]


def test_population_rows_become_day_based_summaries_and_odd_rows_are_left_out() -> None:
    now_ts = NOW.timestamp()
    history = history_of(Buyer(now_ts - 100 * DAY, now_ts - 40 * DAY, 4, 200.0), now_ts)
    assert history is not None
    assert (history.x, history.t_x, history.T, history.mean_order_value) == (3, 60.0, 100.0, 50.0)
    assert history_of(Buyer(None, now_ts, 2, 10.0), now_ts) is None  # written before first_order_ts was kept
    assert history_of(Buyer(now_ts, now_ts - DAY, 2, 10.0), now_ts) is None  # last before first


def test_stored_models_round_trip_as_json() -> None:
    store = InMemoryModelStore()
    service(simulate(1500), store).run()
    models = store.current()
    assert models is not None and FittedModels.from_dict(models.as_dict()) == models


class Summaries:
    """The event archive's customer summary (the ONE2ONE_CUSTOMER_HISTORY=archive or athena source)."""

    def __init__(self, buyers: list[Buyer]) -> None:
        from chalicelib.predictions.ports import CustomerSummary

        now_ts = NOW.timestamp()
        self.rows = [
            CustomerSummary(
                customer_id=f"p{n}",
                frequency=b.orders - 1,
                recency=round((b.last_order_ts - (b.first_order_ts or 0)) / DAY, 4),
                T=round((now_ts - (b.first_order_ts or 0)) / DAY, 4),
                monetary_value=round(b.revenue / b.orders, 2) if b.orders > 1 else 0.0,
            )
            for n, b in enumerate(buyers)
        ]
        self.asked: list[datetime] = []

    def summaries(self, end: datetime):
        self.asked.append(end)
        return iter(self.rows)


def test_the_fit_reads_the_archive_summary_when_configured_and_not_the_population() -> None:
    buyers = simulate(600, seed=3)
    store = InMemoryModelStore()
    summaries = Summaries(buyers)

    report = TrainingService(Population([]), store, FakeClock(NOW), summaries=summaries).run()

    assert summaries.asked == [NOW]  # the observation ends now
    assert report.outcome == "fitted" and report.customers == 600
    from_population = service(buyers, InMemoryModelStore()).run()
    assert report.repeat_customers == from_population.repeat_customers
    assert store.current() is not None
