"""Partial batch failures of a stream whose use case decides for the whole batch, reported by powertools.

Some use cases must see a batch at once (one BatchGetItem for all its events; stop at the first transient failure so
a profile's records stay in order). They return the sequence numbers to retry; powertools' `BatchProcessor` turns
those into the Lambda response, so no use case builds `batchItemFailures` itself.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any


class RecordDeferred(Exception):
    """The use case asked for this record to be delivered again."""


def records_of(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stream records of a Lambda event ([] when it has none)."""
    return list(event.get("Records") or [])


def report_deferred(event: dict[str, Any], deferred: Collection[str]) -> dict[str, Any]:
    """The partial-batch response (`{"batchItemFailures": [...]}`) naming the records whose sequence number the use
    case returned, in stream order."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    def record_handler(record: DynamoDBRecord) -> None:
        sequence = record.dynamodb.sequence_number if record.dynamodb is not None else None
        if sequence in deferred:
            raise RecordDeferred(sequence)

    if not records_of(event):  # powertools rejects an event without records; Lambda never sends one
        return {"batchItemFailures": []}
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor))
