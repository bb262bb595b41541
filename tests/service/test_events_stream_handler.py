"""The events-stream handler: the fold names the records to retry, powertools' BatchProcessor reports them."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.profiles.fold_batches import FoldOutcome, FoldStats
from tests.factories import stream_record, tracked_event
from tests.fakes.engagement import FakeDailyStore


class StubFold:
    config: Any = object()

    def __init__(self, retry: set[str]) -> None:
        self.retry = frozenset(retry)
        self.seen: list[Any] = []

    def fold_batch(self, records: Any) -> FoldOutcome:
        self.seen.append(records)
        return FoldOutcome(self.retry, FoldStats(records=len(records), newly_active=dict(self.active)))

    active: dict[str, int] = {}


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Any:
    from chalice import Chalice

    from chalicelib.handlers import events_stream

    app = Chalice(app_name="handler-test")
    app.register_blueprint(events_stream.bp)
    monkeypatch.setattr("chalicelib.shared.observability.count", lambda *a, **k: None)
    monkeypatch.setattr("chalicelib.bootstrap.get_daily_store", lambda: daily)
    return app.handler_map["fold_events"]


daily = FakeDailyStore()


@pytest.fixture(autouse=True)
def _fresh_daily_store() -> None:
    daily.markers.clear()
    daily.counters.clear()


def batch(n: int) -> dict[str, Any]:
    # Built as moto's stream records are: no `eventSourceARN`.
    return {"Records": [stream_record(tracked_event(i), 100 + i) for i in range(n)]}


def test_the_records_the_fold_names_are_reported_for_a_retry(handler: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fold = StubFold({"101", "103"})
    monkeypatch.setattr("chalicelib.bootstrap.get_fold_service", lambda: fold)
    response = handler(batch(4), None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "101"}, {"itemIdentifier": "103"}]}
    assert len(fold.seen) == 1 and len(fold.seen[0]) == 4  # the whole batch is folded at once


def test_a_batch_that_failed_entirely_is_still_a_partial_response(
    handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chalicelib.bootstrap.get_fold_service", lambda: StubFold({"100", "101"}))
    assert handler(batch(2), None) == {"batchItemFailures": [{"itemIdentifier": "100"}, {"itemIdentifier": "101"}]}


def test_a_clean_batch_and_an_empty_one_report_nothing(handler: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chalicelib.bootstrap.get_fold_service", lambda: StubFold(set()))
    assert handler(batch(3), None) == {"batchItemFailures": []}
    assert handler({"Records": []}, None) == {"batchItemFailures": []}


def test_a_batch_writes_its_daily_counts_once_only_the_prefix_before_a_retry(
    handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.shared.clock import get_clock

    fold = StubFold({"102"})
    fold.active = {"2026-03-02": 2}
    monkeypatch.setattr("chalicelib.bootstrap.get_fold_service", lambda: fold)
    day = get_clock().now().strftime("%Y-%m-%d")
    handler(batch(4), None)
    # records 100 and 101 are checkpointed; 102 and 103 come again
    assert daily.counters[(day, "events")]["total"] == 2
    assert daily.counters[("2026-03-02", "active")] == {"profiles": 2}
    fold.active = {}
    handler(batch(4), None)  # the very same delivery again: nothing more
    assert daily.counters[(day, "events")]["total"] == 2
    redelivery = {"Records": batch(4)["Records"][2:]}
    fold.retry = frozenset()
    handler(redelivery, None)
    assert daily.counters[(day, "events")]["total"] == 4


def test_a_failing_daily_write_never_fails_the_folded_batch(handler: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("throttled")

    monkeypatch.setattr(daily, "add_batch", broken)
    monkeypatch.setattr("chalicelib.bootstrap.get_fold_service", lambda: StubFold(set()))
    assert handler(batch(2), None) == {"batchItemFailures": []}
