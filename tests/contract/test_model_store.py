"""ModelStore contract: one suite, run against the in-memory fake and (subclassed) the StateTable adapter on moto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.predictions.clv import BgNbdParams, GammaGammaParams
from chalicelib.predictions.models import FittedModels, TrainingReport
from chalicelib.predictions.ports import ModelStore
from tests.fakes.predictions import InMemoryModelStore
from tests.integration.conftest import moto_env  # noqa: F401 - the moto fixture, for the adapter's subclass

MODELS = FittedModels(
    bgnbd=BgNbdParams(r=0.24, alpha=4.4, a=0.79, b=2.4),
    gamma_gamma=GammaGammaParams(p=6.25, q=3.74, v=15.44),
    fitted_at="2026-12-07T03:00:00Z",
    customers=2357,
    diagnostics={"bgnbd": {"log_likelihood": -9582.4}},
)


class ModelStoreContract:
    @pytest.fixture
    def store(self) -> Iterator[ModelStore]:
        raise NotImplementedError

    def test_nothing_is_current_before_the_first_fit(self, store: ModelStore) -> None:
        assert store.current() is None and store.runs() == []

    def test_saved_models_read_back_equal_and_replace_the_previous(self, store: ModelStore) -> None:
        store.save(FittedModels(BgNbdParams(1, 1, 2, 1), None, "2026-11-30T03:00:00Z", 150))
        store.save(MODELS)
        assert store.current() == MODELS

    def test_runs_are_kept_newest_first(self, store: ModelStore) -> None:
        store.record_run(TrainingReport(outcome="insufficient_data", at="2026-11-30T03:00:00Z", reason="few"))
        store.record_run(TrainingReport(outcome="fitted", at="2026-12-07T03:00:00Z", customers=2357))
        assert [r.outcome for r in store.runs()] == ["fitted", "insufficient_data"]
        assert store.runs(limit=1)[0].customers == 2357

    def test_two_runs_in_the_same_second_are_both_kept(self, store: ModelStore) -> None:
        store.record_run(TrainingReport(outcome="fitted", at="2026-12-07T03:00:00Z"))
        store.record_run(TrainingReport(outcome="not_converged", at="2026-12-07T03:00:00Z"))
        assert sorted(r.outcome for r in store.runs()) == ["fitted", "not_converged"]


class TestInMemoryModelStore(ModelStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[ModelStore]:
        yield InMemoryModelStore()


@pytest.mark.usefixtures("moto_env")
class TestDynamoModelStore(ModelStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[ModelStore]:
        from chalicelib.predictions.adapters.dynamodb_models import DynamoModelStore
        from chalicelib.shared.settings import get_settings

        yield DynamoModelStore(get_settings().state_table, cache_seconds=0)
