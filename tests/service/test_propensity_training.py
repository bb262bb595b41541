"""The propensity job: learns from stored profiles, messages and runs; keeps previous models on too little data."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

from chalicelib.predictions.propensity import LogisticModel, PropensityModels
from chalicelib.predictions.propensity_training import PropensityTrainingService
from chalicelib.profiles.fold import fold
from chalicelib.profiles.model import Profile
from chalicelib.shared.clock import FakeClock
from chalicelib.tracking.events import iso
from tests.fakes.predictions import InMemoryPropensityStore
from tests.unit.profiles.support import NOW, at, config, make_event, page


class Source:
    def __init__(self, profiles: list[Profile], messages=None, runs=None) -> None:
        self._profiles = profiles
        self._messages: dict[str, list[Mapping[str, Any]]] = messages or {}
        self._runs: dict[str, list[Mapping[str, Any]]] = runs or {}

    def profiles(self) -> Iterator[Profile]:
        return iter(self._profiles)

    def messages(self, profile_id: str) -> list[Mapping[str, Any]]:
        return self._messages.get(profile_id, [])

    def runs(self, profile_id: str) -> list[Mapping[str, Any]]:
        return self._runs.get(profile_id, [])


def shop(n: int, seed: int = 2) -> tuple[list[Profile], dict[str, list[Mapping[str, Any]]]]:
    """People first seen 60-120 days ago; those who visited often 31-50 days ago tend to order in the last 30 days,
    and those with an email sent 20 days ago who were engaged open it."""
    rng = random.Random(seed)
    profiles, messages = [], {}
    for i in range(n):
        pid = f"p{i}"
        engaged = rng.random() < 0.4
        events = [page(at(rng.uniform(60, 120)), anonymous_id=pid, message_id=f"{pid}-first")]
        for k in range(rng.randint(3, 8) if engaged else rng.randint(0, 1)):
            events.append(page(at(rng.uniform(31, 50)), anonymous_id=pid, message_id=f"{pid}-v{k}"))
        if rng.random() < (0.6 if engaged else 0.1):
            when = at(rng.uniform(1, 29))
            events.append(
                make_event(
                    event="Order Completed",
                    when=when,
                    anonymous_id=pid,
                    message_id=f"{pid}-o",
                    properties={"revenue": 30.0, "order_id": f"{pid}-o"},
                )
            )
        if rng.random() < (0.7 if engaged else 0.1):
            events.append(make_event(event="Email Opened", when=at(19.9), anonymous_id=pid, message_id=f"{pid}-open"))
        profiles.append(fold(None, pid, events, config(), NOW).profile)
        messages[pid] = [{"channel": "email", "status": "sent", "sent_at": iso(at(20)), "message_id": f"m{i}"}]
    return profiles, messages


def test_enough_history_fits_purchase_and_email_response_models_with_held_out_metrics() -> None:
    # GIVEN 600 stored profiles with a learnable relation between past visits and later orders / opens
    profiles, messages = shop(600)
    store = InMemoryPropensityStore()

    # WHEN the job runs
    report = PropensityTrainingService(Source(profiles, messages), store, FakeClock(NOW)).run()

    # THEN the purchase and email response models are stored with their AUC and Brier score
    assert report.outcome == "fitted"
    assert store.models is not None and store.models.purchase_30d is not None
    assert store.models.purchase_30d.metrics["auc"] > 0.7
    assert store.models.response["email"].metrics["auc"] > 0.7
    assert report.diagnostics["purchase_30d"]["brier"] is not None
    # churn needs customers before the cut-off: there are none here, so it is not fitted and says why
    assert store.models.churn is None and "churn_risk" in report.diagnostics["kept_previous"]
    assert store.reports == [report]


def test_too_little_data_keeps_the_previous_models_and_records_why() -> None:
    # GIVEN models from an earlier run and only 40 profiles now
    previous_model = LogisticModel(("log_orders",), (0.0,), (1.0,), (1.0,), -1.0)
    previous = PropensityModels(fitted_at="2026-11-16T03:00:00Z", purchase_30d=previous_model)
    store = InMemoryPropensityStore(previous)
    profiles, messages = shop(40)

    # WHEN the job runs
    report = PropensityTrainingService(Source(profiles, messages), store, FakeClock(NOW)).run()

    # THEN nothing is replaced, and the run says which models lacked data
    assert report.outcome == "insufficient_data"
    assert store.models is previous
    assert "purchase_30d" in report.diagnostics["kept_previous"]
    assert store.reports == [report]


def test_a_refit_of_one_model_carries_the_others_over_with_their_own_dates() -> None:
    email_model = LogisticModel(("log_orders",), (0.0,), (1.0,), (1.0,), -1.0)
    previous = PropensityModels(
        fitted_at="2026-11-16T03:00:00Z", response={"sms": email_model}, fitted={"response.sms": "2026-11-16T03:00:00Z"}
    )
    store = InMemoryPropensityStore(previous)
    profiles, messages = shop(600)
    PropensityTrainingService(Source(profiles, messages), store, FakeClock(NOW)).run()
    assert store.models is not None
    assert store.models.response["sms"] is email_model
    assert store.models.fitted["response.sms"] == "2026-11-16T03:00:00Z"
    assert store.models.fitted["purchase_30d"] == store.models.fitted_at
