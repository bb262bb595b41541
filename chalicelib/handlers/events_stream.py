"""Events-table stream handler: folds newly stored events into profiles (identity links, traits, scores, segments)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from chalice import Blueprint
from chalice.app import DynamoDBEvent

from chalicelib.shared.streams import stream_arn

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

bp = Blueprint(__name__)
log = logging.getLogger("one2one")


class RetryRecord(Exception):
    """The fold could not finish this record's profile now (a lost write race, throttling): Lambda delivers it again."""


_processor: BatchProcessor | None = None


def _batch_processor() -> BatchProcessor:
    """One processor per container, built at the first batch (powertools' batch module is imported only here)."""
    global _processor
    if _processor is None:
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

        # A batch that failed entirely is still a partial response: every record is reported and retried.
        _processor = BatchProcessor(EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    return _processor


def _count_daily(records: list[Any], retry: frozenset[str], newly_active: dict[str, int], now: Any) -> None:
    """The console's daily series: ONE conditional transaction per batch (`engagement/daily.py`: why it is exact).

    A failure here is logged and dropped: the profiles are written, and failing the batch would fold nothing new
    while re-delivering every record; the series is a view, the profiles are the product."""
    from chalicelib.bootstrap import get_daily_store
    from chalicelib.engagement.daily import batch_increments, day_of

    try:
        store, day = get_daily_store(), day_of(now)
        counted_to = store.add_batch(batch_increments(records, retry, newly_active, day), now)
        if counted_to is not None:  # a re-delivery: count only what lies past the last counted record
            store.add_batch(batch_increments(records, retry, newly_active, day, after=counted_to), now)
    except Exception:  # noqa: BLE001 - see the docstring: never fail a folded batch over its statistics
        log.exception("daily counters of a batch not written")


def _archive(
    records: list[dict[str, Any]], dropped: frozenset[str], covered: frozenset[tuple[str, str]] = frozenset()
) -> None:
    """Append the batch's new events to the S3 archive, after the fold. Off the fold's critical path on purpose: a
    failed PUT is logged and counted (`ArchiveWriteFailed`, alarm on it) but never retries the batch, because the fold
    has already committed and profiles matter more than the archive. The batch's event keys and sequence range are
    recorded instead, and the refill (tracking/archive_maintenance.py: the daily compaction, or
    `POST /admin/archive/refills`) writes its objects from the events table while their TTL keeps them."""
    from chalicelib.bootstrap import get_archive_maintenance, get_archive_service
    from chalicelib.shared.observability import count

    log = logging.getLogger("one2one")
    try:
        archived = get_archive_service().archive_batch(records, skip=dropped, covered=covered)
    except Exception:  # noqa: BLE001 - any failure of the archive must leave the fold's response alone
        log.exception("archive write failed for a batch of %d records", len(records))
        count("ArchiveWriteFailed", 1)
        try:
            get_archive_maintenance().record_failed(records, skip=dropped)
        except Exception:  # noqa: BLE001 - the StateTable too: the metric's alarm and the log are what is left
            log.exception("archive: the failed batch could not be recorded for its refill")
            count("ArchiveRefillNotRecorded", 1)
        return
    count("EventsArchived", archived.events)


@bp.on_dynamodb_record(
    stream_arn=stream_arn("EventsTable", "EVENTS_STREAM_ARN"),
    batch_size=500,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=1,
    name="fold_events",
)
def fold_events(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_fold_service
    from chalicelib.shared.clock import get_clock
    from chalicelib.shared.observability import count
    from chalicelib.shared.runtime import tune_gc_for_batches

    service = get_fold_service()
    _ = service.config  # loaded (and validated) before the start-up heap is frozen
    tune_gc_for_batches()
    raw = event.to_dict()
    records = raw.get("Records") or []
    # The fold takes the whole batch at once (it groups events by profile, so each profile is read and written once)
    # and names the records to retry; powertools then turns those into the partial-failure response.
    outcome = service.fold_batch(records)
    count("EventsScored", outcome.stats.folded_events)
    _count_daily(records, outcome.retry, outcome.stats.newly_active, get_clock().now())
    _archive(records, outcome.dropped, outcome.covered)

    def record_handler(record: DynamoDBRecord) -> None:
        sequence_number = record.dynamodb.sequence_number if record.dynamodb else None
        if sequence_number in outcome.retry:
            raise RetryRecord(sequence_number)

    processor = _batch_processor()
    # The context-manager form of `process_partial_response`, which refuses an event without records; Lambda never
    # sends one, but a hand-made (test or replayed) empty event still gets an empty response.
    with processor(records, record_handler):
        processor.process()
    return dict(processor.response())
