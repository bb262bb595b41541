"""Stream handlers report the records a use case deferred through powertools' BatchProcessor."""

from __future__ import annotations

from typing import Any

from chalicelib.handlers.stream_batch import records_of, report_deferred


def stream_event(*sequences: str) -> dict[str, Any]:
    # As moto's stream records: no eventSourceARN.
    return {
        "Records": [
            {"eventID": s, "eventName": "MODIFY", "dynamodb": {"SequenceNumber": s, "Keys": {}}} for s in sequences
        ]
    }


def test_deferred_records_are_reported_in_stream_order() -> None:
    event = stream_event("100", "200", "300")
    assert report_deferred(event, {"300", "200"}) == {
        "batchItemFailures": [{"itemIdentifier": "200"}, {"itemIdentifier": "300"}]
    }


def test_a_batch_with_nothing_deferred_reports_no_failure() -> None:
    assert report_deferred(stream_event("100", "200"), set()) == {"batchItemFailures": []}


def test_every_record_deferred_is_a_partial_response_not_an_exception() -> None:
    assert report_deferred(stream_event("1", "2"), {"1", "2"}) == {
        "batchItemFailures": [{"itemIdentifier": "1"}, {"itemIdentifier": "2"}]
    }


def test_an_event_without_records_reports_no_failure() -> None:
    assert records_of({}) == []
    assert report_deferred({"Records": []}, set()) == {"batchItemFailures": []}
