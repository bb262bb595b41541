"""The events-stream handler: the fold names the records to retry, powertools' BatchProcessor reports them."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.profiles.fold_batches import FoldOutcome, FoldStats
from tests.factories import stream_record, tracked_event


class StubFold:
    config: Any = object()

    def __init__(self, retry: set[str]) -> None:
        self.retry = frozenset(retry)
        self.seen: list[Any] = []

    def fold_batch(self, records: Any) -> FoldOutcome:
        self.seen.append(records)
        return FoldOutcome(self.retry, FoldStats(records=len(records)))


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Any:
    from chalice import Chalice

    from chalicelib.handlers import events_stream

    app = Chalice(app_name="handler-test")
    app.register_blueprint(events_stream.bp)
    monkeypatch.setattr("chalicelib.shared.observability.count", lambda *a, **k: None)
    return app.handler_map["fold_events"]


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
